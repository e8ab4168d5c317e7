// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: pfn tokens are stable, sequential, and 0 stays 0. */
#include <stdio.h>

#include "tokenmap.h"

static int failures;
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #c);      \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

int main(void)
{
	struct spt_tokenmap m;
	uint64_t i;

	tokenmap_init(&m);
	CHECK(tokenmap_get(&m, 0) == 0);
	CHECK(tokenmap_get(&m, 0x12345) == 1);
	CHECK(tokenmap_get(&m, 0x999) == 2);
	CHECK(tokenmap_get(&m, 0x12345) == 1);
	CHECK(tokenmap_map_fn(&m, 0x999) == 2);
	CHECK(tokenmap_get(&m, 0) == 0);
	/* Many pfns, across several growths: every token stays what it was. */
	for (i = 1; i <= 100000; i++)
		tokenmap_get(&m, i * 7 + 0x100000);
	CHECK(m.count == 100002);
	for (i = 1; i <= 100000; i++)
		if (tokenmap_get(&m, i * 7 + 0x100000) != i + 2) {
			CHECK(!"token changed");
			break;
		}
	CHECK(tokenmap_get(&m, 0x12345) == 1);
	CHECK(m.count == 100002);
	tokenmap_free(&m);
	CHECK(m.count == 0 && tokenmap_get(&m, 5) == 1);
	tokenmap_free(&m);
	return failures ? 1 : 0;
}
