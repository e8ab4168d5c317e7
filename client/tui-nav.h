/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Moving the live view's cursor over a layout (tui-layout.h): by cell,
 * row, screen, VMA, or to the first or last page. The cursor is a page
 * address, so it stays put when the layout is rebuilt (new deltas, zoom,
 * resize); rows of cells fold away but the cursor's row never does
 * (sctl_layout_keep). Pure functions, unit tested.
 */
#ifndef SHADOWCTL_TUI_NAV_H
#define SHADOWCTL_TUI_NAV_H

#include <stddef.h>
#include <stdint.h>

#include "tui-keys.h"
#include "tui-layout.h"

struct sctl_nav {
	const struct sctl_layout *l;
	uint64_t cell_pages; /* the zoom */
	size_t screen_rows;  /* rows a page up or down moves */
};

/*
 * The cursor after a movement key (UP, DOWN, LEFT, RIGHT, PAGE_UP,
 * PAGE_DOWN, HOME, END, NEXT_VMA, PREV_VMA); other keys leave it.
 */
uint64_t sctl_nav_move(const struct sctl_nav *n, uint64_t cursor, enum sctl_key_action key);
/*
 * A cursor made valid: the first page of its cell in a row of the layout,
 * or of the nearest row after it (before it, at the end) when it lies
 * outside every VMA; 0 for an empty layout.
 */
uint64_t sctl_nav_clamp(const struct sctl_nav *n, uint64_t cursor);

#endif
