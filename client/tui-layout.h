/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Layout of the live page map, as a pure function of the state and the
 * terminal width so it can be unit tested. Per VMA: a heading row, then
 * rows of cells (of 1, 8, 64 or 512 pages: the zoom), aligned to the VMA
 * start. Only rows where a
 * run of page entries starts or ends, and their neighbours, are shown;
 * any longer stretch of unpopulated rows folds into one "... N pages
 * unpopulated ..." row, and any longer stretch of rows inside one run
 * (all alike: a 1 TiB zero-page mapping) into one "... N pages like the
 * row above ..." row. So a 32 GiB reservation or a 1 TiB run costs a
 * handful of rows. Cost: O(VMAs + runs), never O(pages).
 */
#ifndef SHADOWCTL_TUI_LAYOUT_H
#define SHADOWCTL_TUI_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "state.h"

enum sctl_row_kind {
	SCTL_ROW_VMA,	/* heading of st->vmas[vma] */
	SCTL_ROW_PAGES, /* npages cells starting at vaddr */
	SCTL_ROW_FOLD,	/* npages unpopulated pages starting at vaddr, folded */
	SCTL_ROW_RUN,	/* npages pages inside one run starting at vaddr, folded */
};

struct sctl_row {
	enum sctl_row_kind kind;
	uint32_t vma;
	uint64_t vaddr;
	uint64_t npages;
};

struct sctl_layout {
	struct sctl_row *rows;
	size_t nrows, cap;
};

void sctl_layout_init(struct sctl_layout *l);
void sctl_layout_free(struct sctl_layout *l);

/*
 * Rebuilds l for st with row_pages pages per row (>= 1: the cells of a
 * row times the pages per cell of the zoom) and context rows shown on
 * each side of a row where a run starts or ends. Stretches of two or
 * more other rows fold. Returns 0 or -ENOMEM.
 */
int sctl_layout_build(struct sctl_layout *l, const struct spt_state *st, uint64_t row_pages,
		      unsigned context);

/*
 * Unfolds the row holding vaddr (the cursor's), if a fold holds it: the
 * fold splits around one page row. 0 or -ENOMEM.
 */
int sctl_layout_keep(struct sctl_layout *l, uint64_t vaddr, uint64_t row_pages);

/* The index of the page or fold row holding vaddr, or l->nrows if none. */
size_t sctl_layout_find(const struct sctl_layout *l, uint64_t vaddr);

/* Cells that fit in a terminal of the given width (multiple of 8, >= 8). */
unsigned sctl_layout_cols(int term_width);

/* Width of the address column before the cells: 12 hex digits + space. */
#define SCTL_LAYOUT_ADDR_WIDTH 13

#endif
