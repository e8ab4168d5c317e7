/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What one cell of the live page map shows: a summary of its pages (1, 8,
 * 64 or 512 of them, by the zoom) and its glyph; and which frames are
 * shared by several pages of the target, or are the zero page, for the
 * pages on screen. Pure functions of the state, unit tested.
 *
 * Glyphs, one page per cell: ' ' outside every VMA, '.' allocated but not
 * mapped, 'a' anonymous and 'f' file or shared memory mapped, 'H' part of
 * a huge page, 's' swapped out, '0' the shared zero page, '=' a frame
 * another page of the target maps too. Zoomed out: ' ' nothing allocated,
 * '.' none mapped, 's' none mapped but some swapped, ':' some mapped, '#'
 * all mapped.
 */
#ifndef SHADOWCTL_TUI_CELLS_H
#define SHADOWCTL_TUI_CELLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"

struct sctl_cell {
	uint64_t pages;	    /* the cell's pages */
	uint64_t allocated; /* of them inside the VMA */
	uint64_t mapped, swapped;
	bool thp;
	bool anon;   /* the VMA is anonymous (private) */
	bool zero;   /* one page: the shared zero page */
	bool shared; /* one page: its frame is mapped by another page too */
};

/* Sums the npages pages from vaddr, which lie in vma (NULL: outside every VMA). */
void sctl_cell_sum(const struct spt_state *st, const struct spt_vma *vma, uint64_t vaddr,
		   uint64_t npages, struct sctl_cell *out);
char sctl_cell_glyph(const struct sctl_cell *c);

/* The legend of the glyphs at a zoom: pairs of glyph and meaning, NULL-ended. */
struct sctl_glyph_help {
	char glyph;
	const char *what;
};
const struct sctl_glyph_help *sctl_glyph_legend(unsigned zoom);

/*
 * Frames of interest (the pages on screen, the cursor's page) and how many
 * pages of the whole target map each. A frame mapped by a run of two or
 * more pages with the same frame in an anonymous VMA is the zero page
 * (nothing else maps one frame at consecutive private addresses, but a
 * KSM-merged page).
 */
struct sctl_frames {
	uint64_t *frame;
	uint64_t *users;
	bool *zero;
	size_t n, cap;
	bool counted;
};

void sctl_frames_init(struct sctl_frames *f);
void sctl_frames_free(struct sctl_frames *f);
void sctl_frames_clear(struct sctl_frames *f);
/* Adds a frame to look at; 0 or -ENOMEM. */
int sctl_frames_add(struct sctl_frames *f, uint64_t frame);
/* Counts the users of every frame added, over all of st: O(runs * log frames). */
void sctl_frames_count(struct sctl_frames *f, const struct spt_state *st);
/* Users of a counted frame (0 if it was not added); *zero: it is the zero page. */
uint64_t sctl_frames_users(const struct sctl_frames *f, uint64_t frame, bool *zero);

#endif
