/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Draws a plot model (plot-model.h) with cairo, the same code for the
 * SVG, PNG and PDF surfaces: a title, the address x time heat map per
 * region, resident pages per VMA kind over time, the VMAs' lives, and a
 * legend. Units are pixels of the PNG (points in the PDF).
 */
#ifndef SHADOWCTL_PLOT_DRAW_H
#define SHADOWCTL_PLOT_DRAW_H

#include <stddef.h>

#include <cairo.h>

#include "plot-model.h"

/* Where a region's band is, for the caller (plot --json) and tests. */
struct plot_band {
	size_t region;
	double y0, y1; /* y0: top (the region's end), y1: bottom (its start) */
};

struct plot_layout {
	double width, height;
	double x0, x1; /* the time axis of every panel: 0 s at x0, the end at x1 */
	double heat_y0, heat_y1;
	struct plot_band *bands;
	size_t nbands;
	double res_y0, res_y1;
	double life_y0, life_y1, life_row;
	size_t *life; /* model->vmas indexes shown, top to bottom */
	size_t nlife, life_hidden;
};

/* Lays the picture out for the model (sizes first: surfaces need them). */
int plot_layout(struct plot_layout *l, const struct plot_model *m);
void plot_layout_free(struct plot_layout *l);

/*
 * Loads the fonts the drawing uses, so that nothing is opened later (the
 * sandbox comes after this). Returns 0 or -1.
 */
int plot_fonts_load(void);

/* Draws everything; the cairo status says whether it worked. */
void plot_draw(cairo_t *cr, const struct plot_model *m, const struct plot_layout *l);

/* The x of a time since the start, the y of an address in a band. */
double plot_x_of(const struct plot_layout *l, const struct plot_model *m, double t_ns);
double plot_y_of(const struct plot_band *b, const struct plot_region *r, double addr);

#endif
