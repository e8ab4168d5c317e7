// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: /proc/PID/maps and smaps text into the parsers of the
 * procfs backend. The text comes from the kernel, but the parsers must
 * survive anything (and a fuzzer is the cheap way to prove the field
 * validation). Checks the invariants the rest of the daemon relies on:
 * VMAs sorted, disjoint, page aligned, inside the requested range.
 *
 * Built for libFuzzer with -Dfuzzers=true (clang). In normal builds the
 * shared driver (tests/fuzz/fuzz-replay.c) replays the seed files plus
 * deterministic mutations of each.
 */
#include <errno.h>
#include <stdlib.h>

#include "maps.h"
#include "pagemap.h"
#include "fuzz-replay.h"


static void check_state(const struct spt_state *st, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < st->nvmas; i++) {
		const struct spt_vma *v = &st->vmas[i];

		if (v->start >= v->end || v->start < start || v->end > end ||
		    (v->start | v->end) & (SPT_PAGE_SIZE - 1) ||
		    (i && st->vmas[i - 1].end > v->start) || !v->name ||
		    v->kind < SPT_VMA_ANON || v->kind > SPT_VMA_SPECIAL)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t ranges[][2] = {
		{ 0, UINT64_MAX },
		{ 0, SPT_USER_ADDR_MAX },
		{ 0x1000, 0x7f0000000000ull },
	};
	const char *text = (const char *)data;
	struct spt_pagemap pm;

	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		struct spt_state st;
		int ret;

		spt_state_init(&st);
		ret = spt_maps_parse(text, size, ranges[r][0], ranges[r][1], &st);
		if (ret != 0 && ret != -EINVAL && ret != -ENOMEM)
			abort();
		check_state(&st, ranges[r][0], ranges[r][1]);
		spt_state_free(&st);
	}
	spt_pagemap_init(&pm, SPT_PAGEMAP_FORCE_FALLBACK);
	(void)spt_pagemap_parse_smaps(&pm, text, size);
	spt_pagemap_free(&pm);
	return 0;
}

/* Bytes that matter to the maps grammar, for the replay driver's mutations. */
const char *spt_fuzz_alphabet(size_t *len)
{
	static const char set[] = "0123456789abcdefABCDEF-: \nrwxsp[]()/\t";

	*len = sizeof(set); /* with its NUL: a NUL byte is interesting too */
	return set;
}
