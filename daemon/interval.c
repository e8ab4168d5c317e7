// SPDX-License-Identifier: GPL-2.0-or-later
/* Adaptive sampling interval: reset on change, geometric back-off when idle. */
#include "interval.h"
#include "shadowpt-limits.h"

static uint32_t clamp_ms(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void interval_init(struct spt_interval *iv, uint32_t min_ms, uint32_t max_ms, uint32_t def_min,
		   uint32_t def_max)
{
	iv->min_ms =
	    clamp_ms(min_ms ? min_ms : def_min, SPT_SAMPLE_MIN_MS_FLOOR, SPT_SAMPLE_MAX_MS_CEIL);
	iv->max_ms =
	    clamp_ms(max_ms ? max_ms : def_max, SPT_SAMPLE_MIN_MS_FLOOR, SPT_SAMPLE_MAX_MS_CEIL);
	if (iv->max_ms < iv->min_ms)
		iv->max_ms = iv->min_ms;
	iv->cur_ms = iv->min_ms;
}

void interval_set_bounds(struct spt_interval *iv, uint32_t min_ms, uint32_t max_ms)
{
	iv->min_ms = min_ms;
	iv->max_ms = max_ms;
	iv->cur_ms = clamp_ms(iv->cur_ms, min_ms, max_ms);
}

uint32_t interval_next(struct spt_interval *iv, bool changed)
{
	if (changed)
		iv->cur_ms = iv->min_ms;
	else if (iv->cur_ms >= iv->max_ms / 2)
		iv->cur_ms = iv->max_ms;
	else
		iv->cur_ms *= 2;
	return iv->cur_ms;
}

uint32_t interval_with_cost(uint32_t ms, uint64_t last_sample_ns)
{
	uint64_t floor_ms = last_sample_ns / 1000000u * SPT_SAMPLE_COST_FACTOR;

	if (floor_ms > SPT_SAMPLE_MAX_MS_CEIL)
		floor_ms = SPT_SAMPLE_MAX_MS_CEIL;
	return ms > floor_ms ? ms : (uint32_t)floor_ms;
}
