// SPDX-License-Identifier: GPL-2.0-or-later
/* Deltas: the container, and the merge-walk diff of two states. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shadowpt.pb-c.h"
#include "state-priv.h"

void spt_delta_init(struct spt_delta *d)
{
	memset(d, 0, sizeof(*d));
}

void spt_delta_clear(struct spt_delta *d)
{
	for (size_t i = 0; i < d->nvmas_added; i++)
		spt_vma_free_contents(&d->vmas_added[i]);
	d->nvmas_removed = 0;
	d->nvmas_added = 0;
	d->nruns = 0;
}

void spt_delta_free(struct spt_delta *d)
{
	spt_delta_clear(d);
	free(d->vmas_removed);
	free(d->vmas_added);
	free(d->runs);
	spt_delta_init(d);
}

bool spt_delta_empty(const struct spt_delta *d)
{
	return !d->nvmas_removed && !d->nvmas_added && !d->nruns;
}

uint64_t spt_delta_npages(const struct spt_delta *d)
{
	uint64_t n = 0;

	for (size_t i = 0; i < d->nruns; i++)
		n += d->runs[i].npages;
	return n;
}

void spt_delta_set_cause(struct spt_delta *d, uint8_t cause)
{
	for (size_t i = 0; i < d->nruns; i++)
		d->runs[i].cause = cause;
}

uint8_t spt_delta_common_cause(const struct spt_delta *d)
{
	uint8_t c = d->nruns ? d->runs[0].cause : 0;

	for (size_t i = 1; i < d->nruns; i++)
		if (d->runs[i].cause != c)
			return SHADOWPT__CAUSE__CAUSE_MULTIPLE;
	return c;
}

int spt_delta_relabel_present(struct spt_delta *d, uint64_t start, uint64_t end, uint8_t cause)
{
	for (size_t i = 0; i < d->nruns; i++) {
		struct spt_run r = d->runs[i];
		uint64_t a = r.vaddr > start ? r.vaddr : start;
		uint64_t b = spt_run_end(&r) < end ? spt_run_end(&r) : end;
		struct spt_run parts[3];
		size_t n = 0;

		if (a >= b || r.cause == cause || !r.flags)
			continue;
		if (r.vaddr < a)
			parts[n++] = spt_run_clip(&r, r.vaddr, a);
		parts[n] = spt_run_clip(&r, a, b);
		parts[n++].cause = cause;
		if (b < spt_run_end(&r))
			parts[n++] = spt_run_clip(&r, b, spt_run_end(&r));
		if (spt_grow((void **)&d->runs, &d->runs_cap, d->nruns + n - 1, sizeof(*d->runs)))
			return -ENOMEM;
		memmove(&d->runs[i + n], &d->runs[i + 1], (d->nruns - i - 1) * sizeof(*d->runs));
		memcpy(&d->runs[i], parts, n * sizeof(*parts));
		d->nruns += n - 1;
		i += n - 1;
	}
	return 0;
}

int spt_delta_add_run(struct spt_delta *d, const struct spt_run *run)
{
	struct spt_run r = *run;
	uint64_t taken = 0;

	if (r.npages == 1 || !r.flags)
		r.stride = 0;
	if (!r.flags)
		r.pfn = 0; /* removals carry no frame, so adjacent ones merge */
	if (!spt_run_valid(&r))
		return -EINVAL;
	if (d->nruns && r.vaddr < spt_run_end(&d->runs[d->nruns - 1]))
		return -EINVAL;
	if (spt_grow((void **)&d->runs, &d->runs_cap, d->nruns + 1, sizeof(*d->runs)))
		return -ENOMEM;
	if (d->nruns) {
		taken = spt_run_absorb(&d->runs[d->nruns - 1], &r);
		if (taken == r.npages)
			return 0;
		if (taken)
			spt_run_skip(&r, taken);
	}
	d->runs[d->nruns++] = r;
	return 0;
}

int spt_delta_remove_vma(struct spt_delta *d, uint64_t start, uint64_t end)
{
	int ret = spt_grow((void **)&d->vmas_removed, &d->vmas_removed_cap, d->nvmas_removed + 1,
			   sizeof(*d->vmas_removed));

	if (ret)
		return ret;
	d->vmas_removed[d->nvmas_removed++] = (struct spt_range){start, end};
	return 0;
}

int spt_delta_add_vma(struct spt_delta *d, const struct spt_vma *v)
{
	int ret = spt_grow((void **)&d->vmas_added, &d->vmas_added_cap, d->nvmas_added + 1,
			   sizeof(*d->vmas_added));

	if (ret)
		return ret;
	ret = spt_vma_copy(&d->vmas_added[d->nvmas_added], v);
	if (ret)
		return ret;
	d->nvmas_added++;
	return 0;
}

