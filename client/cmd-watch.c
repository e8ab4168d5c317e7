/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `shadowctl watch`: start a watch, rebuild the table from the snapshot
 * and deltas, and show it live (TUI) or as one line/object per event.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "conn.h"
#include "render-json.h"
#include "render-text.h"
#include "render-tui.h"
#include "shadowctl.h"
#include "table.h"
#include "watch-req.h"

/* Redraw period of the TUI (counters, fading highlights). */
#define SCTL_TUI_TICK_MS 250
/* Changes are shown at most this often: bursts of deltas share a redraw. */
#define SCTL_TUI_MIN_REDRAW_MS 50
/* Window over which deltas/s is measured. */
#define SCTL_RATE_WINDOW_MS 1000

enum output_mode { OUT_TEXT, OUT_JSON, OUT_TUI };

struct watch {
	const struct sctl_global *g;
	struct sctl_conn conn;
	struct sctl_watch_req req;
	uint64_t count;
	enum output_mode mode;
	struct sctl_tui *tui;
	SptFrame *started;
	const Shadowpt__WatchStarted *ws;
	struct sctl_table table;
	uint64_t deltas_seen;
	bool exited;
	bool dirty; /* table changed since the last draw */
	bool done;
	int status;
	int64_t rate_t0;
	uint64_t rate_n0;
	double rate;
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_watch_args(struct watch *w, bool *json, bool *no_tui, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"range", required_argument, NULL, 'r'},	{"backend", required_argument, NULL, 'b'},
	    {"interval", required_argument, NULL, 'i'}, {"count", required_argument, NULL, 'c'},
	    {"no-tui", no_argument, NULL, 'T'},		{"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},		{NULL, 0, NULL, 0},
	};
	const char *why;
	int c;

