/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon's one clock: CLOCK_MONOTONIC, what snapshots and deltas are
 * stamped with (doc/protocol.md), deadlines measured in, and perf events
 * are timed by. Any thread.
 */
#ifndef SHADOWPTD_CLOCK_H
#define SHADOWPTD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t spt_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t spt_now_ms(void)
{
	return spt_now_ns() / 1000000ull;
}

#endif
