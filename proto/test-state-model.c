// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Randomized differential test of the run-length page-state model
 * against a naive model holding one entry per page (a dense array over
 * a small address window): appends (page by page, in arbitrary valid
 * run pieces, by range replacement), diff, apply, update_pages, equal,
 * caps. Runs come with random strides, THP-like 512-page runs, long
 * zero-page runs, frames from a tiny pool (so accidental merges and
 * greedy-merge cascades are frequent) and removals.
 *
 * Usage: test-state-model [iterations [seed]]; prints the seed so that a
 * failure can be replayed. A second part checks scale: a million runs,
 * single-page updates in O(log n), and a 1 TiB zero-page run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "state.h"
#include "test-common.h"

#define PG 4096ull
#define BASE 0x40000000ull /* 2 MiB aligned, so THP-like runs align */
#define U 3072u		   /* pages in the window */
#define ZERO_PFN 0x3b34ull

static uint64_t rng_state;

static uint64_t rnd(void)
{
	uint64_t x = rng_state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform in [0, n). */
static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned pct)
{
	return below(100) < pct;
}

/* The naive model: page i of the window is BASE + i * PG; flags 0 = no entry. */
struct naive {
	uint32_t flags[U];
	uint64_t pfn[U];
};

static uint64_t va(size_t i)
{
	return BASE + i * PG;
}

static const uint32_t flag_pool[] = {
	SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED,
	SPT_F_ALLOCATED | SPT_F_MAPPED,
	SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED | SPT_F_EXCLUSIVE,
	SPT_F_ALLOCATED | SPT_F_MAPPED | SPT_F_FILE,
};

static uint32_t some_flags(void)
{
	return flag_pool[below(sizeof(flag_pool) / sizeof(flag_pool[0]))];
}

/* Frames from a tiny pool most of the time: pages then often continue each other. */
static uint64_t some_pfn(void)
{
	return chance(70) ? 1 + below(12) : 1 + below(1ull << 40);
}

/* Fills [i, i + n) of m (clipped to the window). */
static void put(struct naive *m, size_t i, size_t n, uint32_t flags, uint64_t pfn, int stride)
{
	for (size_t k = 0; k < n && i + k < U; k++) {
		m->flags[i + k] = flags;
		m->pfn[i + k] = flags ? pfn + k * (uint64_t)stride : 0;
	}
}

/* One random segment at i; returns its length. */
static size_t gen_segment(struct naive *m, size_t i)
{
	size_t n;

	switch (below(8)) {
	case 0: /* a gap */
		n = 1 + below(40);
		put(m, i, n, 0, 0, 0);
		return n;
	case 1: /* zero-page run */
		n = 1 + below(300);
		put(m, i, n, SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED, ZERO_PFN, 0);
		return n;
	case 2: /* contiguous frames */
		n = 1 + below(80);
		put(m, i, n, some_flags(), some_pfn(), 1);
		return n;
	case 3: { /* THP-like: a 2 MiB aligned block of 512 contiguous frames */
		size_t a = (i + 511) / 512 * 512;

		put(m, i, a - i, 0, 0, 0);
		put(m, a, 512, SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED | SPT_F_THP,
		    (1 + below(1000)) * 512, 1);
		return a - i + 512;
	}
	case 4: /* swapped: no frame */
		n = 1 + below(20);
		put(m, i, n, SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_SWAPPED, 0, 0);
		return n;
	case 5: /* pairs p,p,p+1,p+1,...: greedy-merge cascades */
		n = 2 * (1 + below(20));
		for (size_t k = 0; k < n; k++)
			put(m, i + k, 1, flag_pool[0], 5 + k / 2, 0);
		return n;
	default: /* single pages from the tiny pool */
		n = 1 + below(30);
		for (size_t k = 0; k < n; k++)
			put(m, i + k, 1, chance(80) ? flag_pool[0] : flag_pool[1], 1 + below(4), 0);
		return n;
	}
}

static void gen(struct naive *m)
{
	for (size_t i = 0; i < U;)
		i += gen_segment(m, i);
}

/* A copy of a with a few local changes (what a sample usually looks like). */
static void mutate(struct naive *m, const struct naive *a)
{
	*m = *a;
	for (unsigned k = 1 + (unsigned)below(6); k--;) {
		size_t i = below(U);

		switch (below(4)) {
		case 0:
			put(m, i, 1 + below(50), 0, 0, 0);
			break;
		case 1:
			gen_segment(m, i);
			break;
		case 2: /* COW of one page */
			if (m->flags[i] & SPT_F_MAPPED)
				m->pfn[i] = some_pfn();
			break;
		default: /* flags change over a range, frames kept */
			for (size_t j = i; j < U && j < i + below(100); j++)
				if (m->flags[j])
					m->flags[j] ^= SPT_F_SOFT_DIRTY;
		}
	}
}

