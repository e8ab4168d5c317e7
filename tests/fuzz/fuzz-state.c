// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the page-state model (proto/state*.c, run.c, runvec.c)
 * under a sequence of changes the input describes: deltas (VMA removals
 * and additions, page runs, removals), range replacements, range updates
 * from a fresh state, caps, and deltas of raw, unchecked numbers. After
 * every step spt_state_check() must hold, and the state must equal a
 * naive model (one entry per page of a small window, a plain VMA list)
 * that applies the same change the obvious way, including which changes
 * are refused. Diffs are checked by applying them: diff(a, b) applied to
 * a gives b, and update_pages' delta replays its change.
 *
 * libFuzzer with -Dfuzzers=true; in normal builds the replay driver runs
 * the built-in seed with mutations.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-input.h"
#include "fuzz-replay.h"
#include "state.h"

#define PG	 SPT_PAGE_SIZE
#define BASE	 0x40000000ull /* 2 MiB aligned */
#define W	 256u	       /* pages in the window */
#define MAX_OPS	 64u
#define NVMAS	 (2 * MAX_OPS + 8) /* more than the ops can add */

struct naive_vma {
	uint64_t start, end, offset;
	uint32_t prot;
	bool shared;
	int kind;
	const char *name;
};

struct naive {
	uint32_t flags[W]; /* 0: no entry */
	uint64_t pfn[W];
	struct naive_vma vmas[NVMAS];
	size_t nvmas;
	bool pages_known; /* false after a change outside the window */
};

static const uint32_t flag_pool[] = {
	0, /* a removal in a delta */
	SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED,
	SPT_F_ALLOCATED | SPT_F_MAPPED | SPT_F_FILE,
	SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED | SPT_F_THP,
	SPT_F_ALLOCATED | SPT_F_SWAPPED,
};
static const char *const names[] = {"", "[heap]", "/usr/lib/libc.so.6", "[anon:x]"};

/* Names as pointers into names[], which outlive every state and delta. */
static const char *pooled(const char *s)
{
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return names[i];
	return "?";
}

static uint64_t va(size_t i)
{
	return BASE + i * PG;
}

static void naive_set(struct naive *m, const struct spt_run *r)
{
	for (uint64_t k = 0; k < r->npages; k++) {
		size_t i = (size_t)((r->vaddr - BASE) / PG + k);

		m->flags[i] = r->flags;
		m->pfn[i] = r->flags ? r->pfn + k * r->stride : 0;
	}
}

/*
 * Runs inside the window, ascending with small gaps, frames from a tiny
 * pool (so that neighbours often merge) or anywhere. flags 0 only when
 * removals are allowed.
 */
static size_t gen_runs(struct fuzz_in *in, struct spt_run *out, size_t max, bool removals)
{
	size_t n = fuzz_u8(in) % (max + 1), k = 0;
	uint64_t at = fuzz_u8(in) % 32;

	for (; k < n; k++) {
		uint8_t b = fuzz_u8(in), f = fuzz_u8(in);
		struct spt_run r = {0};

		at += b % 8;
		r.npages = 1 + (b >> 3) % 24;
		if (at + r.npages > W)
			break;
		r.vaddr = va(at);
		r.flags = flag_pool[f % 5];
		if (!removals && !r.flags)
			r.flags = flag_pool[1 + (f >> 4) % 4];
		r.stride = (f >> 3) & 1;
		r.pfn = f & 0x80 ? fuzz_u64(in) >> (fuzz_u8(in) % 64) : (f >> 4) % 6;
		if (r.stride && r.pfn > UINT64_MAX - r.npages)
			r.pfn = 1;
		out[k] = r;
		at += r.npages;
	}
	return k;
}

static void gen_vma(struct fuzz_in *in, struct spt_vma *v)
{
	uint8_t a = fuzz_u8(in), b = fuzz_u8(in), c = fuzz_u8(in);

	v->start = va(a % W);
	v->end = v->start + (1 + b % 48) * PG;
	if (c & 0x80) /* sometimes anything at all */
		v->end = v->start + (uint64_t)(int8_t)b * (PG / (1 + (c & 1)));
	v->prot = c & 7;
	v->shared = c & 8;
	v->kind = (enum spt_vma_kind)((c >> 4) % 5);
	v->offset = (uint64_t)b << 12;
	v->name = (char *)names[(c >> 2) % 4];
}

