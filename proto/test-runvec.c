// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The chunked run container against a plain sorted array: random splices
 * (small and block-sized, inserts, erases, replacements), pushes, seeks,
 * distances, copies; the structural invariants (order, block fill,
 * counts) are checked after every step. Usage: test-runvec [steps [seed]].
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runvec.h"
#include "test-common.h"

#define PG 4096ull
#define MAXN 40000u

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

/* The model: runs of one page each at sorted, distinct page numbers. */
static uint64_t model[MAXN];
static size_t nmodel;

/* The run with page number vpn carries pfn vpn ^ 0x5a5a: checkable. */
static struct spt_run run_of(uint64_t vpn)
{
	return (struct spt_run){.vaddr = vpn * PG, .npages = 1, .pfn = vpn ^ 0x5a5a,
				.flags = (uint32_t)(vpn & 0xffff) | 1};
}

static struct spt_runpos pos_of(const struct spt_runvec *rv, size_t idx)
{
	return idx < nmodel ? spt_runvec_seek(rv, model[idx] * PG)
			    : (struct spt_runpos){rv->nblocks, 0};
}

static bool same_as_model(const struct spt_runvec *rv)
{
	struct spt_runpos p = spt_runvec_begin(rv);
	size_t k = 0;

	if (!spt_runvec_check(rv) || rv->nruns != nmodel || rv->npages != nmodel)
		return false;
	for (; !spt_runvec_is_end(rv, p); p = spt_runvec_next(rv, p), k++) {
		struct spt_run r;

		spt_runvec_get(rv, p, &r);
		if (k >= nmodel || r.vaddr != model[k] * PG || r.pfn != (model[k] ^ 0x5a5a) ||
		    r.npages != 1)
			return false;
	}
	return k == nmodel;
}

/* Picks up to want sorted distinct page numbers strictly between lo and hi. */
static size_t pick_keys(uint64_t lo, uint64_t hi, size_t want, uint64_t *out)
{
	size_t n = 0;

	if (hi - lo < 2)
		return 0;
	if (hi - lo - 1 < want)
		want = (size_t)(hi - lo - 1);
	/* Evenly spread with jitter: sorted and distinct by construction. */
	for (size_t i = 0; i < want; i++) {
		uint64_t span = (hi - lo - 1) / want, base = lo + 1 + i * span;

		out[n++] = base + below(span);
	}
	return n;
}

static void step(struct spt_runvec *rv)
{
	static uint64_t keys[4096];
	static struct spt_run src[4096];
	size_t from, to, k, want;
	uint64_t lo, hi;

	from = below(nmodel + 1);
	switch (below(4)) {
	case 0: /* small change */
		to = from + below(4);
		want = below(4);
		break;
	case 1: /* big erase */
		to = from + below(2000);
		want = below(2);
		break;
	case 2: /* big insert */
		to = from + below(2);
		want = below(nmodel > MAXN - 5000 ? 10 : 3000);
		break;
	default: /* replace a span by another */
		to = from + below(600);
		want = below(600);
	}
	if (to > nmodel)
		to = nmodel;
	lo = from ? model[from - 1] : 0;
	hi = to < nmodel ? model[to] : (1ull << 35);
	k = pick_keys(lo, hi, want, keys);
	for (size_t i = 0; i < k; i++)
		src[i] = run_of(keys[i]);
	if (spt_runvec_splice(rv, pos_of(rv, from), pos_of(rv, to), src, k))
		abort();
	memmove(&model[from + k], &model[to], (nmodel - to) * sizeof(*model));
	memcpy(&model[from], keys, k * sizeof(*keys));
	nmodel = nmodel - (to - from) + k;
}

static bool seeks_ok(const struct spt_runvec *rv)
{
	for (int t = 0; t < 50; t++) {
		uint64_t v = below(1ull << 35);
		size_t lo = 0, hi = nmodel;
		struct spt_runpos p = spt_runvec_seek(rv, v * PG), q;

		while (lo < hi) { /* the first key >= v */
			size_t mid = (lo + hi) / 2;

			if (model[mid] < v)
				lo = mid + 1;
			else
				hi = mid;
		}
		q = pos_of(rv, lo);
		if (p.b != q.b || p.i != q.i)
			return false;
		if (lo < nmodel && spt_runvec_distance(rv, p, pos_of(rv, nmodel), SIZE_MAX - 1) !=
					   nmodel - lo)
			return false;
		if (lo > 0) {
			struct spt_run r;

			spt_runvec_get(rv, spt_runvec_prev(rv, p), &r);
			if (r.vaddr != model[lo - 1] * PG)
				return false;
		}
	}
	return true;
}

int main(int argc, char **argv)
{
	unsigned steps = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 3000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);
	struct spt_runvec rv, copy;
	bool ok = true;
	size_t maxn = 0;

	printf("# seed %" PRIu64 "\n", seed);
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	spt_runvec_init(&rv);
	spt_runvec_init(&copy);
	/* Pushes fill blocks completely. */
	for (nmodel = 0; nmodel < 1000; nmodel++) {
		struct spt_run r = run_of(model[nmodel] = 1000 + nmodel * 1000000);

		if (spt_runvec_push(&rv, &r))
			abort();
	}
	CHECK(same_as_model(&rv) && rv.nblocks == (1000 + SPT_RUNVEC_BLOCK - 1) / SPT_RUNVEC_BLOCK,
	      "pushes fill whole blocks");
	for (unsigned s = 0; s < steps && ok; s++) {
		step(&rv);
		ok = same_as_model(&rv) && (s % 16 || seeks_ok(&rv));
		if (nmodel > maxn)
			maxn = nmodel;
		if (!ok)
			printf("# step %u failed (%zu runs, %zu blocks)\n", s, nmodel, rv.nblocks);
	}
	CHECK(ok, "%u random splices (up to %zu runs) match the array", steps, maxn);
	CHECK(spt_runvec_copy(&copy, &rv) == 0 && copy.nruns == rv.nruns, "copy");
	spt_runvec_free(&rv);
	rv = copy;
	CHECK(same_as_model(&rv), "the copy holds the same runs");
	CHECK(spt_runvec_splice(&rv, spt_runvec_begin(&rv), (struct spt_runpos){rv.nblocks, 0},
				NULL, 0) == 0 &&
		      rv.nruns == 0 && rv.nblocks == 0 && spt_runvec_check(&rv),
	      "erasing everything leaves no block");
	spt_runvec_free(&rv);
	return spt_test_done();
}