/* The canonical runs of m, greedy, written independently of spt_run_absorb. */
static size_t naive_runs(const struct naive *m, struct spt_run *out)
{
	size_t n = 0;

	for (size_t i = 0; i < U;) {
		struct spt_run r;

		if (!m->flags[i]) {
			i++;
			continue;
		}
		r = (struct spt_run){.vaddr = va(i), .npages = 1, .pfn = m->pfn[i],
				     .flags = m->flags[i]};
		i++;
		if (i < U && m->flags[i] == r.flags &&
		    (m->pfn[i] == r.pfn || m->pfn[i] == r.pfn + 1)) {
			r.stride = (uint8_t)(m->pfn[i] - r.pfn);
			for (; i < U && m->flags[i] == r.flags &&
			       m->pfn[i] == r.pfn + r.npages * r.stride;
			     i++)
				r.npages++;
		}
		out[n++] = r;
	}
	return n;
}

/* The page entries st holds inside the window, and nothing outside it. */
static bool matches(const struct spt_state *st, const struct naive *m)
{
	static struct spt_run want[U];
	size_t n = naive_runs(m, want), k = 0;
	struct spt_run_iter it;
	struct spt_run r;

	if (!spt_state_check(st)) {
		if (getenv("SPT_DEBUG"))
			printf("# check failed\n");
		return false;
	}
	spt_run_iter_all(&it, st);
	while (spt_run_iter_next(&it, &r)) {
		if (k >= n || !spt_run_same(&r, &want[k])) {
			if (getenv("SPT_DEBUG")) {
				printf("# run %zu: have %llx+%llu pfn %llu/%u flags %x", k,
				       (unsigned long long)(r.vaddr - BASE) / PG,
				       (unsigned long long)r.npages, (unsigned long long)r.pfn,
				       r.stride, r.flags);
				if (k < n)
					printf(" want %llx+%llu pfn %llu/%u flags %x",
					       (unsigned long long)(want[k].vaddr - BASE) / PG,
					       (unsigned long long)want[k].npages,
					       (unsigned long long)want[k].pfn, want[k].stride,
					       want[k].flags);
				printf("\n");
			}
			return false;
		}
		k++;
	}
	if (k != n && getenv("SPT_DEBUG"))
		printf("# %zu runs, want %zu\n", k, n);
	return k == n;
}

static void build_by_pages(struct spt_state *st, const struct naive *m)
{
	spt_state_clear(st);
	for (size_t i = 0; i < U; i++) {
		struct spt_page p = {.vaddr = va(i), .flags = m->flags[i], .pfn = m->pfn[i]};

		if (m->flags[i] && spt_state_append_page(st, &p))
			abort();
	}
}

/*
 * m as an arbitrary valid run decomposition (not the canonical one):
 * pieces end at random, and a piece's stride is free where both fit.
 */
static size_t random_pieces(const struct naive *m, size_t lo, size_t hi, struct spt_run *out)
{
	size_t n = 0;

	for (size_t i = lo; i < hi;) {
		struct spt_run r;
		size_t max = 1 + below(chance(50) ? 4 : 600);

		if (!m->flags[i]) {
			i++;
			continue;
		}
		r = (struct spt_run){.vaddr = va(i), .npages = 1, .pfn = m->pfn[i],
				     .flags = m->flags[i]};
		i++;
		if (i < hi && r.npages < max && m->flags[i] == r.flags && chance(90) &&
		    (m->pfn[i] == r.pfn || m->pfn[i] == r.pfn + 1)) {
			r.stride = (uint8_t)(m->pfn[i] - r.pfn);
			for (; i < hi && r.npages < max && m->flags[i] == r.flags &&
			       m->pfn[i] == r.pfn + r.npages * r.stride;
			     i++)
				r.npages++;
		}
		out[n++] = r;
	}
	return n;
}

static void build_by_pieces(struct spt_state *st, const struct naive *m)
{
	static struct spt_run p[U];
	size_t n = random_pieces(m, 0, U, p);

	spt_state_clear(st);
	for (size_t k = 0; k < n; k++)
		if (spt_state_append_run(st, &p[k]))
			abort();
}

