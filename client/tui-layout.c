/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Page map layout with folding of unpopulated runs; see tui-layout.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "shadowpt-limits.h"
#include "tui-layout.h"

void sctl_layout_init(struct sctl_layout *l)
{
	memset(l, 0, sizeof(*l));
}

void sctl_layout_free(struct sctl_layout *l)
{
	free(l->rows);
	sctl_layout_init(l);
}

static int push(struct sctl_layout *l, enum sctl_row_kind kind, uint32_t vma, uint64_t vaddr,
		uint64_t npages)
{
	if (l->nrows == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct sctl_row *n = realloc(l->rows, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		l->rows = n;
		l->cap = cap;
	}
	l->rows[l->nrows++] = (struct sctl_row){kind, vma, vaddr, npages};
	return 0;
}

unsigned sctl_layout_cols(int term_width)
{
	int cells = term_width - SCTL_LAYOUT_ADDR_WIDTH;

	if (cells < 8)
		return 8;
	return (unsigned)(cells / 8 * 8);
}

struct vma_ctx {
	struct sctl_layout *l;
	uint32_t vma;
	uint64_t start, npages, cols;
};

/* Emits rows [first, last] (inclusive) as page rows. */
static int emit_rows(const struct vma_ctx *c, uint64_t first, uint64_t last)
{
	uint64_t r;

	for (r = first; r <= last; r++) {
		uint64_t page = r * c->cols;
		uint64_t n = c->npages - page < c->cols ? c->npages - page : c->cols;
		int err = push(c->l, SCTL_ROW_PAGES, c->vma, c->start + page * SPT_PAGE_SIZE, n);

		if (err)
			return err;
	}
	return 0;
}

/* Emits the unpopulated rows [first, last]: one row as is, more folded. */
static int emit_gap(const struct vma_ctx *c, uint64_t first, uint64_t last)
{
	uint64_t page_first, page_end;

	if (first > last)
		return 0;
	if (first == last)
		return emit_rows(c, first, last);
	page_first = first * c->cols;
	page_end = (last + 1) * c->cols;
	if (page_end > c->npages)
		page_end = c->npages;
	return push(c->l, SCTL_ROW_FOLD, c->vma, c->start + page_first * SPT_PAGE_SIZE,
		    page_end - page_first);
}

static int layout_vma(struct sctl_layout *l, const struct spt_state *st, uint32_t vi, unsigned cols,
		      unsigned context)
{
	const struct spt_vma *v = &st->vmas[vi];
	struct vma_ctx c = {l, vi, v->start, (v->end - v->start) / SPT_PAGE_SIZE, cols};
	uint64_t total_rows = (c.npages + cols - 1) / cols;
	uint64_t cursor = 0; /* first row not yet emitted */
	size_t i = spt_state_page_index(st, v->start);
	int err = push(l, SCTL_ROW_VMA, vi, v->start, c.npages);

	if (err || !c.npages)
		return err;
	while (i < st->npages && st->pages[i].vaddr < v->end) {
		uint64_t row = (st->pages[i].vaddr - v->start) / SPT_PAGE_SIZE / cols;
		uint64_t lo = row > context ? row - context : 0;
		uint64_t hi = row + context < total_rows ? row + context : total_rows - 1;

		/* Extend the window over populated rows that follow closely. */
		for (;;) {
			uint64_t next_row;

			while (i < st->npages && st->pages[i].vaddr < v->end &&
			       (st->pages[i].vaddr - v->start) / SPT_PAGE_SIZE / cols <= hi)
				i++;
			if (i >= st->npages || st->pages[i].vaddr >= v->end)
				break;
			next_row = (st->pages[i].vaddr - v->start) / SPT_PAGE_SIZE / cols;
			/* A gap of one row between windows is not worth a fold row. */
			if (next_row > context && next_row - context > hi + 2)
				break;
			hi = next_row + context < total_rows ? next_row + context : total_rows - 1;
		}
		if (lo < cursor)
			lo = cursor;
		if (lo > cursor) {
			err = emit_gap(&c, cursor, lo - 1);
			if (err)
				return err;
		}
		err = emit_rows(&c, lo, hi);
		if (err)
			return err;
		cursor = hi + 1;
	}
	if (cursor < total_rows)
		err = emit_gap(&c, cursor, total_rows - 1);
	return err;
}

int sctl_layout_build(struct sctl_layout *l, const struct spt_state *st, unsigned cols,
		      unsigned context)
{
	uint32_t vi;

	l->nrows = 0;
	if (cols == 0)
		cols = 1;
	for (vi = 0; vi < st->nvmas; vi++) {
		int err = layout_vma(l, st, vi, cols, context);

		if (err)
			return err;
	}
	return 0;
}

char sctl_page_glyph(uint32_t flags)
{
	if (flags & SPT_F_SWAPPED)
		return 's';
	if (flags & SPT_F_MAPPED) {
		if (flags & SPT_F_THP)
			return 'H';
		return (flags & SPT_F_ANONYMOUS) ? 'a' : 'f';
	}
	if (flags & SPT_F_ALLOCATED)
		return '.';
	return ' ';
}
