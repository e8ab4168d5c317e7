// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: adaptive sampling interval. */
#include <stdio.h>

#include "interval.h"
#include "test-common.h"
#include "shadowpt-limits.h"


int main(void)
{
	struct spt_interval iv;

	interval_init(&iv, 0, 0, 20, 500);
	EXPECT(iv.min_ms == 20 && iv.max_ms == 500 && iv.cur_ms == 20);
	EXPECT(interval_next(&iv, false) == 40);
	EXPECT(interval_next(&iv, false) == 80);
	EXPECT(interval_next(&iv, false) == 160);
	EXPECT(interval_next(&iv, false) == 320);
	EXPECT(interval_next(&iv, false) == 500);
	EXPECT(interval_next(&iv, false) == 500);
	EXPECT(interval_next(&iv, true) == 20);
	EXPECT(interval_next(&iv, false) == 40);
	/* Requests are clamped to the daemon's floor and ceiling. */
	interval_init(&iv, 1, 1000000, 20, 500);
	EXPECT(iv.min_ms == SPT_SAMPLE_MIN_MS_FLOOR && iv.max_ms == SPT_SAMPLE_MAX_MS_CEIL);
	/* max below min: max follows min. */
	interval_init(&iv, 300, 100, 20, 500);
	EXPECT(iv.min_ms == 300 && iv.max_ms == 300);
	EXPECT(interval_next(&iv, false) == 300);
	/* An odd max is reached exactly, never overshot. */
	interval_init(&iv, 7, 100, 20, 500);
	for (int i = 0; i < 10; i++)
		EXPECT(interval_next(&iv, false) <= 100);
	EXPECT(iv.cur_ms == 100);
	/* Cheap samples leave the interval alone; costly ones stretch it. */
	EXPECT(interval_with_cost(20, 300000) == 20);
	EXPECT(interval_with_cost(20, 50000000) == 50 * SPT_SAMPLE_COST_FACTOR);
	EXPECT(interval_with_cost(500, 50000000) == 500);
	EXPECT(interval_with_cost(20, 60000000000ull) == SPT_SAMPLE_MAX_MS_CEIL);
	return spt_test_done();
}
