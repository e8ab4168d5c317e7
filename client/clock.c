/* SPDX-License-Identifier: GPL-2.0-or-later */
/* CLOCK_MONOTONIC in ns and ms; see clock.h. */
#include <time.h>

#include "clock.h"

uint64_t sctl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t sctl_now_ms(void)
{
	return (int64_t)(sctl_now_ns() / 1000000u);
}
