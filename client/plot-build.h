/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reduces a recording to a plot model (plot-model.h), in two passes over
 * the file: the first learns the duration, every VMA's life, the regions
 * and where anything changed; the second replays the frames into a table
 * and fills the grids. Damage (recfile.h, or a frame the table refuses)
 * ends the reading where it is: the model holds what came before, and
 * says so.
 */
#ifndef SHADOWCTL_PLOT_BUILD_H
#define SHADOWCTL_PLOT_BUILD_H

#include <stdbool.h>

#include "plot-model.h"
#include "recfile.h"

/* The thinnest band of the heat map, in pixels (room for its two labels). */
#define PLOT_BAND_MIN_HEIGHT 30u

struct plot_options {
	unsigned columns; /* time columns */
	unsigned height;  /* of the heat map's bands together, about, in pixels */
	bool all_regions; /* also regions where nothing changed */
};

/*
 * Builds m from the open reader r (rewound as needed). Returns 0 (with
 * m->damaged and why set if the file is damaged part way), or -1 with
 * why set when nothing could be read.
 */
int plot_build(struct plot_model *m, struct sctl_rec_reader *r, const struct plot_options *o,
	       char *why, size_t why_size);

#endif
