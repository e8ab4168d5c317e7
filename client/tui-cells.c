/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Cells, glyphs and shared frames of the live page map; see tui-cells.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tui-cells.h"

void sctl_cell_sum(const struct spt_state *st, const struct spt_vma *vma, uint64_t vaddr,
		   uint64_t npages, struct sctl_cell *out)
{
	uint64_t end = vaddr + npages * SPT_PAGE_SIZE;
	struct spt_run_iter it;
	struct spt_run r;

	memset(out, 0, sizeof(*out));
	out->pages = npages;
	if (!vma)
		return;
	/* only what lies in the VMA: a cell never shows its neighbour's pages */
	if (vaddr < vma->start)
		vaddr = vma->start;
	if (end > vma->end)
		end = vma->end;
	if (vaddr >= end)
		return;
	out->allocated = (end - vaddr) / SPT_PAGE_SIZE;
	out->anon = vma->kind == SPT_VMA_ANON;
	spt_run_iter_init(&it, st, vaddr, end);
	while (spt_run_iter_next(&it, &r)) {
		if (r.flags & SPT_F_MAPPED)
			out->mapped += r.npages;
		else if (r.flags & SPT_F_SWAPPED)
			out->swapped += r.npages;
		if ((r.flags & SPT_F_MAPPED) && (r.flags & SPT_F_THP))
			out->thp = true;
	}
}

char sctl_cell_glyph(const struct sctl_cell *c)
{
	if (!c->allocated)
		return ' ';
	if (c->pages > 1) {
		if (!c->mapped)
			return c->swapped ? 's' : '.';
		return c->mapped >= c->allocated ? '#' : ':';
	}
	if (c->swapped)
		return 's';
	if (!c->mapped)
		return '.';
	if (c->zero)
		return '0';
	if (c->thp)
		return 'H';
	if (c->shared)
		return '=';
	return c->anon ? 'a' : 'f';
}

const struct sctl_glyph_help *sctl_glyph_legend(unsigned zoom)
{
	static const struct sctl_glyph_help one[] = {
	    {'.', "allocated"}, {'a', "anon"},	      {'f', "file/shm"}, {'H', "huge page"},
	    {'s', "swapped"},	{'0', "zero page"}, {'=', "shared frame"}, {0, NULL},
	};
	static const struct sctl_glyph_help many[] = {
	    {'.', "none mapped"}, {':', "some mapped"}, {'#', "all mapped"},
	    {'s', "swapped"},	  {0, NULL},
	};

	return zoom > 1 ? many : one;
}

void sctl_frames_init(struct sctl_frames *f)
{
	memset(f, 0, sizeof(*f));
}

void sctl_frames_free(struct sctl_frames *f)
{
	free(f->frame);
	free(f->users);
	free(f->zero);
	sctl_frames_init(f);
}

void sctl_frames_clear(struct sctl_frames *f)
{
	f->n = 0;
	f->counted = false;
}

int sctl_frames_add(struct sctl_frames *f, uint64_t frame)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 256;
		uint64_t *fr = realloc(f->frame, cap * sizeof(*fr));
		uint64_t *us;
		bool *z;

		if (!fr)
			return -ENOMEM;
		f->frame = fr;
		us = realloc(f->users, cap * sizeof(*us));
		if (!us)
			return -ENOMEM;
		f->users = us;
		z = realloc(f->zero, cap * sizeof(*z));
		if (!z)
			return -ENOMEM;
		f->zero = z;
		f->cap = cap;
	}
	f->frame[f->n++] = frame;
	f->counted = false;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Index of the first frame >= v. */
static size_t lower_bound(const struct sctl_frames *f, uint64_t v)
{
	size_t lo = 0, hi = f->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (f->frame[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void sctl_frames_count(struct sctl_frames *f, const struct spt_state *st)
{
	struct spt_run_iter it;
	struct spt_run r;
	size_t out = 0;

	f->counted = true;
	if (!f->n)
		return;
	qsort(f->frame, f->n, sizeof(*f->frame), u64_cmp);
	for (size_t i = 0; i < f->n; i++)
		if (!out || f->frame[out - 1] != f->frame[i])
			f->frame[out++] = f->frame[i];
	f->n = out;
	memset(f->users, 0, f->n * sizeof(*f->users));
	memset(f->zero, 0, f->n * sizeof(*f->zero));
	spt_run_iter_all(&it, st);
	while (spt_run_iter_next(&it, &r)) {
		size_t i;

		if (!(r.flags & SPT_F_MAPPED))
			continue;
		if (r.stride == 0) {
			i = lower_bound(f, r.pfn);
			if (i < f->n && f->frame[i] == r.pfn) {
				const struct spt_vma *v = spt_state_find_vma(st, r.vaddr);

				f->users[i] += r.npages;
				if (r.npages >= 2 && v && v->kind == SPT_VMA_ANON && !v->shared)
					f->zero[i] = true;
			}
			continue;
		}
		/* frames pfn .. pfn + npages - 1, one page each */
		for (i = lower_bound(f, r.pfn); i < f->n && f->frame[i] < r.pfn + r.npages; i++)
			f->users[i]++;
	}
}

uint64_t sctl_frames_users(const struct sctl_frames *f, uint64_t frame, bool *zero)
{
	size_t i;

	*zero = false;
	if (!f->counted)
		return 0;
	i = lower_bound(f, frame);
	if (i == f->n || f->frame[i] != frame)
		return 0;
	*zero = f->zero[i];
	return f->users[i];
}
