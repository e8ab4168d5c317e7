/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What `shadowctl plot` draws, reduced from a recording (plot-build.c) to
 * numbers on a grid, so the drawing (plot-draw.c) knows nothing of
 * frames and the reduction nothing of cairo:
 *
 * - regions: the address ranges any VMA ever covered, adjacent VMAs
 *   merged (a library's segments are one region), each cut into rows;
 * - per region, row and time column: how much of the row was allocated
 *   and mapped at the column's end, and the page events in the column by
 *   class (mapped by read fault, write fault or otherwise; a new frame;
 *   unmapped by munmap or by madvise and the like);
 * - resident pages per VMA kind at each column's end;
 * - every VMA's life: when it appeared and went.
 */
#ifndef SHADOWCTL_PLOT_MODEL_H
#define SHADOWCTL_PLOT_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Page event classes of the heat map, in legend order. */
enum plot_event {
	PLOT_EV_READ_FAULT,  /* mapped by a read fault */
	PLOT_EV_WRITE_FAULT, /* mapped by a write fault */
	PLOT_EV_MAPPED,	     /* mapped, cause not known or another */
	PLOT_EV_NEW_FRAME,   /* still mapped, another frame (COW, migration) */
	PLOT_EV_UNMAPPED,    /* unmapped: munmap, exit, cause not known */
	PLOT_EV_ZAPPED,	     /* unmapped in place: madvise, reclaim, zap */
	PLOT_EV_COUNT,
};

/* VMA kinds of the resident-pages chart, as in state.h (1..4), 0 unused. */
#define PLOT_KINDS 5

struct plot_region {
	uint64_t start, end; /* page aligned */
	char label[64];	     /* "[heap]", "libc.so.6", "anon", ... */
	int kind;	     /* of its largest VMA */
	bool active;	     /* something changed in it after the first snapshot */
	/* Set by the layout (plot_model_layout): its height in pixels, and
	 * rows of pages_per_row pages each (fewer rows than pixels when
	 * the region has fewer pages). */
	unsigned height;
	unsigned rows;
	uint64_t pages_per_row;
	/* rows x ncols, row 0 = the lowest addresses */
	float *allocated;	/* fraction of the row inside a VMA */
	float *mapped;		/* fraction of the row mapped */
	uint32_t *events[PLOT_EV_COUNT];
};

struct plot_vma_life {
	uint64_t start, end;
	uint64_t born_ns, died_ns; /* since the start; died UINT64_MAX: alive at the end */
	bool at_start;		   /* in the first snapshot */
	int kind;
	char name[64];
};

struct plot_model {
	/* about the recording */
	int32_t pid;
	char comm[32];
	char host[64];
	char backend[32];
	char visibility[16];
	uint64_t start_realtime_ns;
	uint64_t duration_ns;
	bool causes;  /* some delta said why */
	bool damaged; /* read up to damage (plot says so) */
	uint64_t frames, deltas;

	unsigned ncols; /* time columns over [0, duration_ns] */
	struct plot_region *regions;
	size_t nregions;
	uint64_t *resident[PLOT_KINDS]; /* ncols each: mapped pages per VMA kind */
	uint64_t peak_resident;		/* the highest column total */
	uint64_t event_totals[PLOT_EV_COUNT];
	struct plot_vma_life *vmas;
	size_t nvmas;
};

void plot_model_init(struct plot_model *m);
void plot_model_free(struct plot_model *m);

/* The column of a time since the start. */
unsigned plot_model_col(const struct plot_model *m, uint64_t t_ns);
/* The region holding addr, or NULL. Binary search. */
struct plot_region *plot_model_region(const struct plot_model *m, uint64_t addr);
/* A region's row of addr (inside it). */
unsigned plot_region_row(const struct plot_region *r, uint64_t addr);

/*
 * Gives each region a height (at least min_height pixels, together about
 * total_height; bigger regions get more, by the log of their size), rows
 * (one per pixel, or per page when there are fewer) and its grids.
 * Regions that are not active get none when active_only. Returns 0 or
 * -ENOMEM.
 */
int plot_model_layout(struct plot_model *m, unsigned total_height, unsigned min_height,
		      bool active_only);

#endif