/* Starting from whatever st holds, replace the window chunk by chunk. */
static bool build_by_replace(struct spt_state *st, const struct naive *m)
{
	static struct spt_run p[U];

	for (size_t lo = 0; lo < U;) {
		size_t hi = lo + 1 + below(chance(30) ? U : 200), n;

		if (hi > U)
			hi = U;
		n = random_pieces(m, lo, hi, p);
		if (spt_state_replace_range(st, va(lo), va(hi), p, n))
			return false;
		lo = hi;
	}
	return true;
}

/* Applies d to m the naive way; false if d is not sorted or overlaps. */
static bool naive_apply(struct naive *m, const struct spt_delta *d)
{
	uint64_t end = 0;

	for (size_t k = 0; k < d->nruns; k++) {
		const struct spt_run *r = &d->runs[k];

		if (r->vaddr < end || r->vaddr < BASE || spt_run_end(r) > va(U))
			return false;
		end = spt_run_end(r);
		put(m, (r->vaddr - BASE) / PG, r->npages, r->flags, r->pfn, r->stride);
	}
	return true;
}

/* The pages d covers are exactly those where a and b differ, and d is valid. */
static bool covers_exactly(const struct spt_delta *d, const struct naive *a, const struct naive *b,
			   uint8_t cause_of_page[U], bool check_cause)
{
	static bool in[U];
	uint64_t end = 0;

	memset(in, 0, sizeof(in));
	for (size_t k = 0; k < d->nruns; k++) {
		const struct spt_run *r = &d->runs[k];
		size_t i0 = (r->vaddr - BASE) / PG;

		if (!spt_run_valid(r) || r->vaddr < end || r->vaddr < BASE || spt_run_end(r) > va(U))
			return false;
		if (!r->flags && (r->pfn || r->stride))
			return false;
		end = spt_run_end(r);
		for (size_t i = i0; i < i0 + r->npages; i++) {
			in[i] = true;
			if (check_cause && cause_of_page[i] != r->cause)
				return false;
		}
	}
	for (size_t i = 0; i < U; i++) {
		bool differ = a->flags[i] != b->flags[i] || a->pfn[i] != b->pfn[i];

		if (differ != in[i])
			return false;
	}
	return true;
}

static struct naive na, nb, nc, nf;