	while ((c = getopt_long(argc, argv, ":r:b:i:c:Tjh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (sctl_parse_range(optarg, &w->req.range, &why) < 0)
				return sctl_usage_error("watch", "invalid --range '%s': %s", optarg,
							why);
			w->req.has_range = true;
			break;
		case 'b':
			if (sctl_parse_backend(optarg, &w->req.backend, &why) < 0)
				return sctl_usage_error("watch", "invalid --backend '%s': %s",
							optarg, why);
			break;
		case 'i':
			if (sctl_parse_interval(optarg, &w->req.min_ms, &w->req.max_ms, &why) < 0)
				return sctl_usage_error("watch", "invalid --interval '%s': %s",
							optarg, why);
			break;
		case 'c':
			if (sctl_parse_count(optarg, &w->count, &why) < 0)
				return sctl_usage_error("watch", "invalid --count '%s': %s", optarg,
							why);
			break;
		case 'T':
			*no_tui = true;
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			sctl_help_watch();
			return -1;
		default:
			return sctl_option_error("watch", argc, argv, c);
		}
	}
	if (optind >= argc)
		return sctl_usage_error("watch", "missing PID");
	if (optind + 1 < argc)
		return sctl_usage_error("watch", "unexpected argument '%s'", argv[optind + 1]);
	if (sctl_parse_pid(argv[optind], &w->req.pid, &why) < 0)
		return sctl_usage_error("watch", "invalid PID '%s': %s", argv[optind], why);
	return 0;
}

static void update_rate(struct watch *w, int64_t now)
{
	if (!w->rate_t0) {
		w->rate_t0 = now;
		w->rate_n0 = w->table.deltas;
		return;
	}
	if (now - w->rate_t0 >= SCTL_RATE_WINDOW_MS) {
		w->rate =
		    (double)(w->table.deltas - w->rate_n0) * 1000.0 / (double)(now - w->rate_t0);
		w->rate_t0 = now;
		w->rate_n0 = w->table.deltas;
	}
}

static void finish(struct watch *w, int status)
{
	w->done = true;
	w->status = status;
}

static int64_t cur_seq(const struct watch *w)
{
	return w->table.valid ? (int64_t)w->table.seq : -1;
}

/* The server broke the protocol: report it once and end the watch. */
static void fail_protocol(struct watch *w, const char *why)
{
	finish(w, sctl_fail_protocol(w->mode == OUT_JSON, w->req.pid, cur_seq(w), why));
}

static void on_snapshot(struct watch *w, const Shadowpt__Snapshot *s, int64_t now)
{
	const char *why;
	int r;

	if (s->watch_id != w->ws->watch_id) {
		fail_protocol(w, "snapshot for another watch");
		return;
	}
	r = sctl_table_snapshot(&w->table, s, now, &why);
	if (r < 0) {
		fail_protocol(w, why);
		return;
	}
	if (r != SCTL_TABLE_COMPLETE)
		return;
	w->dirty = true;
	if (w->mode == OUT_JSON)
		sctl_json_snapshot(stdout, w->ws, &w->table, w->table.staging_resync);
	else if (w->mode == OUT_TEXT)
		sctl_text_snapshot_line(stdout, w->ws, &w->table, w->table.staging_resync);
}

static void on_delta(struct watch *w, const Shadowpt__Delta *d, int64_t now)
{
	const char *why;
	int r;

	if (d->watch_id != w->ws->watch_id) {
		fail_protocol(w, "delta for another watch");
		return;
	}
	r = sctl_table_delta(&w->table, d, now, &why);
	if (r < 0) {
		fail_protocol(w, why);
		return;
	}
	if (r != SCTL_TABLE_COMPLETE)
		return;
	w->dirty = true;
	if (w->mode == OUT_JSON)
		sctl_json_delta(stdout, w->ws, d);
	else if (w->mode == OUT_TEXT)
		sctl_text_delta(stdout, w->ws, d);
	if (w->count && ++w->deltas_seen >= w->count) {
		sctl_watch_stop(&w->conn, w->ws->watch_id);
		finish(w, SCTL_EXIT_OK);
	}
}

static void on_exited(struct watch *w)
{
	if (!w->table.valid) {
		finish(w,
		       sctl_fail(w->mode == OUT_JSON, w->req.pid, -1, SCTL_EXIT_NO_PROCESS,
				 "process %d exited before its snapshot was complete", w->req.pid));
		return;
	}
	w->exited = true;
	w->dirty = true;
	if (w->mode == OUT_JSON)
		sctl_json_exit(stdout, w->req.pid, &w->table);
	else if (w->mode == OUT_TEXT)
		sctl_text_exit(stdout, w->req.pid, &w->table);
	/* The live view stays up until 'q' so the final state can be read. */
	if (w->mode != OUT_TUI)
		finish(w, SCTL_EXIT_OK);
}

static void on_frame(struct watch *w, const SptFrame *f, int64_t now)
{
	switch (f->msg_case) {
	case SHADOWPT__FRAME__MSG_SNAPSHOT:
		on_snapshot(w, f->snapshot, now);
		break;
	case SHADOWPT__FRAME__MSG_DELTA:
		on_delta(w, f->delta, now);
		break;
	case SHADOWPT__FRAME__MSG_TARGET_EXITED:
		if (f->target_exited->watch_id == w->ws->watch_id)
			on_exited(w);
		break;
	case SHADOWPT__FRAME__MSG_ERROR:
		finish(w, sctl_fail_error(f->error, w->mode == OUT_JSON, w->req.pid, cur_seq(w)));
		break;
	case SHADOWPT__FRAME__MSG_PONG:
		break;
	case SHADOWPT__FRAME__MSG_UNWATCHED:
		if (!w->exited) {
			finish(w, sctl_fail(w->mode == OUT_JSON, w->req.pid, cur_seq(w),
					    SCTL_EXIT_RUNTIME, "shadowptd ended the watch"));
		}
		break;
	default: {
		char why[96];

		snprintf(why, sizeof(why), "unexpected %s during a watch", spt_frame_type_name(f));
		fail_protocol(w, why);
		break;
	}
	}
}

static void draw(struct watch *w, int64_t now)
{
	struct sctl_tui_header h = {
	    .ws = w->ws,
	    .pid = w->req.pid,
	    .deltas_per_sec = w->rate,
	    .message = w->exited ? "TARGET EXITED (q to quit)" : NULL,
	};

	sctl_tui_draw(w->tui, &h, &w->table, w->dirty, now);
	w->dirty = false;
}

/* How long until the TUI must redraw (ms), or -1 without a TUI. */
static int64_t redraw_due(const struct watch *w, int64_t now, int64_t last_draw)
{
	int64_t period;

	if (!w->tui)
		return -1;
	if (sctl_tui_needs_redraw(w->tui))
		return 0;
	period = w->dirty ? SCTL_TUI_MIN_REDRAW_MS : SCTL_TUI_TICK_MS;
	return last_draw + period > now ? last_draw + period - now : 0;
}

static int run_loop(struct watch *w)
{
	bool keyboard = w->tui && isatty(STDIN_FILENO);
	int64_t last_draw = 0;

	while (!w->done) {
		struct pollfd pfd[2] = {
		    {.fd = w->conn.fd, .events = POLLIN},
		    {.fd = STDIN_FILENO, .events = POLLIN},
		};
		struct timespec ts;
		int64_t now = monotonic_ms(), due;
		SptFrame *f;
		int r;

		/* Everything already buffered first. */
		r = sctl_conn_take(&w->conn, &f);
		if (r) {
			finish(w, r);
			break;
		}
		if (f) {
			on_frame(w, f, now);
			spt_frame_free(f);
			continue;
		}
		if (fflush(stdout) == EOF) {
			sctl_err("cannot write output: %s", strerror(errno));
			finish(w, SCTL_EXIT_RUNTIME);
			break;
		}
		if (sctl_interrupted) {
			if (!w->exited)
				sctl_watch_stop(&w->conn, w->ws->watch_id);
			finish(w, SCTL_EXIT_OK);
			break;
		}
		if (w->conn.eof && !w->exited) {
			finish(w, sctl_fail(w->mode == OUT_JSON, w->req.pid, cur_seq(w),
					    SCTL_EXIT_RUNTIME, "shadowptd closed the connection"));
			break;
		}
		update_rate(w, now);
		due = redraw_due(w, now, last_draw);
		if (due == 0) {
			sctl_table_expire(&w->table, now);
			draw(w, now);
			last_draw = now;
			due = redraw_due(w, now, last_draw);
		}
		/* After EOF (target exited, TUI still up) only the keyboard. */
		pfd[0].fd = w->conn.eof ? -1 : w->conn.fd;
		ts.tv_sec = due / 1000;
		ts.tv_nsec = due % 1000 * 1000000L;
		r = ppoll(pfd, keyboard ? 2 : 1, due >= 0 ? &ts : NULL, &sctl_wait_sigmask);
		if (r < 0 && errno != EINTR) {
			sctl_err("poll: %s", strerror(errno));
			finish(w, SCTL_EXIT_RUNTIME);
			break;
		}
		if (r > 0 && pfd[0].revents) {
			r = sctl_conn_fill(&w->conn);
			if (r) {
				finish(w, r);
				break;
			}
		}
		/* Keys, and KEY_RESIZE after SIGWINCH interrupted ppoll. */
		if (w->tui && sctl_tui_handle_keys(w->tui)) {
			if (!w->exited)
				sctl_watch_stop(&w->conn, w->ws->watch_id);
			finish(w, SCTL_EXIT_OK);
			break;
		}
	}
	fflush(stdout);
	return w->status;
}

int sctl_cmd_watch(const struct sctl_global *g, int argc, char **argv)
{
	struct watch w = {.g = g};
	bool json = g->json, no_tui = false;
	int r = parse_watch_args(&w, &json, &no_tui, argc, argv);

	if (r)
		return r < 0 ? SCTL_EXIT_OK : r;
	if (json)
		w.mode = OUT_JSON;
	else if (no_tui || !isatty(STDOUT_FILENO))
		w.mode = OUT_TEXT;
	else
		w.mode = OUT_TUI;

	r = sctl_conn_open(&w.conn, g->socket_path, w.mode == OUT_JSON, w.req.pid);
	if (r) {
		sctl_conn_close(&w.conn);
		return r;
	}
	if (w.mode == OUT_TUI) {
		w.tui = sctl_tui_open();
		if (w.tui)
			sctl_err_defer(true);
		else
			w.mode = OUT_TEXT;
	}
	sctl_table_init(&w.table);
	r = sctl_enter_sandbox(g);
	if (!r)
		r = sctl_conn_handshake(&w.conn);
	if (!r && !sctl_interrupted && w.mode == OUT_JSON)
		sctl_json_hello(stdout, sctl_conn_welcome(&w.conn), w.req.pid);
	if (!r && !sctl_interrupted)
		r = sctl_watch_start(&w.conn, &w.req, w.mode == OUT_JSON, &w.started);
	if (!r && w.started) {
		w.ws = w.started->watch_started;
		if (w.mode == OUT_JSON)
			sctl_json_started(stdout, w.ws);
		else if (w.mode == OUT_TEXT)
			sctl_text_started(stdout, w.ws);
		r = run_loop(&w);
	}
	fflush(stdout);
	if (w.tui) {
		sctl_tui_close(w.tui);
		sctl_err_defer(false);
	}
	if (w.started)
		spt_frame_free(w.started);
	sctl_table_free(&w.table);
	sctl_conn_close(&w.conn);
	return r;
}