static int cmp_vma(const void *a, const void *b)
{
	const struct naive_vma *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* What apply_vmas must do: the outcome (0, -EINVAL, -E2BIG) and the result. */
static int naive_vmas(struct naive *m, const struct spt_delta *d, size_t max_vmas)
{
	struct naive_vma next[NVMAS];
	size_t n = 0;

	for (size_t k = 0; k < d->nvmas_removed; k++) {
		size_t hits = 0;

		for (size_t j = 0; j < m->nvmas; j++)
			hits += m->vmas[j].start == d->vmas_removed[k].start &&
				m->vmas[j].end == d->vmas_removed[k].end;
		for (size_t j = 0; j < k; j++)
			hits += 2 * (d->vmas_removed[j].start == d->vmas_removed[k].start);
		if (hits != 1)
			return -EINVAL;
	}
	for (size_t j = 0; j < m->nvmas; j++) {
		bool gone = false;

		for (size_t k = 0; k < d->nvmas_removed; k++)
			gone |= m->vmas[j].start == d->vmas_removed[k].start;
		if (!gone)
			next[n++] = m->vmas[j];
	}
	for (size_t k = 0; k < d->nvmas_added; k++) {
		const struct spt_vma *v = &d->vmas_added[k];

		if (v->start >= v->end || (v->start | v->end) % PG || v->kind < SPT_VMA_ANON ||
		    v->kind > SPT_VMA_SPECIAL)
			return -EINVAL;
		next[n++] = (struct naive_vma){v->start, v->end, v->offset, v->prot,
					       v->shared, (int)v->kind, pooled(v->name)};
	}
	qsort(next, n, sizeof(next[0]), cmp_vma);
	for (size_t j = 1; j < n; j++)
		if (next[j - 1].end > next[j].start)
			return -EINVAL;
	if (max_vmas && n > max_vmas)
		return -E2BIG;
	memcpy(m->vmas, next, n * sizeof(next[0]));
	m->nvmas = n;
	return 0;
}

/* The state read back into a naive model's shape. */
static void load(struct naive *m, const struct spt_state *st)
{
	struct spt_run_iter it;
	struct spt_run r;

	memset(m->flags, 0, sizeof(m->flags));
	memset(m->pfn, 0, sizeof(m->pfn));
	m->pages_known = true;
	spt_run_iter_all(&it, st);
	while (spt_run_iter_next(&it, &r)) {
		if (r.vaddr < BASE || spt_run_end(&r) > va(W)) {
			m->pages_known = false;
			continue;
		}
		naive_set(m, &r);
	}
	m->nvmas = 0;
	for (size_t i = 0; i < st->nvmas && i < sizeof(m->vmas) / sizeof(m->vmas[0]); i++) {
		const struct spt_vma *v = &st->vmas[i];

		m->vmas[m->nvmas++] = (struct naive_vma){v->start, v->end, v->offset, v->prot,
							 v->shared, (int)v->kind, pooled(v->name)};
	}
}

static void check(const struct spt_state *st, const struct naive *m, const char *step)
{
	struct naive got;

	if (!spt_state_check(st)) {
		fprintf(stderr, "fuzz-state: %s broke an invariant\n", step);
		abort();
	}
	load(&got, st);
	if (m->pages_known && (!got.pages_known || memcmp(got.flags, m->flags, sizeof(m->flags)) ||
			       memcmp(got.pfn, m->pfn, sizeof(m->pfn)))) {
		fprintf(stderr, "fuzz-state: %s: pages differ from the naive model\n", step);
		abort();
	}
	if (st->nvmas != m->nvmas) {
		fprintf(stderr, "fuzz-state: %s: %zu VMAs, naive model %zu\n", step, st->nvmas,
			m->nvmas);
		abort();
	}
	for (size_t i = 0; i < m->nvmas; i++) {
		const struct naive_vma *a = &got.vmas[i], *b = &m->vmas[i];

		if (a->start != b->start || a->end != b->end || a->offset != b->offset ||
		    a->prot != b->prot || a->shared != b->shared || a->kind != b->kind ||
		    strcmp(a->name, b->name)) {
			fprintf(stderr, "fuzz-state: %s: VMA %zu differs\n", step, i);
			abort();
		}
	}
}

/* diff(old, st) applied to a copy of old must give st. */
static void check_diff(const struct spt_state *old, const struct spt_state *st)
{
	struct spt_state c;
	struct spt_delta d;

	spt_state_init(&c);
	spt_delta_init(&d);
	if (spt_state_copy(&c, old) == 0 && spt_state_diff(old, st, &d) == 0) {
		spt_state_set_limits(&c, 0, 0);
		if (spt_state_apply(&c, &d) != 0 || !spt_state_equal(&c, st)) {
			fprintf(stderr, "fuzz-state: diff applied to its base differs\n");
			abort();
		}
	}
	spt_delta_free(&d);
	spt_state_free(&c);
}

static void op_delta(struct fuzz_in *in, struct spt_state *st, struct naive *m)
{
	struct spt_run runs[12];
	struct spt_delta d;
	struct naive want = *m;
	size_t nrm = fuzz_u8(in) % 3, nadd = fuzz_u8(in) % 3, n;
	int expect, r;

	spt_delta_init(&d);
	for (size_t k = 0; k < nrm; k++) {
		uint8_t b = fuzz_u8(in);

		if (m->nvmas && b & 1)
			spt_delta_remove_vma(&d, m->vmas[(b >> 1) % m->nvmas].start,
					     m->vmas[(b >> 1) % m->nvmas].end);
		else
			spt_delta_remove_vma(&d, va(b % W), va(b % W) + PG * (1 + fuzz_u8(in) % 8));
	}
	for (size_t k = 0; k < nadd; k++) {
		struct spt_vma v;

		gen_vma(in, &v);
		spt_delta_add_vma(&d, &v);
	}
	n = gen_runs(in, runs, 12, true);
	for (size_t k = 0; k < n; k++)
		if (spt_delta_add_run(&d, &runs[k]))
			abort();
	expect = naive_vmas(&want, &d, st->max_vmas);
	r = spt_state_apply(st, &d);
	if (r == -E2BIG && expect == 0) {
		load(m, st); /* a run cap: part applied, the state still valid */
	} else if (r != expect) {
		fprintf(stderr, "fuzz-state: apply returned %d, naive model %d\n", r, expect);
		abort();
	} else if (r == 0) {
		for (size_t k = 0; k < d.nruns; k++)
			naive_set(&want, &d.runs[k]);
		*m = want;
	}
	spt_delta_free(&d);
}

/* A delta of raw numbers: must be refused or applied, never break the state. */
static void op_raw(struct fuzz_in *in, struct spt_state *st, struct naive *m)
{
	struct spt_delta d;
	size_t n = fuzz_u8(in) % 4;
	int r;

	spt_delta_init(&d);
	/* Straight into the array: spt_delta_add_run would refuse them. */
	d.runs = calloc(n + 1, sizeof(*d.runs));
	if (!d.runs)
		abort();
	d.runs_cap = n + 1;
	for (size_t k = 0; k < n; k++) {
		d.runs[k].vaddr = fuzz_u64(in);
		d.runs[k].npages = fuzz_u64(in);
		d.runs[k].pfn = fuzz_u64(in);
		d.runs[k].flags = (uint32_t)fuzz_u64(in);
		d.runs[k].stride = fuzz_u8(in);
	}
	d.nruns = n;
	r = spt_state_apply(st, &d);
	if (r != 0 && r != -EINVAL && r != -E2BIG)
		abort();
	if (r != -EINVAL)
		load(m, st);
	spt_delta_free(&d);
}

static void op_replace(struct fuzz_in *in, struct spt_state *st, struct naive *m)
{
	struct spt_run runs[8];
	size_t n = gen_runs(in, runs, 8, false);
	uint64_t a = fuzz_u8(in) % W, b = a + fuzz_u8(in) % (W - a + 1);
	bool inside = true;
	int r;

	for (size_t k = 0; k < n; k++)
		inside &= runs[k].vaddr >= va(a) && spt_run_end(&runs[k]) <= va(b);
	r = spt_state_replace_range(st, va(a), va(b), runs, n);
	if (r == 0) {
		struct spt_run clear = {.vaddr = va(a), .npages = b - a};

		if (!inside)
			abort();
		if (clear.npages)
			naive_set(m, &clear);
		for (size_t k = 0; k < n; k++)
			naive_set(m, &runs[k]);
	} else if (r != (inside ? -E2BIG : -EINVAL)) {
		fprintf(stderr, "fuzz-state: replace_range returned %d\n", r);
		abort();
	}
}

static void op_update(struct fuzz_in *in, struct spt_state *st, struct naive *m)
{
	struct spt_run runs[8];
	struct spt_state fresh, before;
	struct spt_delta out;
	size_t n = gen_runs(in, runs, 8, false);
	uint64_t a = fuzz_u8(in) % W, b = a + fuzz_u8(in) % (W - a + 1);
	int r;

	spt_state_init(&fresh);
	spt_state_init(&before);
	spt_delta_init(&out);
	for (size_t k = 0; k < n; k++)
		spt_state_append_run(&fresh, &runs[k]);
	if (spt_state_copy(&before, st))
		abort();
	r = spt_state_update_pages(st, va(a), va(b), &fresh, 3, &out);
	if (r == 0) {
		struct spt_run_iter it;
		struct spt_run fr, clear = {.vaddr = va(a), .npages = b - a};

		if (clear.npages)
			naive_set(m, &clear);
		spt_run_iter_init(&it, &fresh, va(a), va(b));
		while (spt_run_iter_next(&it, &fr))
			naive_set(m, &fr);
		/* The delta it reported replays the change. */
		spt_state_set_limits(&before, 0, 0);
		if (spt_state_apply(&before, &out) || !spt_state_equal(&before, st)) {
			fprintf(stderr, "fuzz-state: update_pages' delta does not replay it\n");
			abort();
		}
	} else if (r != -E2BIG || !spt_state_equal(&before, st)) {
		fprintf(stderr, "fuzz-state: update_pages returned %d\n", r);
		abort();
	}
	spt_delta_free(&out);
	spt_state_free(&before);
	spt_state_free(&fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct spt_state st, old;
	struct naive *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	m->pages_known = true;
	spt_state_init(&st);
	spt_state_init(&old);
	for (unsigned ops = 0; in.n && ops < MAX_OPS; ops++) {
		uint8_t op = fuzz_u8(&in);

		switch (op % 8) {
		case 0:
		case 1:
		case 2:
			op_delta(&in, &st, m);
			break;
		case 3:
			op_replace(&in, &st, m);
			break;
		case 4:
			op_update(&in, &st, m);
			break;
		case 5:
			op_raw(&in, &st, m);
			break;
		case 6: { /* caps at or above what st holds (the daemon's use); 0 lifts them */
			uint8_t a = fuzz_u8(&in), b = fuzz_u8(&in);

			spt_state_set_limits(&st, a ? spt_state_nruns(&st) + a % 8 : 0,
					     b ? st.nvmas + b % 3 : 0);
			break;
		}
		default: /* diff against the last checkpoint, then move it here */
			check_diff(&old, &st);
			spt_state_free(&old);
			spt_state_init(&old);
			if (spt_state_copy(&old, &st))
				abort();
			break;
		}
		check(&st, m, op % 8 == 5 ? "a raw delta" : "a change");
	}
	check_diff(&old, &st);
	spt_state_free(&old);
	spt_state_free(&st);
	free(m);
	return 0;
}

/* The seed: VMAs added and removed, runs, a replacement, an update, a diff. */
int spt_fuzz_builtin_seed(uint8_t **out, size_t *out_len)
{
	static const uint8_t seed[] = {
		0, 0, 2, 10, 20, 0x41, 200, 30, 0x12, 4, 3, 0x31, 0x10, 0x12, 0x21, 0x05, 0x28,
		7,
		1, 1, 1, 3, 2, 0x22, 4, 0x09, 0x11, 0x0b, 0x31,
		3, 3, 2, 0x41, 0x12, 0x20, 0x03, 0x01, 0x1a, 0, 200,
		4, 2, 5, 0x52, 0x23, 0x08, 0x1c, 20, 100,
		7, 6, 40, 2, 0, 1, 2, 1, 9, 0x1f, 0x03, 7,
	};

	*out = malloc(sizeof(seed));
	if (!*out)
		return -1;
	memcpy(*out, seed, sizeof(seed));
	*out_len = sizeof(seed);
	return 0;
}
