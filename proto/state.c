// SPDX-License-Identifier: GPL-2.0-or-later
/* The sparse page-state model: sorted VMAs, sorted page entries, diff. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shadowpt-limits.h"
#include "state.h"

#define SPT_PAGE_MASK (SPT_PAGE_SIZE - 1)

/* Grows *arr to hold at least need elements of size elem. */
static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		ncap *= 2;
	}
	p = realloc(*arr, ncap * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static void vma_free_contents(struct spt_vma *v)
{
	free(v->name);
	v->name = NULL;
}

static int vma_copy(struct spt_vma *dst, const struct spt_vma *src)
{
	*dst = *src;
	dst->name = strdup(src->name ? src->name : "");
	return dst->name ? 0 : -ENOMEM;
}

static bool vma_valid(const struct spt_vma *v)
{
	return v->start < v->end && !(v->start & SPT_PAGE_MASK) &&
	       !(v->end & SPT_PAGE_MASK) && v->kind >= SPT_VMA_ANON &&
	       v->kind <= SPT_VMA_SPECIAL;
}

static bool vma_same(const struct spt_vma *a, const struct spt_vma *b)
{
	return a->start == b->start && a->end == b->end && a->offset == b->offset &&
	       a->prot == b->prot && a->shared == b->shared && a->kind == b->kind &&
	       strcmp(a->name ? a->name : "", b->name ? b->name : "") == 0;
}

void spt_state_init(struct spt_state *st)
{
	memset(st, 0, sizeof(*st));
}

void spt_state_clear(struct spt_state *st)
{
	for (size_t i = 0; i < st->nvmas; i++)
		vma_free_contents(&st->vmas[i]);
	st->nvmas = 0;
	st->npages = 0;
}

void spt_state_free(struct spt_state *st)
{
	spt_state_clear(st);
	free(st->vmas);
	free(st->pages);
	spt_state_init(st);
}

void spt_state_move(struct spt_state *dst, struct spt_state *src)
{
	spt_state_free(dst);
	*dst = *src;
	spt_state_init(src);
}

int spt_state_append_vma(struct spt_state *st, const struct spt_vma *vma)
{
	int ret;

	if (!vma_valid(vma))
		return -EINVAL;
	if (st->nvmas && st->vmas[st->nvmas - 1].end > vma->start)
		return -EINVAL;
	ret = grow((void **)&st->vmas, &st->vmas_cap, st->nvmas + 1, sizeof(*st->vmas));
	if (ret)
		return ret;
	ret = vma_copy(&st->vmas[st->nvmas], vma);
	if (ret)
		return ret;
	st->nvmas++;
	return 0;
}

int spt_state_append_page(struct spt_state *st, const struct spt_page *page)
{
	int ret;

	if ((page->vaddr & SPT_PAGE_MASK) || !page->flags)
		return -EINVAL;
	if (st->npages && st->pages[st->npages - 1].vaddr >= page->vaddr)
		return -EINVAL;
	ret = grow((void **)&st->pages, &st->pages_cap, st->npages + 1, sizeof(*st->pages));
	if (ret)
		return ret;
	st->pages[st->npages++] = *page;
	return 0;
}

uint32_t spt_vma_flags(const struct spt_vma *vma)
{
	return SPT_F_ALLOCATED | (vma->kind == SPT_VMA_ANON ? SPT_F_ANONYMOUS : 0);
}

const struct spt_vma *spt_state_find_vma(const struct spt_state *st, uint64_t vaddr)
{
	size_t lo = 0, hi = st->nvmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct spt_vma *v = &st->vmas[mid];

		if (vaddr < v->start)
			hi = mid;
		else if (vaddr >= v->end)
			lo = mid + 1;
		else
			return v;
	}
	return NULL;
}

