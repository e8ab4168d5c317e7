// SPDX-License-Identifier: GPL-2.0-or-later
/* Daemon-wide bounds from RLIMIT_NOFILE and RLIMIT_MEMLOCK; see rlimits.h. */
#include <stdio.h>
#include <sys/resource.h>

#include "backend.h"
#include "log.h"
#include "rlimits.h"
#include "shadowpt-limits.h"
#include "user.h"

/* perf_event_mlock_kb: what perf lets each user lock beyond RLIMIT_MEMLOCK. */
static uint64_t perf_mlock_allowance(void)
{
	unsigned long kb = 0;
	FILE *f = fopen("/proc/sys/kernel/perf_event_mlock_kb", "re");

	if (f) {
		if (fscanf(f, "%lu", &kb) != 1)
			kb = 0;
		fclose(f);
	}
	return (uint64_t)kb * 1024;
}

static uint64_t raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > SPT_MAX_FDS ? SPT_MAX_FDS : rl.rlim_max;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > want)
		rl.rlim_cur = want; /* never more than SPT_MAX_FDS */
	else if (rl.rlim_cur < want)
		rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || getrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("cannot set RLIMIT_NOFILE: %m");
	return rl.rlim_cur == RLIM_INFINITY ? SPT_MAX_FDS : (uint64_t)rl.rlim_cur;
}

static uint64_t memlock_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0)
		return 0;
	return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : (uint64_t)rl.rlim_cur;
}

void spt_bounds_setup(uint64_t memory, uint64_t memory_per_uid, struct spt_bounds *b)
{
	uint64_t total, ring_bytes = spt_backend_ring_bytes(), rings = SPT_MAX_PERF_RINGS;
	unsigned per_ring = 0;

	b->nofile = raise_nofile();
	total = b->nofile > 2 * SPT_FD_RESERVE ? b->nofile - SPT_FD_RESERVE : b->nofile / 2;
	b->memlock = memlock_limit();
	if (ring_bytes && b->memlock != UINT64_MAX) {
		uint64_t lockable = (b->memlock + perf_mlock_allowance()) / ring_bytes;

		if (rings > lockable)
			rings = lockable;
	}
	spt_backend_set_ring_budget(0, &per_ring);
	if (per_ring && rings > total / 4 / per_ring)
		rings = total / 4 / per_ring;
	b->rings = spt_backend_set_ring_budget((unsigned)rings, &per_ring);
	b->ring_fds = (uint64_t)b->rings * per_ring;
	b->fd_pool = total - b->ring_fds;
	b->memory = memory && memory < SPT_MEMORY_TOTAL ? memory : SPT_MEMORY_TOTAL;
	b->memory_per_uid =
	    memory_per_uid && memory_per_uid < SPT_MEMORY_PER_UID ? memory_per_uid : SPT_MEMORY_PER_UID;
	{
		const uint64_t pool[SPT_SLOT_N] = {
		    [SPT_SLOT_MEMORY] = b->memory,
		    [SPT_SLOT_FDS] = b->fd_pool,
		    [SPT_SLOT_CONNECTIONS] = UINT64_MAX,
		    [SPT_SLOT_WATCHES] = UINT64_MAX,
		};
		const uint64_t per_uid[SPT_SLOT_N] = {
		    [SPT_SLOT_MEMORY] = b->memory_per_uid,
		    [SPT_SLOT_FDS] = UINT64_MAX,
		    [SPT_SLOT_CONNECTIONS] = SPT_MAX_CONNECTIONS_PER_UID,
		    [SPT_SLOT_WATCHES] = SPT_MAX_WATCHES_PER_UID,
		};

		spt_users_init(pool, per_uid);
	}
	log_info("bounds: %llu fds (%llu for connections and sessions, %u perf rings of %llu "
		 "KiB locked), %llu MiB of memory (%llu MiB per uid)",
		 (unsigned long long)b->nofile, (unsigned long long)b->fd_pool, b->rings,
		 (unsigned long long)(ring_bytes / 1024), (unsigned long long)(b->memory >> 20),
		 (unsigned long long)(b->memory_per_uid >> 20));
}
