/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Adaptive sampling interval: after a sample that changed something the
 * next one comes after min_ms; each idle sample doubles the interval up to
 * max_ms. A watched process that is busy is sampled fast, an idle one costs
 * almost nothing.
 */
#ifndef SHADOWPTD_INTERVAL_H
#define SHADOWPTD_INTERVAL_H

#include <stdbool.h>
#include <stdint.h>

struct spt_interval {
	uint32_t min_ms, max_ms, cur_ms;
};

/*
 * Clamps requested bounds (0 = daemon default) to the daemon's limits:
 * SPT_SAMPLE_MIN_MS_FLOOR <= min <= max <= SPT_SAMPLE_MAX_MS_CEIL.
 */
void interval_init(struct spt_interval *iv, uint32_t min_ms, uint32_t max_ms, uint32_t def_min,
		   uint32_t def_max);
/* Valid bounds (from interval_init); the current interval moves within them. */
void interval_set_bounds(struct spt_interval *iv, uint32_t min_ms, uint32_t max_ms);
/* The interval after a sample; changed = the sample produced a delta. */
uint32_t interval_next(struct spt_interval *iv, bool changed);

/*
 * A sample runs on the event loop, so an expensive one (a huge address
 * space through procfs) must not run back to back: the delay before the
 * next sample is at least SPT_SAMPLE_COST_FACTOR times what the last one
 * took, keeping one session's share of the loop under 1/(factor+1).
 */
#define SPT_SAMPLE_COST_FACTOR 4u
uint32_t interval_with_cost(uint32_t ms, uint64_t last_sample_ns);

#endif
