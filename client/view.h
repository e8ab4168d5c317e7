/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What a watch shows, whatever feeds it: the table rebuilt from the
 * daemon's frames, written as text lines, JSON Lines or the live view.
 * `watch` feeds it from the connection, `replay` from a recording, so
 * both print exactly the same for the same frames.
 */
#ifndef SHADOWCTL_VIEW_H
#define SHADOWCTL_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "render-tui.h"
#include "table.h"
#include "wire.h"

/* NONE: only the table and the errors (the recorder). */
enum sctl_out_mode { SCTL_OUT_NONE, SCTL_OUT_TEXT, SCTL_OUT_JSON, SCTL_OUT_TUI };

struct sctl_view;

/* Reports a frame that breaks the protocol (or a damaged recording); an exit code. */
typedef int (*sctl_view_violation_fn)(struct sctl_view *v, const char *why);

struct sctl_view {
	enum sctl_out_mode mode;
	bool json_errors; /* errors also as JSON events (set with mode JSON) */
	const Shadowpt__WatchStarted *ws;
	int32_t pid;
	struct sctl_table table;
	struct sctl_tui *tui; /* SCTL_OUT_TUI only */
	sctl_view_violation_fn violation;
	void *ctx; /* for violation */

	/* The data source's health (WatchStatus, protocol 2): 0 until said. */
	int watch_state;
	int watch_mode;
	char watch_message[160];

	uint64_t count; /* stop after this many deltas (0: never) */
	/* Added to frame times for received_ns: CLOCK_MONOTONIC in replays. */
	uint64_t recv_clock_base_ns;
	uint64_t deltas_seen;
	bool exited;
	bool count_reached; /* the caller ends the watch */
	bool violated;	    /* the last frame broke the protocol */
	bool dirty;	    /* table changed since the last draw */
	bool done;
	int status; /* exit code once done */

	/* Live view paused: the screen shows frozen, copied then, and its clock. */
	bool paused;
	struct sctl_table frozen;
	int64_t frozen_ms;
	uint64_t paused_deltas; /* table.deltas at the pause */

	/* deltas/s over a window of the caller's clock */
	int64_t rate_t0;
	uint64_t rate_n0;
	double rate;
	int64_t last_draw;
};

/*
 * The default violation handler: "protocol violation by shadowptd",
 * SCTL_EXIT_PROTOCOL.
 */
int sctl_view_protocol_violation(struct sctl_view *v, const char *why);

void sctl_view_init(struct sctl_view *v, enum sctl_out_mode mode, int32_t pid);
void sctl_view_set_mode(struct sctl_view *v, enum sctl_out_mode mode);
void sctl_view_free(struct sctl_view *v);
/* Back to before the first frame (replay seeks): empty table, not done. */
void sctl_view_reset(struct sctl_view *v);

/* The watch has started: prints the started line or event. */
void sctl_view_started(struct sctl_view *v, const Shadowpt__WatchStarted *ws);
/*
 * One frame of the watch, received at recv_ns on the caller's clock
 * (CLOCK_MONOTONIC live, the recording's clock in a replay: see
 * recv_clock_base_ns).
 */
void sctl_view_frame(struct sctl_view *v, const SptFrame *f, uint64_t recv_ns);
/* Ends the view with status (the first ending wins). */
void sctl_view_finish(struct sctl_view *v, int status);
/* The table's sequence number, -1 before the first snapshot. */
int64_t sctl_view_seq(const struct sctl_view *v);

/*
 * Pauses (or resumes) the live view at now_ms: the table keeps following
 * the target, the screen shows a copy of it taken now.
 */
void sctl_view_pause(struct sctl_view *v, bool on, int64_t now_ms);

/* Live view: ms until the next redraw is due (0: now), -1 without a TUI. */
int64_t sctl_view_redraw_due(const struct sctl_view *v, int64_t now_ms);
/*
 * Redraws with the caller's header fields (ws, pid, rate filled in here).
 * now_ms schedules redraws; table_ms is the time the highlights of recent
 * changes fade by (the recording's time in a replay).
 */
void sctl_view_draw(struct sctl_view *v, struct sctl_tui_header *h, int64_t now_ms,
		    int64_t table_ms);

#endif
