// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Changing a state in place: deltas, range updates. Every page change
 * goes through overlay(), which rewrites only the runs the change touches
 * plus the neighbours the greedy merge may join, and splices them back.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "spt-assert.h"
#include "state-priv.h"

/* Delta runs closer than this many state runs are applied as one splice. */
#define SPT_APPLY_GROUP_GAP 64

/* A canonical run sequence under construction. */
struct seq {
	struct spt_run *v;
	size_t n, cap;
};

static void seq_free(struct seq *s)
{
	free(s->v);
	*s = (struct seq){0};
}

static int seq_push_raw(struct seq *s, const struct spt_run *r)
{
	if (spt_grow((void **)&s->v, &s->cap, s->n + 1, sizeof(*s->v)))
		return -ENOMEM;
	s->v[s->n++] = *r;
	return 0;
}

/* Pushes r through the greedy merge step. */
static int seq_push(struct seq *s, const struct spt_run *run)
{
	struct spt_run r = *run;
	uint64_t t = s->n ? spt_run_absorb(&s->v[s->n - 1], &r) : 0;

	if (t == r.npages)
		return 0;
	if (t)
		spt_run_skip(&r, t);
	return seq_push_raw(s, &r);
}

static bool pos_is_begin(struct spt_runpos p)
{
	return p.b == 0 && p.i == 0;
}

/*
 * Overlays ov[0..n) (sorted, non-overlapping, valid; flags 0 clears) on
 * st in one splice: the region from the first to the last overlay run
 * is rebuilt from the old runs and the overlay, with the run before it
 * (which may absorb the first new pages) and the runs after it for as
 * long as the greedy merge changes them. All or nothing.
 */
static int overlay(struct spt_state *st, const struct spt_run *ov, size_t n, struct seq *buf)
{
	struct spt_runvec *rv = &st->runs;
	uint64_t s = ov[0].vaddr, e = spt_run_end(&ov[n - 1]), prev_end = s;
	struct spt_runpos pos = spt_runvec_seek(rv, s), from;
	struct spt_run cur;
	size_t replaced;
	int ret = 0;

	buf->n = 0;
	if (!spt_runvec_is_end(rv, pos))
		spt_runvec_get(rv, pos, &cur);
	if (!spt_runvec_is_end(rv, pos) && cur.vaddr < s) {
		struct spt_run left = spt_run_clip(&cur, cur.vaddr, s);

		from = pos; /* cur straddles s: its left part stays */
		ret = seq_push_raw(buf, &left);
	} else if (!pos_is_begin(pos)) {
		from = spt_runvec_prev(rv, pos); /* may absorb the first new pages */
		spt_runvec_get(rv, from, &cur);
		ret = seq_push_raw(buf, &cur);
	} else {
		from = pos;
	}
	for (size_t j = 0; !ret && j < n; j++) {
		/* The old runs between the previous overlay run and this one. */
		while (!ret && !spt_runvec_is_end(rv, pos)) {
			uint64_t lo, hi;

			spt_runvec_get(rv, pos, &cur);
			if (cur.vaddr >= ov[j].vaddr)
				break;
			lo = cur.vaddr > prev_end ? cur.vaddr : prev_end;
			hi = spt_run_end(&cur) < ov[j].vaddr ? spt_run_end(&cur) : ov[j].vaddr;
			if (lo < hi) {
				struct spt_run c = spt_run_clip(&cur, lo, hi);

				ret = seq_push(buf, &c);
			}
			if (spt_run_end(&cur) > ov[j].vaddr)
				break;
			pos = spt_runvec_next(rv, pos);
		}
		if (!ret && ov[j].flags) {
			struct spt_run r = ov[j];

			r.cause = 0;
			if (r.npages == 1)
				r.stride = 0;
			ret = seq_push(buf, &r);
		}
		prev_end = spt_run_end(&ov[j]);
		while (!spt_runvec_is_end(rv, pos)) {
			spt_runvec_get(rv, pos, &cur);
			if (spt_run_end(&cur) > prev_end)
				break;
			pos = spt_runvec_next(rv, pos);
		}
	}
	/* A run straddling e keeps its right part. */
	if (!ret && !spt_runvec_is_end(rv, pos)) {
		spt_runvec_get(rv, pos, &cur);
		if (cur.vaddr < e) {
			struct spt_run c = spt_run_clip(&cur, e, spt_run_end(&cur));

			ret = seq_push(buf, &c);
			pos = spt_runvec_next(rv, pos);
		}
	}
	/* The greedy merge may now reach into the runs that follow. */
	while (!ret && !spt_runvec_is_end(rv, pos) && buf->n) {
		struct spt_run probe = buf->v[buf->n - 1];

		spt_runvec_get(rv, pos, &cur);
		if (!spt_run_absorb(&probe, &cur))
			break;
		ret = seq_push(buf, &cur);
		pos = spt_runvec_next(rv, pos);
	}
	if (ret)
		return ret;
	replaced = spt_runvec_distance(rv, from, pos, SIZE_MAX - 1);
	if (st->max_runs && rv->nruns - replaced + buf->n > st->max_runs)
		return -E2BIG;
	return spt_runvec_splice(rv, from, pos, buf->v, buf->n);
}

