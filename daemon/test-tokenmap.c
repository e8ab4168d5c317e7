// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: pfn tokens are stable, sequential, 0 stays 0, and pruning
 * keeps exactly the live frames' tokens. */
#include <stdio.h>

#include "state.h"
#include "tokenmap.h"
#include "test-common.h"

/* A live state of n pages mapping pfn base + 7 * i (and the zero page twice). */
static void live_state(struct spt_state *st, uint64_t n, uint64_t base)
{
	spt_state_clear(st);
	for (uint64_t i = 0; i < n; i++) {
		struct spt_page p = {.vaddr = 0x10000 + i * 4096, .pfn = base + 7 * i, .flags = 7};

		EXPECT(spt_state_append_page(st, &p) == 0);
	}
	for (uint64_t i = 0; i < 2; i++) {
		struct spt_page z = {.vaddr = 0x10000 + (n + i) * 4096, .pfn = 0x42, .flags = 7};

		EXPECT(spt_state_append_page(st, &z) == 0);
	}
}

static void test_prune(void)
{
	struct spt_tokenmap m;
	struct spt_state st;
	uint64_t i, zero, t, ok = 1;

	tokenmap_init(&m);
	spt_state_init(&st);
	zero = tokenmap_get(&m, 0x42);
	/* A small map is left alone, whatever the state. */
	live_state(&st, 0, 0);
	for (i = 0; i < 1000; i++)
		tokenmap_get(&m, 0x100000 + i);
	EXPECT(tokenmap_prune(&m, &st) == 0 && m.count == 1001);

	/* A target that went through 50k frames and maps 1000 of them now. */
	for (i = 0; i < 50000; i++)
		tokenmap_get(&m, 0x200000 + 7 * i);
	live_state(&st, 1000, 0x200000 + 7 * 20000);
	EXPECT(tokenmap_prune(&m, &st) == 51001 - 1001);
	EXPECT(m.count == 1001 && m.cap <= 4096);
	for (i = 0; i < 1000; i++)
		ok &= tokenmap_get(&m, 0x200000 + 7 * (20000 + i)) == 1002 + 20000 + i;
	EXPECT(ok);
	EXPECT(tokenmap_get(&m, 0x42) == zero);
	/* A dropped frame comes back as a new token, never an old one. */
	t = tokenmap_get(&m, 0x100000);
	EXPECT(t == 51002 && m.count == 1002);
	/* Pruning again right away does nothing. */
	EXPECT(tokenmap_prune(&m, &st) == 0);
	spt_state_free(&st);
	tokenmap_free(&m);
}


int main(void)
{
	struct spt_tokenmap m;
	uint64_t i;

	tokenmap_init(&m);
	EXPECT(tokenmap_get(&m, 0) == 0);
	EXPECT(tokenmap_get(&m, 0x12345) == 1);
	EXPECT(tokenmap_get(&m, 0x999) == 2);
	EXPECT(tokenmap_get(&m, 0x12345) == 1);
	EXPECT(tokenmap_map_fn(&m, 0x999) == 2);
	EXPECT(tokenmap_get(&m, 0) == 0);
	/* Many pfns, across several growths: every token stays what it was. */
	for (i = 1; i <= 100000; i++)
		tokenmap_get(&m, i * 7 + 0x100000);
	EXPECT(m.count == 100002);
	for (i = 1; i <= 100000; i++)
		if (tokenmap_get(&m, i * 7 + 0x100000) != i + 2) {
			EXPECT(!"token changed");
			break;
		}
	EXPECT(tokenmap_get(&m, 0x12345) == 1);
	EXPECT(m.count == 100002);
	tokenmap_free(&m);
	EXPECT(m.count == 0 && tokenmap_get(&m, 5) == 1);
	tokenmap_free(&m);
	test_prune();
	return spt_test_done();
}
