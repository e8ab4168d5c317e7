/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Starting and stopping a watch, shared by the watch, snapshot and peek
 * commands, and the common handling of Error frames.
 */
#ifndef SHADOWCTL_WATCH_REQ_H
#define SHADOWCTL_WATCH_REQ_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "table.h"
#include "state.h"

struct sctl_watch_req {
	int32_t pid;
	bool has_range;
	struct spt_range range;
	int backend;		 /* 0: the daemon's default */
	uint32_t min_ms, max_ms; /* 0: the daemon's default */
};

/*
 * Sends Watch and waits for its WatchStarted; returns 0 with *started set
 * (free with spt_frame_free), or an exit code after reporting the error
 * (an Error reply, TargetExited: SCTL_EXIT_NO_PROCESS, anything else:
 * SCTL_EXIT_PROTOCOL). Ctrl-C: 0 with *started NULL.
 */
int sctl_watch_start(struct sctl_conn *c, const struct sctl_watch_req *req, bool json,
		     SptFrame **started);
/* Sends Unwatch and waits briefly for Unwatched, ignoring other frames. */
void sctl_watch_stop(struct sctl_conn *c, uint32_t watch_id);

struct sctl_global;

/* What a one-shot command does once its watch has started; an exit code. */
typedef int (*sctl_watch_body)(struct sctl_conn *c, const Shadowpt__WatchStarted *ws,
			       struct sctl_table *t, bool json, void *ctx);

/*
 * The life of a one-shot command (snapshot, peek): connect, enter the
 * sandbox, handshake, start the watch, run body, unwatch, and check that
 * the output was written. Returns the command's exit code.
 */
int sctl_run_watch(const struct sctl_global *g, const struct sctl_watch_req *req, bool json,
		   sctl_watch_body body, void *ctx);

#endif
