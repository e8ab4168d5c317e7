/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon-wide bounds, fixed at startup from the process limits:
 * RLIMIT_NOFILE is raised to its hard limit (at most SPT_MAX_FDS), and
 * what it allows less SPT_FD_RESERVE is shared between the perf rings of
 * the event sources (at most SPT_MAX_PERF_RINGS, at most a quarter of the
 * fds, and no more than RLIMIT_MEMLOCK plus the kernel's
 * perf_event_mlock_kb can lock) and the pool of connections and sessions
 * (user.h). The memory pool is SPT_MEMORY_TOTAL.
 */
#ifndef SHADOWPTD_RLIMITS_H
#define SHADOWPTD_RLIMITS_H

#include <stdint.h>

struct spt_bounds {
	uint64_t nofile;    /* RLIMIT_NOFILE after raising it */
	uint64_t fd_pool;   /* fds for connections and sessions */
	unsigned rings;	    /* perf rings of all sessions together */
	uint64_t ring_fds;  /* fds those rings may hold */
	uint64_t memlock;   /* RLIMIT_MEMLOCK */
	uint64_t memory;    /* the memory pool */
	uint64_t memory_per_uid;
};

/*
 * Raises RLIMIT_NOFILE, computes the bounds (memory and memory_per_uid
 * as given: 0 means the built-in limit), sets the ring budget and the
 * pools of user.h, and logs them.
 */
void spt_bounds_setup(uint64_t memory, uint64_t memory_per_uid, struct spt_bounds *out);

#endif