static void one_round(unsigned round)
{
	struct spt_state a, b, c;
	struct spt_delta d;
	uint8_t cause_of[U];
	bool ok;
	int ret;

	spt_state_init(&a);
	spt_state_init(&b);
	spt_state_init(&c);
	spt_delta_init(&d);
	gen(&na);
	if (chance(70))
		mutate(&nb, &na);
	else
		gen(&nb);

	/* Three ways of building the same pages give the same canonical state. */
	build_by_pages(&a, &na);
	build_by_pieces(&b, &na);
	CHECK(matches(&a, &na) && spt_state_equal(&a, &b),
	      "round %u: pages and pieces build the same canonical state", round);
	build_by_pages(&c, &nb); /* something else to start from */
	ok = build_by_replace(&c, &na);
	CHECK(ok && matches(&c, &na) && spt_state_equal(&c, &a),
	      "round %u: replacing range by range gives it too", round);

	/* diff + apply. */
	build_by_pieces(&b, &nb);
	ret = spt_state_diff(&a, &b, &d);
	memset(cause_of, 0, sizeof(cause_of));
	CHECK(ret == 0 && covers_exactly(&d, &na, &nb, cause_of, true),
	      "round %u: diff lists exactly the changed pages (%zu runs)", round, d.nruns);
	spt_state_copy(&c, &a);
	ret = spt_state_apply(&c, &d);
	nc = na;
	CHECK(ret == 0 && spt_state_equal(&c, &b) && naive_apply(&nc, &d) && matches(&c, &nc),
	      "round %u: old + diff == new", round);
	if (getenv("SPT_DEBUG") && !matches(&c, &nc)) {
		struct spt_run_iter it;
		struct spt_run r;

		for (size_t k = 0; k < d.nruns; k++)
			printf("#  delta %llx+%llu pfn %llu/%u flags %x\n",
			       (unsigned long long)(d.runs[k].vaddr - BASE) / PG,
			       (unsigned long long)d.runs[k].npages, (unsigned long long)d.runs[k].pfn,
			       d.runs[k].stride, d.runs[k].flags);
		spt_run_iter_all(&it, &a);
		while (spt_run_iter_next(&it, &r))
			printf("#  old %llx+%llu pfn %llu/%u flags %x\n",
			       (unsigned long long)(r.vaddr - BASE) / PG, (unsigned long long)r.npages,
			       (unsigned long long)r.pfn, r.stride, r.flags);
		spt_run_iter_all(&it, &c);
		while (spt_run_iter_next(&it, &r))
			printf("#  got %llx+%llu pfn %llu/%u flags %x\n",
			       (unsigned long long)(r.vaddr - BASE) / PG, (unsigned long long)r.npages,
			       (unsigned long long)r.pfn, r.stride, r.flags);
	}
	spt_state_diff(&b, &b, &d);
	CHECK(spt_delta_empty(&d), "round %u: a state diffs to nothing against itself", round);

	/* update_pages over ascending ranges, each with its own cause. */
	if (chance(50))
		mutate(&nf, &na);
	else
		gen(&nf);
	build_by_pieces(&b, &nf);
	spt_state_copy(&c, &a);
	nc = na;
	memset(cause_of, 0, sizeof(cause_of));
	spt_delta_clear(&d);
	ok = true;
	for (size_t lo = below(100); lo < U && ok;) {
		size_t hi = lo + 1 + below(chance(20) ? U : 300);
		uint8_t cause = (uint8_t)(1 + below(25));

		if (hi > U)
			hi = U;
		ok = spt_state_update_pages(&c, va(lo), va(hi), &b, cause, &d) == 0;
		for (size_t i = lo; i < hi; i++) {
			nc.flags[i] = nf.flags[i];
			nc.pfn[i] = nf.pfn[i];
			cause_of[i] = cause;
		}
		lo = hi + below(chance(50) ? 2 : 200);
	}
	CHECK(ok && matches(&c, &nc), "round %u: update_pages sets exactly its ranges", round);
	CHECK(covers_exactly(&d, &na, &nc, cause_of, true),
	      "round %u: and reports exactly those changes, with their causes", round);
	spt_state_copy(&b, &a);
	CHECK(spt_state_apply(&b, &d) == 0 && spt_state_equal(&b, &c),
	      "round %u: its changes replay on the old state", round);

	/* Arbitrary deltas: sorted random runs, removals among them. */
	spt_delta_clear(&d);
	nc = na;
	for (size_t i = below(50); i < U;) {
		size_t n = 1 + below(chance(10) ? 600 : 20);
		struct spt_run r = {.vaddr = va(i), .npages = n};

		if (i + n > U)
			break;
		if (chance(60)) {
			r.flags = some_flags();
			r.pfn = chance(30) ? ZERO_PFN : some_pfn();
			r.stride = n > 1 && chance(50);
		}
		if (spt_delta_add_run(&d, &r))
			abort();
		i += n + below(chance(50) ? 3 : 400);
	}
	spt_state_copy(&c, &a);
	ok = naive_apply(&nc, &d);
	ret = spt_state_apply(&c, &d);
	CHECK(ok && ret == 0 && matches(&c, &nc), "round %u: random delta of %zu runs", round,
	      d.nruns);

	/* Caps: a change that would exceed max_runs fails and changes nothing. */
	spt_state_copy(&c, &a);
	spt_state_copy(&b, &a);
	spt_state_set_limits(&c, spt_state_nruns(&a) + below(3), 0);
	ret = spt_state_apply(&c, &d);
	CHECK((ret == -E2BIG && spt_state_check(&c)) ||
		      (ret == 0 && spt_state_nruns(&c) <= c.max_runs && matches(&c, &nc)),
	      "round %u: capped apply: %d", round, ret);
	spt_state_copy(&c, &a);
	spt_state_set_limits(&c, spt_state_nruns(&a), 0);
	{
		struct spt_delta out;

		spt_delta_init(&out);
		build_by_pieces(&b, &nf);
		ret = spt_state_update_pages(&c, va(0), va(U), &b, 3, &out);
		CHECK((ret == -E2BIG && spt_state_equal(&c, &a) && spt_delta_empty(&out)) ||
			      (ret == 0 && spt_state_equal(&c, &b)),
		      "round %u: capped update_pages is all or nothing: %d", round, ret);
		spt_delta_free(&out);
	}
	spt_delta_free(&d);
	spt_state_free(&a);
	spt_state_free(&b);
	spt_state_free(&c);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A million runs, then single-page updates: each must cost O(log n). */
static void test_scale(void)
{
	const size_t n = 1100000, updates = 20000;
	struct spt_state st, one;
	struct spt_delta d;
	double t0, dt;
	bool ok = true;
	uint64_t *pfns = malloc(n * sizeof(*pfns));

	spt_state_init(&st);
	spt_state_init(&one);
	spt_delta_init(&d);
	for (size_t i = 0; i < n; i++) {
		/* Every other page apart: no two runs merge. */
		struct spt_page p = {.vaddr = BASE + 2 * i * PG, .flags = 7, .pfn = 1000 + 3 * i};

		pfns[i] = p.pfn;
		if (spt_state_append_page(&st, &p))
			abort();
	}
	CHECK(spt_state_nruns(&st) == n && spt_state_check(&st), "%zu runs by append", n);
	printf("# %zu runs: %zu bytes, %.1f bytes per run\n", n, spt_state_memory(&st),
	       (double)spt_state_memory(&st) / (double)n);
	t0 = now_s();
	for (size_t k = 0; k < updates && ok; k++) {
		size_t i = below(n);
		uint64_t v = BASE + 2 * i * PG + (chance(50) ? PG : 0); /* the page or the gap */
		struct spt_page p = {.vaddr = v, .flags = 7, .pfn = 5000000000ull + k};

		spt_state_clear(&one);
		if (chance(70) && spt_state_append_page(&one, &p))
			abort();
		spt_delta_clear(&d);
		ok = spt_state_update_pages(&st, v, v + PG, &one, 1, &d) == 0;
		if (v == BASE + 2 * i * PG)
			pfns[i] = spt_state_nruns(&one) ? p.pfn : 0;
	}
	dt = now_s() - t0;
	printf("# %zu single-page updates: %.2f us each\n", updates, dt / (double)updates * 1e6);
	CHECK(ok && spt_state_check(&st), "single-page updates keep the state consistent");
	for (size_t i = 0; i < n && ok; i++) {
		struct spt_page p;
		bool has = spt_state_get_page(&st, BASE + 2 * i * PG, &p);

		ok = pfns[i] ? has && p.pfn == pfns[i] : !has;
	}
	CHECK(ok, "every page holds what it was last set to");
	/* Generous: a whole-array move per update would take milliseconds each. */
	CHECK(dt / (double)updates < 200e-6, "an update costs %.1f us (< 200)",
	      dt / (double)updates * 1e6);
	spt_delta_free(&d);
	spt_state_free(&st);
	spt_state_free(&one);
	free(pfns);
}

/* 1 TiB of the zero page is one run; a fault in the middle splits it in three. */
static void test_zero_page_tib(void)
{
	const uint64_t start = 0x100000000000ull, pages = (1ull << 40) / PG;
	struct spt_run z = {.vaddr = start, .npages = pages, .pfn = ZERO_PFN, .flags = 7};
	struct spt_state a, b, one;
	struct spt_page p = {.vaddr = start + pages / 2 * PG, .flags = 7, .pfn = 77};
	struct spt_delta d;

	spt_state_init(&a);
	spt_state_init(&b);
	spt_state_init(&one);
	spt_delta_init(&d);
	CHECK(spt_state_append_run(&a, &z) == 0 && spt_state_nruns(&a) == 1 &&
		      spt_state_npages(&a) == pages && spt_state_memory(&a) < 16384,
	      "1 TiB zero-page run: one run, %zu bytes", spt_state_memory(&a));
	spt_state_copy(&b, &a);
	spt_state_append_page(&one, &p);
	CHECK(spt_state_update_pages(&b, p.vaddr, p.vaddr + PG, &one, 2, &d) == 0 &&
		      spt_state_nruns(&b) == 3 && spt_state_npages(&b) == pages && d.nruns == 1,
	      "a COW in the middle: three runs, one change");
	CHECK(spt_state_diff(&a, &b, &d) == 0 && d.nruns == 1 && d.runs[0].vaddr == p.vaddr,
	      "the full diff finds the same one page");
	CHECK(spt_state_apply(&a, &d) == 0 && spt_state_equal(&a, &b), "and applies");
	spt_state_clear(&one);
	CHECK(spt_state_update_pages(&b, start, start + pages * PG, &one, 13, &d) == -EINVAL,
	      "ranges must ascend within one delta");
	spt_delta_clear(&d);
	CHECK(spt_state_update_pages(&b, start, start + pages * PG, &one, 13, &d) == 0 &&
		      spt_state_nruns(&b) == 0 && d.nruns == 1 && d.runs[0].npages == pages &&
		      !d.runs[0].flags,
	      "removing it all is one removal run");
	spt_delta_free(&d);
	spt_state_free(&a);
	spt_state_free(&b);
	spt_state_free(&one);
}

int main(int argc, char **argv)
{
	unsigned rounds = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 300;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : (uint64_t)time(NULL);

	printf("# seed %" PRIu64 " (replay: test-state-model %u %" PRIu64 ")\n", seed, rounds,
	       seed);
	rng_state = seed * 0x9e3779b97f4a7c15ull + 1;
	for (unsigned r = 0; r < rounds; r++)
		one_round(r);
	test_zero_page_tib();
	test_scale();
	return spt_test_done();
}
