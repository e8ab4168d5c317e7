// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The driver every fuzz target links in normal builds (with -Dfuzzers=true
 * libFuzzer provides main instead): replays the seed files given on argv
 * and a target's optional built-in seed, each followed by deterministic
 * mutations (replace, insert, delete, truncate), so CI runs every fuzz
 * target under ASan/UBSan on every change and a failure replays exactly.
 * A directory on argv is a libFuzzer corpus (tests/fuzz/corpus/NAME):
 * every file in it is replayed, in name order, with a few mutations.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz-replay.h"

#define MUTATIONS_PER_SEED 5000u
#define MUTATIONS_PER_CORPUS_FILE 20u /* a corpus has hundreds of files */
#define MAX_GROWTH 64u

/* Targets may provide these; the defaults are generic. */
__attribute__((weak)) int spt_fuzz_builtin_seed(uint8_t **data, size_t *len)
{
	(void)data;
	(void)len;
	return -1;
}

__attribute__((weak)) const char *spt_fuzz_alphabet(size_t *len)
{
	static const char generic[] = { 0x00, 0x01, 0x7f, (char)0x80, (char)0xff, '\n', ' ' };

	*len = sizeof(generic);
	return generic;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint8_t interesting_byte(void)
{
	size_t n;
	const char *set = spt_fuzz_alphabet(&n);

	return rng() % 4 ? (uint8_t)set[rng() % n] : (uint8_t)rng();
}

static void replay(const uint8_t *data, size_t size, unsigned mutations)
{
	uint8_t *buf = malloc(size + MAX_GROWTH);

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
				if (n < size + MAX_GROWTH) {
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

static int replay_file(const char *path, unsigned mutations)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long size;

	if (!f || fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		perror(path);
		return -1;
	}
	data = malloc((size_t)size + 1);
	if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
		fprintf(stderr, "%s: read failed\n", path);
		return -1;
	}
	fclose(f);
	replay(data, (size_t)size, mutations);
	free(data);
	return 0;
}

/* --write-seed FILE: the built-in seed as a file, for a libFuzzer corpus. */
static int write_seed(const char *path)
{
	uint8_t *seed;
	size_t len;
	FILE *f;

	if (spt_fuzz_builtin_seed(&seed, &len) != 0) {
		fprintf(stderr, "no built-in seed\n");
		return 1;
	}
	f = fopen(path, "wb");
	if (!f || fwrite(seed, 1, len, f) != len || fclose(f)) {
		perror(path);
		return 1;
	}
	free(seed);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Every regular file of a corpus directory; the count, or -1. */
static int replay_dir(const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, by_name), files = 0;

	if (n < 0) {
		perror(dir);
		return -1;
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, ents[i]->d_name);
		if (files >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
			files = replay_file(path, MUTATIONS_PER_CORPUS_FILE) ? -1 : files + 1;
		free(ents[i]);
	}
	free(ents);
	return files;
}

int main(int argc, char **argv)
{
	uint8_t *seed;
	size_t len;
	int seeds = 0;

	if (argc == 3 && strcmp(argv[1], "--write-seed") == 0)
		return write_seed(argv[2]);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int n;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			n = replay_dir(argv[i]);
		else
			n = replay_file(argv[i], MUTATIONS_PER_SEED) ? -1 : 1;
		if (n < 0)
			return 1;
		seeds += n;
	}
	if (spt_fuzz_builtin_seed(&seed, &len) == 0) {
		replay(seed, len, MUTATIONS_PER_SEED);
		free(seed);
		seeds++;
	}
	if (!seeds) {
		fprintf(stderr, "%s: no seed to replay\n", argv[0]);
		return 1;
	}
	printf("%s: %d seeds and corpus files replayed, with mutations\n", argv[0], seeds);
	return 0;
}
