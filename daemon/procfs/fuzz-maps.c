// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: /proc/PID/maps and smaps text into the parsers of the
 * procfs backend. The text comes from the kernel, but the parsers must
 * survive anything (and a fuzzer is the cheap way to prove the field
 * validation). Checks the invariants the rest of the daemon relies on:
 * VMAs sorted, disjoint, page aligned, inside the requested range.
 *
 * Built for libFuzzer with -Dfuzzers=true (clang). In normal builds
 * main() below replays the files given on argv plus deterministic
 * mutations of each (byte flips, insertions, truncations).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "maps.h"
#include "pagemap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

#ifndef SHADOWPT_LIBFUZZER
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Bytes that matter to the grammar, so mutations hit the interesting paths. */
static uint8_t interesting_byte(void)
{
	static const char set[] = "0123456789abcdefABCDEF-: \nrwxsp[]()/\t\0";

	return (uint8_t)set[rng() % (sizeof(set) - 1)];
}

static void replay(const uint8_t *data, size_t size, unsigned mutations)
{
	uint8_t *buf = malloc(size + 64);

	if (!buf)
		abort();
	LLVMFuzzerTestOneInput(data, size);
	for (unsigned m = 0; m < mutations; m++) {
		size_t n = size;

		memcpy(buf, data, size);
		for (unsigned k = 1 + rng() % 4; k; k--) {
			size_t at = n ? rng() % n : 0;

			switch (rng() % 4) {
			case 0: /* replace */
				if (n)
					buf[at] = interesting_byte();
				break;
			case 1: /* insert */
				if (n < size + 64) {
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = interesting_byte();
					n++;
				}
				break;
			case 2: /* delete */
				if (n) {
					memmove(buf + at, buf + at + 1, n - at - 1);
					n--;
				}
				break;
			default: /* truncate */
				n = at;
				break;
			}
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	free(buf);
}

int main(int argc, char **argv)
{
	unsigned mutations = 2000;
	int files = 0;

	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *data;
		long size;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		fseek(f, 0, SEEK_END);
		size = ftell(f);
		fseek(f, 0, SEEK_SET);
		data = malloc((size_t)size + 1);
		if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
			fprintf(stderr, "%s: read failed\n", argv[i]);
			return 1;
		}
		fclose(f);
		replay(data, (size_t)size, mutations);
		free(data);
		files++;
	}
	printf("fuzz-maps: replayed %d files, %u mutations each\n", files, mutations);
	return 0;
}
#endif
