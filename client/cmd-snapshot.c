/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `shadowctl snapshot`: watch, assemble the complete (chunked) snapshot,
 * print it, unwatch.
 */
#include <getopt.h>
#include <stdio.h>

#include "args.h"
#include "clock.h"
#include "conn.h"
#include "render-json.h"
#include "render-text.h"
#include "shadowctl.h"
#include "table.h"
#include "watch-req.h"

static int parse_args(struct sctl_watch_req *req, bool *json, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"range", required_argument, NULL, 'r'},
	    {"backend", required_argument, NULL, 'b'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *why;
	int c;

	while ((c = getopt_long(argc, argv, ":r:b:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (sctl_parse_range(optarg, &req->range, &why) < 0)
				return sctl_usage_error("snapshot", "invalid --range '%s': %s",
							optarg, why);
			req->has_range = true;
			break;
		case 'b':
			if (sctl_parse_backend(optarg, &req->backend, &why) < 0)
				return sctl_usage_error("snapshot", "invalid --backend '%s': %s",
							optarg, why);
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			sctl_help_snapshot();
			return -1;
		default:
			return sctl_option_error("snapshot", argc, argv, c);
		}
	}
	if (optind >= argc)
		return sctl_usage_error("snapshot", "missing PID");
	if (optind + 1 < argc)
		return sctl_usage_error("snapshot", "unexpected argument '%s'", argv[optind + 1]);
	if (sctl_parse_pid(argv[optind], &req->pid, &why) < 0)
		return sctl_usage_error("snapshot", "invalid PID '%s': %s", argv[optind], why);
	return 0;
}

/* Feeds frames to the table until the snapshot is complete. */
static int collect(struct sctl_conn *conn, const Shadowpt__WatchStarted *ws, struct sctl_table *t,
		   bool json, bool *interrupted)
{
	for (;;) {
		SptFrame *f;
		const char *why;
		int r = sctl_conn_wait(conn, &f, -1, interrupted);

		if (r || *interrupted)
			return r;
		switch (f->msg_case) {
		case SHADOWPT__FRAME__MSG_SNAPSHOT:
			if (f->snapshot->watch_id != ws->watch_id) {
				r = sctl_fail_protocol(json, ws->pid, -1,
						       "snapshot for another watch");
				break;
			}
			r = sctl_table_snapshot(t, f->snapshot, sctl_now_ms(), &why);
			if (r < 0)
				r = sctl_fail_protocol(json, ws->pid, -1, why);
			else
				r = r == SCTL_TABLE_COMPLETE ? -1 : 0;
			break;
		case SHADOWPT__FRAME__MSG_DELTA:
			r = sctl_fail_protocol(json, ws->pid, -1, "delta before the snapshot");
			break;
		case SHADOWPT__FRAME__MSG_TARGET_EXITED:
			r = sctl_fail(json, ws->pid, -1, SCTL_EXIT_NO_PROCESS,
				      "process %d exited before its snapshot was complete",
				      ws->pid);
			break;
		case SHADOWPT__FRAME__MSG_ERROR:
			r = sctl_fail_error(f->error, json, ws->pid, -1);
			break;
		case SHADOWPT__FRAME__MSG_PONG:
		case SHADOWPT__FRAME__MSG_WATCH_STATUS: /* the data source's health: no answer */
			r = 0;
			break;
		default:
			r = sctl_fail_protocol(json, ws->pid, -1,
					       "unexpected message before the snapshot");
			break;
		}
		spt_frame_free(f);
		if (r)
			return r < 0 ? 0 : r;
	}
}

/* The snapshot command's body: collect the chunks, print the table. */
static int print_snapshot(struct sctl_conn *conn, const Shadowpt__WatchStarted *ws,
			  struct sctl_table *t, bool json, void *ctx)
{
	bool interrupted = false;
	int r = collect(conn, ws, t, json, &interrupted);

	(void)ctx;
	if (r || interrupted)
		return r;
	if (json)
		sctl_json_snapshot(stdout, ws, t, false);
	else
		sctl_text_table(stdout, ws, t);
	return 0;
}

int sctl_cmd_snapshot(const struct sctl_global *g, int argc, char **argv)
{
	struct sctl_watch_req req = {0};
	bool json = g->json;
	int r = parse_args(&req, &json, argc, argv);

	if (r)
		return r < 0 ? SCTL_EXIT_OK : r;
	return sctl_run_watch(g, &req, json, print_snapshot, NULL);
}
