/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `shadowctl watch`: start a watch, rebuild the table from the snapshot
 * and deltas, and show it live (TUI) or as one line/object per event.
 */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "args.h"
#include "conn.h"
#include "live.h"
#include "render-json.h"
#include "shadowctl.h"
#include "view.h"
#include "watch-req.h"

struct watch {
	struct sctl_conn conn;
	struct sctl_watch_req req;
	struct sctl_view view;
	SptFrame *started;
};

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
			if (sctl_parse_count(optarg, &w->view.count, &why) < 0)
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

int sctl_cmd_watch(const struct sctl_global *g, int argc, char **argv)
{
	struct watch w = {0};
	struct sctl_live live = {.conn = &w.conn, .view = &w.view};
	bool json = g->json, no_tui = false;
	enum sctl_out_mode mode;
	int r;

	sctl_view_init(&w.view, SCTL_OUT_TEXT, 0);
	r = parse_watch_args(&w, &json, &no_tui, argc, argv);
	if (r) {
		sctl_view_free(&w.view);
		return r < 0 ? SCTL_EXIT_OK : r;
	}
	if (json)
		mode = SCTL_OUT_JSON;
	else if (no_tui || !isatty(STDOUT_FILENO))
		mode = SCTL_OUT_TEXT;
	else
		mode = SCTL_OUT_TUI;
	sctl_view_set_mode(&w.view, mode);
	w.view.pid = w.req.pid;

	r = sctl_conn_open(&w.conn, g->socket_path, mode == SCTL_OUT_JSON, w.req.pid);
	if (r) {
		sctl_conn_close(&w.conn);
		sctl_view_free(&w.view);
		return r;
	}
	if (mode == SCTL_OUT_TUI) {
		w.view.tui = sctl_tui_open();
		if (w.view.tui)
			sctl_err_defer(true);
		else
			sctl_view_set_mode(&w.view, mode = SCTL_OUT_TEXT);
	}
	r = sctl_enter_sandbox(g);
	if (!r)
		r = sctl_conn_handshake(&w.conn);
	if (!r && !sctl_interrupted && mode == SCTL_OUT_JSON)
		sctl_json_hello(stdout, sctl_conn_welcome(&w.conn), w.req.pid);
	if (!r && !sctl_interrupted)
		r = sctl_watch_start(&w.conn, &w.req, mode == SCTL_OUT_JSON, &w.started);
	if (!r && w.started) {
		sctl_view_started(&w.view, w.started->watch_started);
		r = sctl_live_run(&live);
	}
	fflush(stdout);
	if (w.view.tui) {
		sctl_tui_close(w.view.tui);
		sctl_err_defer(false);
	}
	if (w.started)
		spt_frame_free(w.started);
	sctl_view_free(&w.view);
	sctl_conn_close(&w.conn);
	return r;
}
