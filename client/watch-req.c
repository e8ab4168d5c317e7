/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Watch start/stop and error reporting; see watch-req.h. */
#include <stdio.h>

#include "shadowctl.h"
#include "watch-req.h"

int sctl_watch_start(struct sctl_conn *c, const struct sctl_watch_req *req, bool json,
		     SptFrame **started)
{
	Shadowpt__Watch w = SHADOWPT__WATCH__INIT;
	Shadowpt__Range range = SHADOWPT__RANGE__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;
	uint32_t id = sctl_conn_new_request_id(c);
	SptFrame *reply = NULL;
	bool interrupted;
	int r;

	*started = NULL;
	w.has_pid = 1;
	w.pid = req->pid;
	if (req->has_range) {
		range.has_start = range.has_end = 1;
		range.start = req->range.start;
		range.end = req->range.end;
		w.range = &range;
	}
	if (req->backend) {
		w.has_backend = 1;
		w.backend = (Shadowpt__Backend)req->backend;
	}
	if (req->min_ms) {
		w.has_min_interval_ms = 1;
		w.min_interval_ms = req->min_ms;
	}
	if (req->max_ms) {
		w.has_max_interval_ms = 1;
		w.max_interval_ms = req->max_ms;
	}
	f.has_request_id = 1;
	f.request_id = id;
	f.msg_case = SHADOWPT__FRAME__MSG_WATCH;
	f.watch = &w;
	r = sctl_conn_send(c, &f);
	if (r)
		return r;

	for (;;) {
		r = sctl_conn_wait(c, &reply, -1, &interrupted);
		if (r || interrupted)
			return r;
		switch (reply->msg_case) {
		case SHADOWPT__FRAME__MSG_WATCH_STARTED:
			if (reply->request_id != id) {
				r = sctl_fail_protocol(json, req->pid, -1,
						       "watch started for another request");
			} else if (reply->watch_started->pid != req->pid) {
				r = sctl_fail_protocol(json, req->pid, -1,
						       "watch started for another pid");
			} else {
				*started = reply;
				return 0;
			}
			break;
		case SHADOWPT__FRAME__MSG_ERROR:
			r = sctl_fail_error(reply->error, json, req->pid, -1);
			break;
		case SHADOWPT__FRAME__MSG_TARGET_EXITED:
			r = sctl_fail(json, req->pid, -1, SCTL_EXIT_NO_PROCESS,
				      "process %d exited before the watch started", req->pid);
			break;
		case SHADOWPT__FRAME__MSG_PONG:
			spt_frame_free(reply);
			continue;
		default: {
			char why[96];

			snprintf(why, sizeof(why), "unexpected %s before watch started",
				 spt_frame_type_name(reply));
			r = sctl_fail_protocol(json, req->pid, -1, why);
			break;
		}
		}
		spt_frame_free(reply);
		return r;
	}
}

void sctl_watch_stop(struct sctl_conn *c, uint32_t watch_id)
{
	Shadowpt__Unwatch u = SHADOWPT__UNWATCH__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;
	int i;

	u.has_watch_id = 1;
	u.watch_id = watch_id;
	f.has_request_id = 1;
	f.request_id = sctl_conn_new_request_id(c);
	f.msg_case = SHADOWPT__FRAME__MSG_UNWATCH;
	f.unwatch = &u;
	c->quiet = true;
	if (sctl_conn_send(c, &f))
		return;
	/* Bounded: deltas may still be in flight before Unwatched. */
	for (i = 0; i < 1000; i++) {
		SptFrame *reply;
		bool interrupted;
		bool done;

		if (sctl_conn_wait(c, &reply, 1000, &interrupted) || interrupted)
			return;
		done = reply->msg_case == SHADOWPT__FRAME__MSG_UNWATCHED ||
		       reply->msg_case == SHADOWPT__FRAME__MSG_ERROR ||
		       reply->msg_case == SHADOWPT__FRAME__MSG_TARGET_EXITED;
		spt_frame_free(reply);
		if (done)
			return;
	}
}

int sctl_run_watch(const struct sctl_global *g, const struct sctl_watch_req *req, bool json,
		   sctl_watch_body body, void *ctx)
{
	struct sctl_conn conn;
	struct sctl_table table;
	SptFrame *started = NULL;
	int r = sctl_conn_open(&conn, g->socket_path, json, req->pid);

	if (r) {
		sctl_conn_close(&conn);
		return r;
	}
	sctl_table_init(&table);
	r = sctl_enter_sandbox(g);
	if (!r)
		r = sctl_conn_handshake(&conn);
	if (!r && !sctl_interrupted)
		r = sctl_watch_start(&conn, req, json, &started);
	if (!r && started) {
		const Shadowpt__WatchStarted *ws = started->watch_started;

		r = body(&conn, ws, &table, json, ctx);
		fflush(stdout);
		if (!r)
			sctl_watch_stop(&conn, ws->watch_id);
	}
	if (started)
		spt_frame_free(started);
	sctl_table_free(&table);
	sctl_conn_close(&conn);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		sctl_err("cannot write output");
		return r ? r : SCTL_EXIT_RUNTIME;
	}
	return r;
}