size_t spt_state_page_index(const struct spt_state *st, uint64_t vaddr)
{
	size_t lo = 0, hi = st->npages;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (st->pages[mid].vaddr < vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct spt_page *spt_state_find_page(const struct spt_state *st, uint64_t vaddr)
{
	size_t i = spt_state_page_index(st, vaddr);

	return i < st->npages && st->pages[i].vaddr == vaddr ? &st->pages[i] : NULL;
}

uint32_t spt_state_flags_at(const struct spt_state *st, uint64_t vaddr)
{
	const struct spt_page *p = spt_state_find_page(st, vaddr);
	const struct spt_vma *v;

	if (p)
		return p->flags;
	v = spt_state_find_vma(st, vaddr);
	return v ? spt_vma_flags(v) : 0;
}

bool spt_state_equal(const struct spt_state *a, const struct spt_state *b)
{
	if (a->nvmas != b->nvmas || a->npages != b->npages)
		return false;
	for (size_t i = 0; i < a->nvmas; i++)
		if (!vma_same(&a->vmas[i], &b->vmas[i]))
			return false;
	for (size_t i = 0; i < a->npages; i++)
		if (a->pages[i].vaddr != b->pages[i].vaddr ||
		    a->pages[i].flags != b->pages[i].flags || a->pages[i].pfn != b->pages[i].pfn)
			return false;
	return true;
}

void spt_delta_init(struct spt_delta *d)
{
	memset(d, 0, sizeof(*d));
}

void spt_delta_clear(struct spt_delta *d)
{
	for (size_t i = 0; i < d->nvmas_added; i++)
		vma_free_contents(&d->vmas_added[i]);
	d->nvmas_removed = 0;
	d->nvmas_added = 0;
	d->npages = 0;
}

void spt_delta_free(struct spt_delta *d)
{
	spt_delta_clear(d);
	free(d->vmas_removed);
	free(d->vmas_added);
	free(d->pages);
	spt_delta_init(d);
}

bool spt_delta_empty(const struct spt_delta *d)
{
	return !d->nvmas_removed && !d->nvmas_added && !d->npages;
}

static int delta_remove_vma(struct spt_delta *d, const struct spt_vma *v)
{
	int ret = grow((void **)&d->vmas_removed, &d->vmas_removed_cap,
		       d->nvmas_removed + 1, sizeof(*d->vmas_removed));

	if (ret)
		return ret;
	d->vmas_removed[d->nvmas_removed].start = v->start;
	d->vmas_removed[d->nvmas_removed].end = v->end;
	d->nvmas_removed++;
	return 0;
}

static int delta_add_vma(struct spt_delta *d, const struct spt_vma *v)
{
	int ret = grow((void **)&d->vmas_added, &d->vmas_added_cap, d->nvmas_added + 1,
		       sizeof(*d->vmas_added));

	if (ret)
		return ret;
	ret = vma_copy(&d->vmas_added[d->nvmas_added], v);
	if (ret)
		return ret;
	d->nvmas_added++;
	return 0;
}

static int delta_add_page(struct spt_delta *d, const struct spt_page *p)
{
	int ret = grow((void **)&d->pages, &d->pages_cap, d->npages + 1, sizeof(*d->pages));

	if (ret)
		return ret;
	d->pages[d->npages++] = *p;
	return 0;
}

int spt_state_diff(const struct spt_state *old, const struct spt_state *new,
		   struct spt_delta *out)
{
	size_t i = 0, j = 0;
	int ret = 0;

	spt_delta_clear(out);
	/* VMAs: sorted by start; anything not identical is removed + added. */
	while (!ret && (i < old->nvmas || j < new->nvmas)) {
		const struct spt_vma *a = i < old->nvmas ? &old->vmas[i] : NULL;
		const struct spt_vma *b = j < new->nvmas ? &new->vmas[j] : NULL;

		if (a && b && vma_same(a, b)) {
			i++, j++;
		} else if (a && (!b || a->start <= b->start)) {
			ret = delta_remove_vma(out, a);
			i++;
		} else {
			ret = delta_add_vma(out, b);
			j++;
		}
	}
	i = j = 0;
	while (!ret && (i < old->npages || j < new->npages)) {
		const struct spt_page *a = i < old->npages ? &old->pages[i] : NULL;
		const struct spt_page *b = j < new->npages ? &new->pages[j] : NULL;

		if (a && b && a->vaddr == b->vaddr) {
			if (a->flags != b->flags || a->pfn != b->pfn)
				ret = delta_add_page(out, b);
			i++, j++;
		} else if (a && (!b || a->vaddr < b->vaddr)) {
			struct spt_page gone = { .vaddr = a->vaddr };

			ret = delta_add_page(out, &gone);
			i++;
		} else {
			ret = delta_add_page(out, b);
			j++;
		}
	}
	return ret;
}

static int cmp_range_start(const void *a, const void *b)
{
	const struct spt_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Removes VMAs exactly matching each range; all must exist. */
static int apply_vma_removals(struct spt_state *st, const struct spt_delta *d)
{
	struct spt_range *rm;
	size_t w = 0, k = 0, i;

	if (!d->nvmas_removed)
		return 0;
	rm = malloc(d->nvmas_removed * sizeof(*rm));
	if (!rm)
		return -ENOMEM;
	memcpy(rm, d->vmas_removed, d->nvmas_removed * sizeof(*rm));
	qsort(rm, d->nvmas_removed, sizeof(*rm), cmp_range_start);
	for (i = 0; i < st->nvmas; i++) {
		struct spt_vma *v = &st->vmas[i];

		if (k < d->nvmas_removed && rm[k].start == v->start) {
			if (rm[k].end != v->end)
				break;
			vma_free_contents(v);
			k++;
			continue;
		}
		st->vmas[w++] = *v;
	}
	if (k != d->nvmas_removed) {
		/*
		 * Keep the state freeable: close the gap the removed VMAs
		 * left, or their names would be freed twice.
		 */
		for (; i < st->nvmas; i++)
			st->vmas[w++] = st->vmas[i];
		st->nvmas = w;
		free(rm);
		return -EINVAL;
	}
	st->nvmas = w;
	free(rm);
	return 0;
}

static int cmp_vma_start(const void *a, const void *b)
{
	const struct spt_vma *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Merges the sorted additions in; validates before touching st. */
static int apply_vma_additions(struct spt_state *st, const struct spt_delta *d)
{
	size_t n = st->nvmas + d->nvmas_added, i = 0, j = 0, w = 0;
	const struct spt_vma *prev = NULL;
	struct spt_vma *merged, *add;
	int ret = 0;

	if (!d->nvmas_added)
		return 0;
	add = malloc(d->nvmas_added * sizeof(*add));
	if (!add)
		return -ENOMEM;
	memcpy(add, d->vmas_added, d->nvmas_added * sizeof(*add)); /* shallow */
	qsort(add, d->nvmas_added, sizeof(*add), cmp_vma_start);
	/* Pass 1: validity and overlap, on the would-be merged order. */
	while (!ret && (i < st->nvmas || j < d->nvmas_added)) {
		const struct spt_vma *next;

		if (j >= d->nvmas_added || (i < st->nvmas && st->vmas[i].start < add[j].start))
			next = &st->vmas[i++];
		else if (!vma_valid(next = &add[j++]))
			ret = -EINVAL;
		if (!ret && prev && prev->end > next->start)
			ret = -EINVAL;
		prev = next;
	}
	merged = ret ? NULL : calloc(n, sizeof(*merged));
	if (!ret && !merged)
		ret = -ENOMEM;
	/* Pass 2: the merge; only name copies can fail. */
	for (i = j = 0; !ret && (i < st->nvmas || j < d->nvmas_added); w++) {
		if (j >= d->nvmas_added || (i < st->nvmas && st->vmas[i].start < add[j].start))
			merged[w] = st->vmas[i++];
		else
			ret = vma_copy(&merged[w], &add[j++]);
	}
	free(add);
	if (ret) {
		if (merged) {
			/* Undo: free copied names only (originals still owned by st). */
			for (size_t k = 0, s = 0; k < w; k++) {
				if (s < st->nvmas && merged[k].name == st->vmas[s].name)
					s++;
				else
					free(merged[k].name);
			}
		}
		free(merged);
		return ret;
	}
	free(st->vmas);
	st->vmas = merged;
	st->nvmas = w;
	st->vmas_cap = n;
	return 0;
}

static int apply_pages(struct spt_state *st, const struct spt_delta *d)
{
	size_t n = st->npages + d->npages, i = 0, j = 0, w = 0;
	struct spt_page *merged;

	for (size_t k = 0; k < d->npages; k++) {
		if (d->pages[k].vaddr & SPT_PAGE_MASK)
			return -EINVAL;
		if (k && d->pages[k - 1].vaddr >= d->pages[k].vaddr)
			return -EINVAL;
	}
	if (!d->npages)
		return 0;
	merged = malloc(n * sizeof(*merged));
	if (!merged)
		return -ENOMEM;
	while (i < st->npages || j < d->npages) {
		if (j >= d->npages || (i < st->npages && st->pages[i].vaddr < d->pages[j].vaddr)) {
			merged[w++] = st->pages[i++];
			continue;
		}
		if (i < st->npages && st->pages[i].vaddr == d->pages[j].vaddr)
			i++; /* replaced or removed */
		if (d->pages[j].flags)
			merged[w++] = d->pages[j];
		j++;
	}
	free(st->pages);
	st->pages = merged;
	st->npages = w;
	st->pages_cap = n;
	return 0;
}

int spt_state_apply(struct spt_state *st, const struct spt_delta *d)
{
	int ret = apply_vma_removals(st, d);

	if (!ret)
		ret = apply_vma_additions(st, d);
	if (!ret)
		ret = apply_pages(st, d);
	return ret;
}

const char *spt_flag_name(uint32_t bit)
{
	switch (bit) {
	case SPT_F_ALLOCATED: return "allocated";
	case SPT_F_ANONYMOUS: return "anonymous";
	case SPT_F_MAPPED: return "mapped";
	case SPT_F_SWAPPED: return "swapped";
	case SPT_F_SOFT_DIRTY: return "soft-dirty";
	case SPT_F_EXCLUSIVE: return "exclusive";
	case SPT_F_THP: return "thp";
	case SPT_F_FILE: return "file";
	default: return NULL;
	}
}

const char *spt_vma_kind_name(enum spt_vma_kind kind)
{
	switch (kind) {
	case SPT_VMA_ANON: return "anon";
	case SPT_VMA_SHARED_ANON: return "shared-anon";
	case SPT_VMA_FILE: return "file";
	case SPT_VMA_SPECIAL: return "special";
	default: return "unknown";
	}
}
