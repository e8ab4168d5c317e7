// SPDX-License-Identifier: GPL-2.0-or-later
/* The sparse page-state model: sorted VMAs, canonical runs, lookups. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shadowpt-limits.h"
#include "state-priv.h"

int spt_grow(void **arr, size_t *cap, size_t need, size_t elem)
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

void spt_vma_free_contents(struct spt_vma *v)
{
	free(v->name);
	v->name = NULL;
}

int spt_vma_copy(struct spt_vma *dst, const struct spt_vma *src)
{
	*dst = *src;
	dst->name = strdup(src->name ? src->name : "");
	return dst->name ? 0 : -ENOMEM;
}

bool spt_vma_valid(const struct spt_vma *v)
{
	return v->start < v->end && !(v->start & SPT_PAGE_MASK) && !(v->end & SPT_PAGE_MASK) &&
	       v->kind >= SPT_VMA_ANON && v->kind <= SPT_VMA_SPECIAL;
}

bool spt_vma_same(const struct spt_vma *a, const struct spt_vma *b)
{
	return a->start == b->start && a->end == b->end && a->offset == b->offset &&
	       a->prot == b->prot && a->shared == b->shared && a->kind == b->kind &&
	       strcmp(a->name ? a->name : "", b->name ? b->name : "") == 0;
}

void spt_state_init(struct spt_state *st)
{
	memset(st, 0, sizeof(*st));
	spt_runvec_init(&st->runs);
}

void spt_state_clear(struct spt_state *st)
{
	for (size_t i = 0; i < st->nvmas; i++)
		spt_vma_free_contents(&st->vmas[i]);
	st->nvmas = 0;
	spt_runvec_clear(&st->runs);
}

void spt_state_free(struct spt_state *st)
{
	spt_state_clear(st);
	free(st->vmas);
	spt_state_init(st);
}

void spt_state_move(struct spt_state *dst, struct spt_state *src)
{
	spt_state_free(dst);
	*dst = *src;
	spt_state_init(src);
}

void spt_state_set_limits(struct spt_state *st, size_t max_runs, size_t max_vmas)
{
	st->max_runs = max_runs;
	st->max_vmas = max_vmas;
}

int spt_state_copy_vmas(struct spt_state *dst, const struct spt_state *src)
{
	struct spt_vma *v = NULL;
	size_t cap = 0, i;

	if (dst->max_vmas && src->nvmas > dst->max_vmas)
		return -E2BIG;
	if (src->nvmas && spt_grow((void **)&v, &cap, src->nvmas, sizeof(*v)))
		return -ENOMEM;
	for (i = 0; i < src->nvmas; i++) {
		if (spt_vma_copy(&v[i], &src->vmas[i])) {
			while (i--)
				spt_vma_free_contents(&v[i]);
			free(v);
			return -ENOMEM;
		}
	}
	for (i = 0; i < dst->nvmas; i++)
		spt_vma_free_contents(&dst->vmas[i]);
	free(dst->vmas);
	dst->vmas = v;
	dst->nvmas = src->nvmas;
	dst->vmas_cap = cap;
	return 0;
}

int spt_state_copy(struct spt_state *dst, const struct spt_state *src)
{
	spt_state_free(dst);
	if (spt_state_copy_vmas(dst, src) || spt_runvec_copy(&dst->runs, &src->runs)) {
		spt_state_free(dst);
		return -ENOMEM;
	}
	spt_state_set_limits(dst, src->max_runs, src->max_vmas);
	return 0;
}

int spt_state_append_vma(struct spt_state *st, const struct spt_vma *vma)
{
	int ret;

	if (!spt_vma_valid(vma))
		return -EINVAL;
	if (st->nvmas && st->vmas[st->nvmas - 1].end > vma->start)
		return -EINVAL;
	if (st->max_vmas && st->nvmas >= st->max_vmas)
		return -E2BIG;
	ret = spt_grow((void **)&st->vmas, &st->vmas_cap, st->nvmas + 1, sizeof(*st->vmas));
	if (ret)
		return ret;
	ret = spt_vma_copy(&st->vmas[st->nvmas], vma);
	if (ret)
		return ret;
	st->nvmas++;
	return 0;
}

int spt_state_append_run(struct spt_state *st, const struct spt_run *run)
{
	struct spt_run r = *run, last;
	struct spt_runpos lastpos;
	uint64_t taken;
	int ret;

	r.cause = 0;
	if (r.npages == 1)
		r.stride = 0;
	if (!r.flags || !spt_run_valid(&r))
		return -EINVAL;
	if (!st->runs.nruns)
		return spt_runvec_push(&st->runs, &r);
	lastpos = spt_runvec_prev(&st->runs, (struct spt_runpos){st->runs.nblocks, 0});
	spt_runvec_get(&st->runs, lastpos, &last);
	if (r.vaddr < spt_run_end(&last))
		return -EINVAL;
	taken = spt_run_absorb(&last, &r);
	if (taken == r.npages) {
		spt_runvec_set(&st->runs, lastpos, &last);
		return 0;
	}
	if (st->max_runs && st->runs.nruns >= st->max_runs)
		return -E2BIG;
	if (taken)
		spt_run_skip(&r, taken);
	/* Push the rest first: the extended last run then cannot be half done. */
	ret = spt_runvec_push(&st->runs, &r);
	if (!ret && taken)
		spt_runvec_set(&st->runs, lastpos, &last);
	return ret;
}