int spt_delta_append(struct spt_delta *dst, const struct spt_delta *src)
{
	int ret = 0;

	for (size_t i = 0; !ret && i < src->nvmas_removed; i++)
		ret = spt_delta_remove_vma(dst, src->vmas_removed[i].start, src->vmas_removed[i].end);
	for (size_t i = 0; !ret && i < src->nvmas_added; i++)
		ret = spt_delta_add_vma(dst, &src->vmas_added[i]);
	for (size_t i = 0; !ret && i < src->nruns; i++)
		ret = spt_delta_add_run(dst, &src->runs[i]);
	return ret;
}

int spt_state_diff_vmas(const struct spt_state *old, const struct spt_state *new,
			struct spt_delta *out)
{
	size_t i = 0, j = 0;
	int ret = 0;

	/* Sorted by start; anything not identical is removed and added. */
	while (!ret && (i < old->nvmas || j < new->nvmas)) {
		const struct spt_vma *a = i < old->nvmas ? &old->vmas[i] : NULL;
		const struct spt_vma *b = j < new->nvmas ? &new->vmas[j] : NULL;

		if (a && b && spt_vma_same(a, b)) {
			i++, j++;
		} else if (a && (!b || a->start <= b->start)) {
			ret = spt_delta_remove_vma(out, a->start, a->end);
			i++;
		} else {
			ret = spt_delta_add_vma(out, b);
			j++;
		}
	}
	return ret;
}

/*
 * Adds the pages of nb (same range as na) that differ from na. Two
 * strides can agree on at most one page: then both sides of it go in.
 */
static int add_changed(struct spt_delta *out, const struct spt_run *na, const struct spt_run *nb)
{
	struct spt_run part;
	uint64_t i;
	int ret = 0;

	if (na->flags != nb->flags)
		return spt_delta_add_run(out, nb);
	if (na->npages == 1 || na->stride == nb->stride)
		return na->pfn == nb->pfn ? 0 : spt_delta_add_run(out, nb);
	/* pfn_a + i * stride_a == pfn_b + i * stride_b for one i at most. */
	if (na->stride ? nb->pfn < na->pfn : na->pfn < nb->pfn)
		return spt_delta_add_run(out, nb);
	i = na->stride ? nb->pfn - na->pfn : na->pfn - nb->pfn;
	if (i >= nb->npages)
		return spt_delta_add_run(out, nb);
	if (i) {
		part = spt_run_prefix(nb, i);
		ret = spt_delta_add_run(out, &part);
	}
	if (!ret && i + 1 < nb->npages) {
		part = *nb;
		spt_run_skip(&part, i + 1);
		ret = spt_delta_add_run(out, &part);
	}
	return ret;
}

/* A run cut short by the other side's next boundary. */
static uint64_t pages_until(const struct spt_run *r, bool have_other, uint64_t other_vaddr)
{
	if (!have_other || other_vaddr >= spt_run_end(r))
		return r->npages;
	return (other_vaddr - r->vaddr) / SPT_PAGE_SIZE;
}

/* Moves *r on by n pages, fetching the next run when it is used up. */
static bool advance(struct spt_run_iter *it, struct spt_run *r, uint64_t n)
{
	if (n < r->npages) {
		spt_run_skip(r, n);
		return true;
	}
	return spt_run_iter_next(it, r);
}

int spt_diff_range(const struct spt_state *old, const struct spt_state *new, uint64_t start,
		   uint64_t end, uint8_t cause, struct spt_delta *out)
{
	struct spt_run_iter ia, ib;
	struct spt_run ra, rb;
	bool ha, hb;
	int ret = 0;

	spt_run_iter_init(&ia, old, start, end);
	spt_run_iter_init(&ib, new, start, end);
	ha = spt_run_iter_next(&ia, &ra);
	hb = spt_run_iter_next(&ib, &rb);
	while (!ret && (ha || hb)) {
		struct spt_run c;
		uint64_t n;

		if (ha && hb && ra.vaddr == rb.vaddr) {
			struct spt_run pa, pb;

			n = ra.npages < rb.npages ? ra.npages : rb.npages;
			pa = spt_run_prefix(&ra, n);
			pb = spt_run_prefix(&rb, n);
			pb.cause = cause;
			ret = add_changed(out, &pa, &pb);
			ha = advance(&ia, &ra, n);
			hb = advance(&ib, &rb, n);
		} else if (ha && (!hb || ra.vaddr < rb.vaddr)) {
			n = pages_until(&ra, hb, rb.vaddr);
			c = (struct spt_run){.vaddr = ra.vaddr, .npages = n, .cause = cause};
			ret = spt_delta_add_run(out, &c);
			ha = advance(&ia, &ra, n);
		} else {
			n = pages_until(&rb, ha, ra.vaddr);
			c = spt_run_prefix(&rb, n);
			c.cause = cause;
			ret = spt_delta_add_run(out, &c);
			hb = advance(&ib, &rb, n);
		}
	}
	return ret;
}

int spt_state_diff(const struct spt_state *old, const struct spt_state *new,
		   struct spt_delta *out)
{
	int ret;

	spt_delta_clear(out);
	ret = spt_state_diff_vmas(old, new, out);
	if (!ret)
		ret = spt_diff_range(old, new, 0, UINT64_MAX, 0, out);
	return ret;
}
