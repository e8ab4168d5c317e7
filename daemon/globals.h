/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The daemon-wide state every module of the loop reads: the event base,
 * the options, the bounds fixed at startup, and the counters Status
 * reports. Set up by shadowptd.c and server.c before the loop runs;
 * below every loop module (see README.md), so that none needs server.h.
 */
#ifndef SHADOWPTD_GLOBALS_H
#define SHADOWPTD_GLOBALS_H

#include <stdbool.h>
#include <stdint.h>

#include "rlimits.h"

struct event_base;

/*
 * Daemon-internal deadlines (not part of the protocol, so not in
 * proto/limits.h).
 */
#define SPT_HANDSHAKE_TIMEOUT_MS 10000u /* Hello must arrive by then */
#define SPT_CLOSE_FLUSH_MS	 2000u	/* after a fatal Error, flush at most this */
#define SPT_SHUTDOWN_FLUSH_MS	 1000u	/* on SIGTERM, flush viewers at most this */
#define SPT_DEADLINE_CHECK_MS	 500u	/* period of the deadline scan */

struct spt_stats {
	uint64_t frames_in, frames_out, bytes_out;
	uint64_t deltas_dropped, resyncs, viewers_disconnected;
	uint64_t snapshots_encoded; /* once per session, class and seq: not per viewer */
};

struct spt_server_opts {
	const char *socket_path;
	int backend; /* Shadowpt__Backend default */
	uint32_t min_ms, max_ms;
	bool no_events; /* --no-events: every session polls */
	/* --max-session-runs/-vmas, --memory-per-uid/-total: lower than built in (0: those) */
	uint64_t max_runs, max_vmas, memory, memory_per_uid;
};

extern struct event_base *spt_base;
extern struct spt_stats spt_stats;
extern struct spt_server_opts spt_opts;
extern struct spt_bounds spt_bounds; /* fixed at startup (rlimits.h) */
extern char spt_kernel_why[160];
extern bool spt_pfns_readable; /* daemon has CAP_SYS_ADMIN: pagemap has pfns */
extern bool spt_shutting_down;
extern uint64_t spt_start_ms;

#endif
