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

static int layout_vma(struct sctl_layout *l, const struct spt_state *st, uint32_t vi, uint64_t cols,
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

int sctl_layout_build(struct sctl_layout *l, const struct spt_state *st, uint64_t row_pages,
		      unsigned context)
{
	uint32_t vi;

	l->nrows = 0;
	if (row_pages == 0)
		row_pages = 1;
	for (vi = 0; vi < st->nvmas; vi++) {
		int err = layout_vma(l, st, vi, row_pages, context);

		if (err)
			return err;
	}
	return 0;
}

/* Inserts n rows at index at (moving the rest down); 0 or -ENOMEM. */
static int insert_rows(struct sctl_layout *l, size_t at, size_t n)
{
	while (l->nrows + n > l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct sctl_row *m = realloc(l->rows, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		l->rows = m;
		l->cap = cap;
	}
	memmove(l->rows + at + n, l->rows + at, (l->nrows - at) * sizeof(*l->rows));
	l->nrows += n;
	return 0;
}

size_t sctl_layout_find(const struct sctl_layout *l, uint64_t vaddr)
{
	size_t lo = 0, hi = l->nrows;

	/* Rows are sorted by vaddr; a VMA heading shares its first row's. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct sctl_row *r = &l->rows[mid];

		if (r->kind != SCTL_ROW_VMA && vaddr >= r->vaddr + r->npages * SPT_PAGE_SIZE)
			lo = mid + 1;
		else if (r->kind == SCTL_ROW_VMA && vaddr >= r->vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < l->nrows && l->rows[lo].kind != SCTL_ROW_VMA && vaddr >= l->rows[lo].vaddr)
		return lo;
	return l->nrows;
}

int sctl_layout_keep(struct sctl_layout *l, uint64_t vaddr, uint64_t row_pages)
{
	size_t i = sctl_layout_find(l, vaddr);
	struct sctl_row fold, *r;
	uint64_t first, before, after;
	int err;

	if (i == l->nrows || (l->rows[i].kind != SCTL_ROW_FOLD && l->rows[i].kind != SCTL_ROW_RUN))
		return 0;
	fold = l->rows[i];
	first = (vaddr - fold.vaddr) / SPT_PAGE_SIZE / row_pages * row_pages;
	before = first;
	after = fold.npages - first > row_pages ? fold.npages - first - row_pages : 0;
	err = insert_rows(l, i, (before ? 1 : 0) + (after ? 1 : 0));
	if (err)
		return err;
	r = &l->rows[i];
	if (before) {
		*r = fold;
		r->npages = before;
		/* a single row left is shown, not folded */
		if (before <= row_pages)
			r->kind = SCTL_ROW_PAGES;
		r++;
	}
	*r = fold;
	r->kind = SCTL_ROW_PAGES;
	r->vaddr = fold.vaddr + first * SPT_PAGE_SIZE;
	r->npages = fold.npages - first < row_pages ? fold.npages - first : row_pages;
	if (after) {
		r[1] = fold;
		r[1].vaddr = r->vaddr + row_pages * SPT_PAGE_SIZE;
		r[1].npages = after;
		if (after <= row_pages)
			r[1].kind = SCTL_ROW_PAGES;
	}
	return 0;
}
