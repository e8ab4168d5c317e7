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

/*
 * Emits the rows [first, last] that hold no run boundary: one row as is,
 * more folded, as unpopulated or (inside one run) as "like the row above".
 */
static int emit_gap(const struct vma_ctx *c, uint64_t first, uint64_t last, bool covered)
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
	return push(c->l, covered ? SCTL_ROW_RUN : SCTL_ROW_FOLD, c->vma,
		    c->start + page_first * SPT_PAGE_SIZE, page_end - page_first);
}

/*
 * The rows that must be shown, in order: the first and the last row of
 * every run in the VMA. covered: the rows up to the next one lie inside
 * that run.
 */
struct bounds {
	struct spt_run_iter it;
	uint64_t start, cols;
	uint64_t last_row; /* of the current run */
	bool pending_last; /* its last row is still to come */
	bool peeked;
	uint64_t peek_row;
	bool peek_covered;
};

static bool bounds_fetch(struct bounds *bd, uint64_t *row, bool *covered)
{
	struct spt_run r;
	uint64_t first;

	if (bd->pending_last) {
		bd->pending_last = false;
		*row = bd->last_row;
		*covered = false;
		return true;
	}
	if (!spt_run_iter_next(&bd->it, &r))
		return false;
	first = (r.vaddr - bd->start) / SPT_PAGE_SIZE / bd->cols;
	bd->last_row = (spt_run_end(&r) - SPT_PAGE_SIZE - bd->start) / SPT_PAGE_SIZE / bd->cols;
	bd->pending_last = bd->last_row > first;
	*row = first;
	*covered = bd->pending_last;
	return true;
}

static bool bounds_next(struct bounds *bd, uint64_t *row, bool *covered)
{
	if (bd->peeked) {
		bd->peeked = false;
		*row = bd->peek_row;
		*covered = bd->peek_covered;
		return true;
	}
	return bounds_fetch(bd, row, covered);
}

static bool bounds_peek(struct bounds *bd, uint64_t *row)
{
	if (!bd->peeked && bounds_fetch(bd, &bd->peek_row, &bd->peek_covered))
		bd->peeked = true;
	*row = bd->peek_row;
	return bd->peeked;
}

static int layout_vma(struct sctl_layout *l, const struct spt_state *st, uint32_t vi, unsigned cols,
		      unsigned context)
{
	const struct spt_vma *v = &st->vmas[vi];
	struct vma_ctx c = {l, vi, v->start, (v->end - v->start) / SPT_PAGE_SIZE, cols};
	uint64_t total_rows = (c.npages + cols - 1) / cols;
	uint64_t cursor = 0; /* first row not yet emitted */
	uint64_t row, next_row;
	bool covered, gap_covered = false;
	struct bounds bd = {.start = v->start, .cols = cols};
	int err = push(l, SCTL_ROW_VMA, vi, v->start, c.npages);

	if (err || !c.npages)
		return err;
	spt_run_iter_init(&bd.it, st, v->start, v->end);
	while (bounds_next(&bd, &row, &covered)) {
		uint64_t lo = row > context ? row - context : 0;
		uint64_t hi = row + context < total_rows ? row + context : total_rows - 1;
		bool after = covered;

		/* Extend the window over boundary rows that follow closely. */
		while (bounds_peek(&bd, &next_row)) {
			/* A gap of one row between windows is not worth a fold row. */
			if (next_row > context && next_row - context > hi + 2)
				break;
			bounds_next(&bd, &next_row, &after);
			if (next_row + context > hi)
				hi = next_row + context < total_rows ? next_row + context
								     : total_rows - 1;
		}
		if (lo < cursor)
			lo = cursor;
		if (lo > cursor) {
			err = emit_gap(&c, cursor, lo - 1, gap_covered);
			if (err)
				return err;
		}
		if (hi >= lo) {
			err = emit_rows(&c, lo, hi);
			if (err)
				return err;
			cursor = hi + 1;
		}
		gap_covered = after;
	}
	if (cursor < total_rows)
		err = emit_gap(&c, cursor, total_rows - 1, false);
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