int spt_state_append_page(struct spt_state *st, const struct spt_page *page)
{
	struct spt_run r = {.vaddr = page->vaddr, .npages = 1, .pfn = page->pfn,
			    .flags = page->flags};

	return spt_state_append_run(st, &r);
}

size_t spt_state_memory(const struct spt_state *st)
{
	size_t n = st->vmas_cap * sizeof(*st->vmas) + spt_runvec_memory(&st->runs);

	for (size_t i = 0; i < st->nvmas; i++)
		n += strlen(st->vmas[i].name) + 1;
	return n;
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

bool spt_state_get_run(const struct spt_state *st, uint64_t vaddr, struct spt_run *out)
{
	struct spt_runpos p = spt_runvec_seek(&st->runs, vaddr);

	if (spt_runvec_is_end(&st->runs, p))
		return false;
	spt_runvec_get(&st->runs, p, out);
	return out->vaddr <= vaddr;
}

bool spt_state_get_page(const struct spt_state *st, uint64_t vaddr, struct spt_page *out)
{
	struct spt_run r;

	vaddr &= ~SPT_PAGE_MASK;
	if (!spt_state_get_run(st, vaddr, &r))
		return false;
	*out = (struct spt_page){.vaddr = vaddr, .pfn = spt_run_pfn_at(&r, vaddr),
				 .flags = r.flags};
	return true;
}

uint32_t spt_state_flags_at(const struct spt_state *st, uint64_t vaddr)
{
	const struct spt_vma *v;
	struct spt_run r;

	if (spt_state_get_run(st, vaddr, &r))
		return r.flags;
	v = spt_state_find_vma(st, vaddr);
	return v ? spt_vma_flags(v) : 0;
}

void spt_run_iter_init(struct spt_run_iter *it, const struct spt_state *st, uint64_t start,
		       uint64_t end)
{
	it->rv = &st->runs;
	it->pos = spt_runvec_seek(&st->runs, start);
	it->start = start;
	it->end = end;
}

void spt_run_iter_all(struct spt_run_iter *it, const struct spt_state *st)
{
	spt_run_iter_init(it, st, 0, UINT64_MAX);
}

bool spt_run_iter_next(struct spt_run_iter *it, struct spt_run *out)
{
	struct spt_run r;

	if (spt_runvec_is_end(it->rv, it->pos))
		return false;
	spt_runvec_get(it->rv, it->pos, &r);
	if (r.vaddr >= it->end)
		return false;
	it->pos = spt_runvec_next(it->rv, it->pos);
	*out = r.vaddr < it->start || spt_run_end(&r) > it->end
		       ? spt_run_clip(&r, it->start, it->end)
		       : r;
	return true;
}

bool spt_state_equal(const struct spt_state *a, const struct spt_state *b)
{
	struct spt_run_iter ia, ib;
	struct spt_run ra, rb;

	if (a->nvmas != b->nvmas || a->runs.nruns != b->runs.nruns ||
	    a->runs.npages != b->runs.npages)
		return false;
	for (size_t i = 0; i < a->nvmas; i++)
		if (!spt_vma_same(&a->vmas[i], &b->vmas[i]))
			return false;
	spt_run_iter_all(&ia, a);
	spt_run_iter_all(&ib, b);
	while (spt_run_iter_next(&ia, &ra)) {
		if (!spt_run_iter_next(&ib, &rb) || !spt_run_same(&ra, &rb))
			return false;
	}
	return true;
}

bool spt_state_check(const struct spt_state *st)
{
	struct spt_run_iter it;
	struct spt_run prev, r;
	bool first = true;

	for (size_t i = 0; i < st->nvmas; i++) {
		if (!spt_vma_valid(&st->vmas[i]) || !st->vmas[i].name ||
		    (i && st->vmas[i - 1].end > st->vmas[i].start))
			return false;
	}
	if (!spt_runvec_check(&st->runs) || (st->max_runs && st->runs.nruns > st->max_runs) ||
	    (st->max_vmas && st->nvmas > st->max_vmas))
		return false;
	spt_run_iter_all(&it, st);
	while (spt_run_iter_next(&it, &r)) {
		if (!r.flags || !spt_run_valid(&r) || (r.npages == 1 && r.stride))
			return false;
		if (!first) {
			struct spt_run p = prev;

			if (spt_run_end(&prev) > r.vaddr || spt_run_absorb(&p, &r))
				return false;
		}
		prev = r;
		first = false;
	}
	return true;
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
