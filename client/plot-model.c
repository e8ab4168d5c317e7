/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The plot's reduced data and its row layout; see plot-model.h. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot-model.h"
#include "shadowpt-limits.h"

void plot_model_init(struct plot_model *m)
{
	memset(m, 0, sizeof(*m));
}

static void region_free_grids(struct plot_region *r)
{
	free(r->allocated);
	free(r->mapped);
	for (int e = 0; e < PLOT_EV_COUNT; e++)
		free(r->events[e]);
	r->allocated = r->mapped = NULL;
	memset(r->events, 0, sizeof(r->events));
}

void plot_model_free(struct plot_model *m)
{
	for (size_t i = 0; i < m->nregions; i++)
		region_free_grids(&m->regions[i]);
	free(m->regions);
	for (int k = 0; k < PLOT_KINDS; k++)
		free(m->resident[k]);
	free(m->vmas);
	plot_model_init(m);
}

unsigned plot_model_col(const struct plot_model *m, uint64_t t_ns)
{
	unsigned c;

	if (!m->ncols)
		return 0;
	if (!m->duration_ns || t_ns >= m->duration_ns)
		return m->ncols - 1;
	c = (unsigned)((double)t_ns / (double)m->duration_ns * m->ncols);
	return c < m->ncols ? c : m->ncols - 1;
}

struct plot_region *plot_model_region(const struct plot_model *m, uint64_t addr)
{
	size_t lo = 0, hi = m->nregions;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		struct plot_region *r = &m->regions[mid];

		if (addr < r->start)
			hi = mid;
		else if (addr >= r->end)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

unsigned plot_region_row(const struct plot_region *r, uint64_t addr)
{
	uint64_t page = (addr - r->start) / SPT_PAGE_SIZE;
	uint64_t row = r->pages_per_row ? page / r->pages_per_row : 0;

	return row < r->rows ? (unsigned)row : r->rows - 1;
}

static double weight(const struct plot_region *r)
{
	return 1 + log2((double)((r->end - r->start) / SPT_PAGE_SIZE) + 1);
}

int plot_model_layout(struct plot_model *m, unsigned total_height, unsigned min_height,
		      bool active_only)
{
	double sum = 0;
	size_t cells;

	for (size_t i = 0; i < m->nregions; i++)
		if (m->regions[i].active || !active_only)
			sum += weight(&m->regions[i]);
	for (size_t i = 0; i < m->nregions; i++) {
		struct plot_region *r = &m->regions[i];
		uint64_t pages = (r->end - r->start) / SPT_PAGE_SIZE;
		unsigned rows;

		region_free_grids(r);
		r->rows = r->height = 0;
		if (active_only && !r->active)
			continue;
		r->height = (unsigned)(total_height * weight(r) / sum);
		if (r->height < min_height)
			r->height = min_height;
		rows = r->height;
		if (rows > pages)
			rows = (unsigned)pages; /* one row per page at most */
		r->pages_per_row = (pages + rows - 1) / rows;
		r->rows = (unsigned)((pages + r->pages_per_row - 1) / r->pages_per_row);
		cells = (size_t)r->rows * m->ncols;
		r->allocated = calloc(cells, sizeof(float));
		r->mapped = calloc(cells, sizeof(float));
		if (!r->allocated || !r->mapped)
			return -ENOMEM;
		for (int e = 0; e < PLOT_EV_COUNT; e++) {
			r->events[e] = calloc(cells, sizeof(uint32_t));
			if (!r->events[e])
				return -ENOMEM;
		}
	}
	for (int k = 0; k < PLOT_KINDS; k++) {
		free(m->resident[k]);
		m->resident[k] = calloc(m->ncols ? m->ncols : 1, sizeof(uint64_t));
		if (!m->resident[k])
			return -ENOMEM;
	}
	return 0;
}
