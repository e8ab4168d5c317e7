/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The client's one clock: CLOCK_MONOTONIC, the clock of the daemon's timestamps. */
#ifndef SHADOWCTL_CLOCK_H
#define SHADOWCTL_CLOCK_H

#include <stdint.h>

uint64_t sctl_now_ns(void);
int64_t sctl_now_ms(void);

#endif
