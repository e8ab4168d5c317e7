/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Cursor movement over the page map layout; see tui-nav.h. */
#include "shadowpt-limits.h"
#include "tui-nav.h"

static bool is_cells(const struct sctl_row *r)
{
	return r->kind == SCTL_ROW_PAGES;
}

static bool is_body(const struct sctl_row *r)
{
	return r->kind != SCTL_ROW_VMA;
}

static uint64_t ncells(const struct sctl_nav *n, const struct sctl_row *r)
{
	return (r->npages + n->cell_pages - 1) / n->cell_pages;
}

/* The cursor's cell in its row (0 outside a cell row). */
static uint64_t cell_of(const struct sctl_nav *n, const struct sctl_row *r, uint64_t cursor)
{
	if (!is_cells(r) || cursor < r->vaddr)
		return 0;
	return (cursor - r->vaddr) / SPT_PAGE_SIZE / n->cell_pages;
}

static uint64_t at_cell(const struct sctl_nav *n, const struct sctl_row *r, uint64_t cell)
{
	uint64_t last = ncells(n, r) - 1;

	if (!is_cells(r))
		return r->vaddr;
	return r->vaddr + (cell < last ? cell : last) * n->cell_pages * SPT_PAGE_SIZE;
}

/* The next (step 1) or previous (step -1) row from i that pred accepts; i if none. */
static size_t seek_row(const struct sctl_layout *l, size_t i, int step,
		       bool (*pred)(const struct sctl_row *))
{
	size_t j = i;

	while (step > 0 ? j + 1 < l->nrows : j > 0) {
		j = step > 0 ? j + 1 : j - 1;
		if (pred(&l->rows[j]))
			return j;
	}
	return i;
}

/* The first row at or after i (else before it) that pred accepts; nrows if none. */
static size_t near_row(const struct sctl_layout *l, size_t i, bool (*pred)(const struct sctl_row *))
{
	for (size_t j = i; j < l->nrows; j++)
		if (pred(&l->rows[j]))
			return j;
	for (size_t j = i < l->nrows ? i : l->nrows; j-- > 0;)
		if (pred(&l->rows[j]))
			return j;
	return l->nrows;
}

uint64_t sctl_nav_clamp(const struct sctl_nav *n, uint64_t cursor)
{
	const struct sctl_layout *l = n->l;
	size_t i = sctl_layout_find(l, cursor), j;

	cursor &= ~(SPT_PAGE_SIZE - 1);
	if (i < l->nrows)
		return is_cells(&l->rows[i]) ? at_cell(n, &l->rows[i], cell_of(n, &l->rows[i], cursor))
					     : cursor;
	/* outside every VMA: the next row after it, else the last one */
	for (j = 0; j < l->nrows; j++)
		if (is_body(&l->rows[j]) && l->rows[j].vaddr > cursor)
			return l->rows[j].vaddr;
	j = near_row(l, l->nrows, is_body);
	if (j == l->nrows)
		return 0;
	return is_cells(&l->rows[j]) ? at_cell(n, &l->rows[j], UINT64_MAX) : l->rows[j].vaddr;
}

/* To another cell row, keeping the column. */
static uint64_t to_row(const struct sctl_nav *n, size_t j, uint64_t cell)
{
	return at_cell(n, &n->l->rows[j], cell);
}

/* The VMA heading row at or before i. */
static size_t heading_of(const struct sctl_layout *l, size_t i)
{
	while (i > 0 && l->rows[i].kind != SCTL_ROW_VMA)
		i--;
	return i;
}

static uint64_t vma_move(const struct sctl_nav *n, size_t i, uint64_t cursor, bool next)
{
	const struct sctl_layout *l = n->l;
	size_t h = heading_of(l, i), k;

	if (next) {
		for (k = i + 1; k < l->nrows && l->rows[k].kind != SCTL_ROW_VMA; k++)
			;
		return k + 1 < l->nrows ? l->rows[k + 1].vaddr : cursor;
	}
	if (cursor > l->rows[h].vaddr)
		return l->rows[h].vaddr; /* back to this VMA's start first */
	if (h == 0)
		return cursor;
	return l->rows[heading_of(l, h - 1)].vaddr;
}

uint64_t sctl_nav_move(const struct sctl_nav *n, uint64_t cursor, enum sctl_key_action key)
{
	const struct sctl_layout *l = n->l;
	size_t i = sctl_layout_find(l, cursor), j;
	uint64_t cell;

	if (i == l->nrows) {
		cursor = sctl_nav_clamp(n, cursor);
		i = sctl_layout_find(l, cursor);
		if (i == l->nrows)
			return cursor;
	}
	cell = cell_of(n, &l->rows[i], cursor);
	switch (key) {
	case SCTL_KEY_LEFT:
		if (is_cells(&l->rows[i]) && cell > 0)
			return to_row(n, i, cell - 1);
		j = seek_row(l, i, -1, is_cells);
		return j == i ? cursor : to_row(n, j, UINT64_MAX);
	case SCTL_KEY_RIGHT:
		if (is_cells(&l->rows[i]) && cell + 1 < ncells(n, &l->rows[i]))
			return to_row(n, i, cell + 1);
		j = seek_row(l, i, 1, is_cells);
		return j == i ? cursor : to_row(n, j, 0);
	case SCTL_KEY_UP:
	case SCTL_KEY_DOWN:
		j = seek_row(l, i, key == SCTL_KEY_UP ? -1 : 1, is_cells);
		return j == i ? cursor : to_row(n, j, cell);
	case SCTL_KEY_PAGE_UP:
		j = i > n->screen_rows ? i - n->screen_rows : 0;
		j = near_row(l, j, is_cells);
		return j == l->nrows ? cursor : to_row(n, j, cell);
	case SCTL_KEY_PAGE_DOWN:
		j = i + n->screen_rows < l->nrows ? i + n->screen_rows : l->nrows - 1;
		for (; j > i && !is_cells(&l->rows[j]); j--)
			;
		if (j == i)
			j = seek_row(l, i, 1, is_cells);
		return to_row(n, j, cell);
	case SCTL_KEY_HOME:
		j = near_row(l, 0, is_body);
		return j == l->nrows ? cursor : l->rows[j].vaddr;
	case SCTL_KEY_END:
		j = near_row(l, l->nrows, is_body);
		return j == l->nrows ? cursor : to_row(n, j, UINT64_MAX);
	case SCTL_KEY_NEXT_VMA:
	case SCTL_KEY_PREV_VMA:
		return vma_move(n, i, cursor, key == SCTL_KEY_NEXT_VMA);
	default:
		return cursor;
	}
}
