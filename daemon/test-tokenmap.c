// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: pfn tokens are stable, sequential, and 0 stays 0. */
#include <stdio.h>

#include "tokenmap.h"
#include "test-common.h"


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
	return spt_test_done();
}
