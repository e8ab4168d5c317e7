/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live view's page detail pane as lines of text: the selected page
 * (address, flags, frame or token and who else maps it), its VMA (range,
 * permissions, kind, offset, name, resident pages), and when and why it
 * last changed. A pure function of the table, unit tested.
 */
#ifndef SHADOWCTL_TUI_DETAIL_H
#define SHADOWCTL_TUI_DETAIL_H

#include <stddef.h>
#include <stdint.h>

#include "table.h"
#include "tui-cells.h"

#define SCTL_DETAIL_LINES 14
#define SCTL_DETAIL_WIDTH 96 /* bytes a line holds, escapes included */

struct sctl_detail {
	char line[SCTL_DETAIL_LINES][SCTL_DETAIL_WIDTH];
	size_t n;
};

struct sctl_detail_in {
	const struct sctl_table *t;
	uint64_t vaddr;	  /* the selected page */
	uint64_t cell_pages; /* the zoom: pages in the selected cell */
	int visibility;	  /* PfnVisibility of the watch */
	int64_t now_ms;	  /* the table's clock */
	const struct sctl_frames *frames; /* counted, holding the page's frame; or NULL */
	size_t width;	  /* columns a line may use */
};

void sctl_detail_build(struct sctl_detail *out, const struct sctl_detail_in *in);

#endif