/* Sorted, non-overlapping, valid runs. */
static bool runs_valid(const struct spt_run *r, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		if (!spt_run_valid(&r[k]) || (k && r[k].vaddr < spt_run_end(&r[k - 1])))
			return false;
	}
	return true;
}

/* Overlays runs in groups: runs far apart are separate, small splices. */
static int apply_runs(struct spt_state *st, const struct spt_run *runs, size_t n)
{
	struct seq buf = {0};
	int ret = 0;

	for (size_t i = 0, j; !ret && i < n; i = j + 1) {
		for (j = i; j + 1 < n; j++) {
			struct spt_runpos a = spt_runvec_seek(&st->runs, spt_run_end(&runs[j]));
			struct spt_runpos b = spt_runvec_seek(&st->runs, runs[j + 1].vaddr);

			if (spt_runvec_distance(&st->runs, a, b, SPT_APPLY_GROUP_GAP) >
			    SPT_APPLY_GROUP_GAP)
				break;
		}
		ret = overlay(st, runs + i, j - i + 1, &buf);
	}
	seq_free(&buf);
	return ret;
}

static int cmp_range_start(const void *a, const void *b)
{
	const struct spt_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_vma_start(const void *a, const void *b)
{
	const struct spt_vma *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Builds the VMA list after d's removals and additions without touching
 * st; st changes only once everything is known to be valid (a removal
 * that matches nothing used to leave duplicated names behind).
 */
static int apply_vmas(struct spt_state *st, const struct spt_delta *d)
{
	size_t nrm = d->nvmas_removed, nadd = d->nvmas_added, n, i, j, k, w;
	struct spt_range *rm = NULL;
	struct spt_vma *add = NULL, *merged = NULL;
	const struct spt_vma *prev = NULL;
	char **names = NULL;
	int ret = -ENOMEM;

	if (!nrm && !nadd)
		return 0;
	if (nrm > st->nvmas)
		return -EINVAL;
	rm = malloc((nrm + 1) * sizeof(*rm));
	add = malloc((nadd + 1) * sizeof(*add));
	if (!rm || !add)
		goto out;
	if (nrm)
		memcpy(rm, d->vmas_removed, nrm * sizeof(*rm));
	qsort(rm, nrm, sizeof(*rm), cmp_range_start);
	if (nadd)
		memcpy(add, d->vmas_added, nadd * sizeof(*add)); /* shallow */
	qsort(add, nadd, sizeof(*add), cmp_vma_start);
	n = st->nvmas - nrm + nadd;
	ret = -EINVAL;
	/* Every removal names an existing VMA exactly, each at most once. */
	for (k = 0; k < nrm; k++) {
		const struct spt_vma *v = spt_state_find_vma(st, rm[k].start);

		if (!v || v->start != rm[k].start || v->end != rm[k].end ||
		    (k && rm[k - 1].start == rm[k].start))
			goto out;
	}
	for (k = 0; k < nadd; k++)
		if (!spt_vma_valid(&add[k]))
			goto out;
	/* Pass 1: the kept VMAs and the additions, in merged order, must not overlap. */
	for (i = j = k = 0; i < st->nvmas || j < nadd;) {
		const struct spt_vma *next;

		if (i < st->nvmas && k < nrm && st->vmas[i].start == rm[k].start) {
			i++, k++;
			continue;
		}
		if (j >= nadd || (i < st->nvmas && st->vmas[i].start < add[j].start))
			next = &st->vmas[i++];
		else
			next = &add[j++];
		if (prev && prev->end > next->start)
			goto out;
		prev = next;
	}
	ret = -E2BIG;
	if (st->max_vmas && n > st->max_vmas)
		goto out;
	/* Everything that can fail before st changes. */
	ret = -ENOMEM;
	merged = calloc(n + 1, sizeof(*merged));
	names = calloc(nadd + 1, sizeof(*names));
	if (!merged || !names)
		goto out;
	for (j = 0; j < nadd; j++) {
		names[j] = strdup(add[j].name ? add[j].name : "");
		if (!names[j])
			goto out;
	}
	/* Pass 2: build it; kept VMAs move over with their names. */
	for (i = j = k = w = 0; i < st->nvmas || j < nadd;) {
		if (i < st->nvmas && k < nrm && st->vmas[i].start == rm[k].start) {
			spt_vma_free_contents(&st->vmas[i]);
			i++, k++;
			continue;
		}
		if (j >= nadd || (i < st->nvmas && st->vmas[i].start < add[j].start)) {
			merged[w++] = st->vmas[i++];
		} else {
			merged[w] = add[j];
			merged[w++].name = names[j];
			names[j++] = NULL;
		}
	}
	spt_assert(w == n);
	free(st->vmas);
	st->vmas = merged;
	merged = NULL;
	st->nvmas = n;
	st->vmas_cap = n + 1;
	ret = 0;
out:
	for (j = 0; names && j < nadd; j++)
		free(names[j]);
	free(names);
	free(merged);
	free(rm);
	free(add);
	return ret;
}

int spt_state_apply(struct spt_state *st, const struct spt_delta *d)
{
	int ret;

	if (!runs_valid(d->runs, d->nruns))
		return -EINVAL;
	ret = apply_vmas(st, d);
	if (!ret)
		ret = apply_runs(st, d->runs, d->nruns);
	return ret;
}

int spt_state_update_pages(struct spt_state *st, uint64_t start, uint64_t end,
			   const struct spt_state *fresh, uint8_t cause, struct spt_delta *out)
{
	struct spt_delta changes;
	struct seq buf = {0};
	int ret;

	if ((start | end) & SPT_PAGE_MASK || start > end)
		return -EINVAL;
	if (start == end)
		return 0;
	if (out->nruns && spt_run_end(&out->runs[out->nruns - 1]) > start)
		return -EINVAL;
	spt_delta_init(&changes);
	ret = spt_diff_range(st, fresh, start, end, cause, &changes);
	if (!ret && changes.nruns)
		ret = spt_grow((void **)&out->runs, &out->runs_cap, out->nruns + changes.nruns,
			       sizeof(*out->runs));
	if (!ret && changes.nruns)
		ret = overlay(st, changes.runs, changes.nruns, &buf);
	/* Room was made above: these appends cannot fail. */
	for (size_t i = 0; !ret && i < changes.nruns; i++) {
		int r = spt_delta_add_run(out, &changes.runs[i]);

		spt_assert(r == 0);
	}
	seq_free(&buf);
	spt_delta_free(&changes);
	return ret;
}

int spt_state_replace_range(struct spt_state *st, uint64_t start, uint64_t end,
			    const struct spt_run *runs, size_t n)
{
	struct seq ov = {0}, buf = {0};
	uint64_t at = start;
	int ret = 0;

	if ((start | end) & SPT_PAGE_MASK || start > end || !runs_valid(runs, n))
		return -EINVAL;
	for (size_t k = 0; k < n; k++)
		if (!runs[k].flags || runs[k].vaddr < start || spt_run_end(&runs[k]) > end)
			return -EINVAL;
	if (start == end)
		return 0;
	/* The gaps between the runs become removals. */
	for (size_t k = 0; !ret && k <= n; k++) {
		uint64_t next = k < n ? runs[k].vaddr : end;

		if (next > at)
			ret = seq_push_raw(&ov, &(struct spt_run){
						.vaddr = at, .npages = (next - at) / SPT_PAGE_SIZE});
		if (!ret && k < n) {
			ret = seq_push_raw(&ov, &runs[k]);
			at = spt_run_end(&runs[k]);
		}
	}
	if (!ret && (ov.n == 0 || !runs_valid(ov.v, ov.n)))
		ret = -EINVAL;
	if (!ret)
		ret = overlay(st, ov.v, ov.n, &buf);
	seq_free(&ov);
	seq_free(&buf);
	return ret;
}
