/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `shadowctl record`: a watch written to a recording file as it streams
 * (recfile.h). The output is opened before the sandbox; afterwards the
 * file is only written. Every frame is checked against the table first,
 * so a recording holds only what applies; memory is the table and one
 * frame, however long the recording runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "conn.h"
#include "live.h"
#include "recfile.h"
#include "render-json.h"
#include "shadowctl.h"
#include "view.h"
#include "watch-req.h"

struct record {
	struct sctl_watch_req req;
	const char *path;
	uint64_t duration_ns;
	int fd;
	struct sctl_conn conn;
	struct sctl_view view;
	struct sctl_rec_writer w;
	int write_error; /* -errno of the failed write, 0 */
	struct utsname uts;
	bool have_uts;
};

static int parse_args(struct record *rec, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"range", required_argument, NULL, 'r'},	{"backend", required_argument, NULL, 'b'},
	    {"interval", required_argument, NULL, 'i'}, {"output", required_argument, NULL, 'o'},
	    {"duration", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *why;
	int c;

	while ((c = getopt_long(argc, argv, ":r:b:i:o:d:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (sctl_parse_range(optarg, &rec->req.range, &why) < 0)
				return sctl_usage_error("record", "invalid --range '%s': %s",
							optarg, why);
			rec->req.has_range = true;
			break;
		case 'b':
			if (sctl_parse_backend(optarg, &rec->req.backend, &why) < 0)
				return sctl_usage_error("record", "invalid --backend '%s': %s",
							optarg, why);
			break;
		case 'i':
			if (sctl_parse_interval(optarg, &rec->req.min_ms, &rec->req.max_ms, &why) <
			    0)
				return sctl_usage_error("record", "invalid --interval '%s': %s",
							optarg, why);
			break;
		case 'o':
			rec->path = optarg;
			break;
		case 'd':
			if (sctl_parse_duration(optarg, &rec->duration_ns, &why) < 0)
				return sctl_usage_error("record", "invalid --duration '%s': %s",
							optarg, why);
			break;
		case 'h':
			sctl_help_record();
			return -1;
		default:
			return sctl_option_error("record", argc, argv, c);
		}
	}
	if (optind >= argc)
		return sctl_usage_error("record", "missing PID");
	if (optind + 1 < argc)
		return sctl_usage_error("record", "unexpected argument '%s'", argv[optind + 1]);
	if (sctl_parse_pid(argv[optind], &rec->req.pid, &why) < 0)
		return sctl_usage_error("record", "invalid PID '%s': %s", argv[optind], why);
	if (!rec->path || !*rec->path)
		return sctl_usage_error("record", "missing -o FILE");
	return 0;
}

static int write_failed(struct record *rec, int err)
{
	rec->write_error = err;
	return sctl_fail(rec->view.json_errors, rec->req.pid, sctl_view_seq(&rec->view),
			 SCTL_EXIT_RUNTIME,
			 "cannot write %s: %s (it holds the %" PRIu64 " frames before)", rec->path,
			 strerror(-err), rec->w.frames);
}

static int record_frame(void *ctx, const uint8_t *payload, size_t len, uint64_t recv_ns)
{
	struct record *rec = ctx;
	int r = sctl_rec_write_frame(&rec->w, recv_ns, payload, len);

	return r ? write_failed(rec, r) : 0;
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int write_header(struct record *rec, const Shadowpt__WatchStarted *ws, uint64_t start_ns)
{
	SctlRecHeader h = SHADOWPT__REC__HEADER__INIT;
	Shadowpt__Range range = SHADOWPT__RANGE__INIT;
	char recorder[64];
	int r;

	snprintf(recorder, sizeof(recorder), "shadowctl %s", SHADOWPT_VERSION);
	h.has_format_version = h.has_start_realtime_ns = h.has_start_monotonic_ns = 1;
	h.format_version = SCTL_REC_VERSION;
	h.recorder = recorder;
	h.start_realtime_ns = realtime_ns();
	h.start_monotonic_ns = start_ns;
	if (rec->have_uts) {
		h.hostname = rec->uts.nodename;
		h.kernel_release = rec->uts.release;
	}
	h.has_pid = 1;
	h.pid = rec->req.pid;
	if (rec->req.has_range) {
		range.has_start = range.has_end = 1;
		range.start = rec->req.range.start;
		range.end = rec->req.range.end;
		h.requested_range = &range;
	}
	if (rec->req.backend) {
		h.has_requested_backend = 1;
		h.requested_backend = (Shadowpt__Backend)rec->req.backend;
	}
	h.welcome = (Shadowpt__Welcome *)sctl_conn_welcome(&rec->conn);
	h.started = (Shadowpt__WatchStarted *)ws;
	h.has_duration_limit_ms = rec->duration_ns != 0;
	h.duration_limit_ms = rec->duration_ns / 1000000u;
	r = sctl_rec_write_start(&rec->w, rec->fd, &h);
	return r ? write_failed(rec, r) : 0;
}

static Shadowpt__Rec__EndReason end_reason(const struct sctl_live *l, const struct sctl_view *v)
{
	switch (l->end) {
	case SCTL_LIVE_INTERRUPTED:
	case SCTL_LIVE_QUIT:
		return SHADOWPT__REC__END_REASON__END_INTERRUPTED;
	case SCTL_LIVE_DEADLINE:
		return SHADOWPT__REC__END_REASON__END_DURATION;
	case SCTL_LIVE_EOF:
		return SHADOWPT__REC__END_REASON__END_CONNECTION_LOST;
	case SCTL_LIVE_CONN_ERROR:
		return v->status == SCTL_EXIT_PROTOCOL
			   ? SHADOWPT__REC__END_REASON__END_PROTOCOL_ERROR
			   : SHADOWPT__REC__END_REASON__END_CONNECTION_LOST;
	case SCTL_LIVE_VIEW_DONE:
		if (v->exited)
			return SHADOWPT__REC__END_REASON__END_TARGET_EXITED;
		if (v->violated)
			return SHADOWPT__REC__END_REASON__END_PROTOCOL_ERROR;
		return SHADOWPT__REC__END_REASON__END_DAEMON_ERROR;
	case SCTL_LIVE_HOOK_ERROR:
	case SCTL_LIVE_OUTPUT_ERROR:
		break;
	}
	return SHADOWPT__REC__END_REASON__END_UNSPECIFIED;
}

static const char *end_text(Shadowpt__Rec__EndReason r)
{
	switch (r) {
	case SHADOWPT__REC__END_REASON__END_INTERRUPTED:
		return "interrupted";
	case SHADOWPT__REC__END_REASON__END_DURATION:
		return "duration reached";
	case SHADOWPT__REC__END_REASON__END_TARGET_EXITED:
		return "target exited";
	case SHADOWPT__REC__END_REASON__END_DAEMON_ERROR:
		return "ended by an error from shadowptd";
	case SHADOWPT__REC__END_REASON__END_CONNECTION_LOST:
		return "connection to shadowptd lost";
	case SHADOWPT__REC__END_REASON__END_PROTOCOL_ERROR:
		return "shadowptd broke the protocol";
	default:
		return "ended";
	}
}

/* The end record, and a one-line summary on stderr. */
static int write_end(struct record *rec, const struct sctl_live *l, uint64_t start_ns, int status)
{
	SctlRecEnd e = SHADOWPT__REC__END__INIT;
	uint64_t now = sctl_now_ns(), span = now > start_ns ? now - start_ns : 0;
	int r;

	e.has_reason = e.has_end_ns = e.has_frames = e.has_exit_code = 1;
	e.reason = end_reason(l, &rec->view);
	e.message = (char *)end_text(e.reason);
	e.end_ns = span > rec->w.last_ns ? span : rec->w.last_ns;
	e.frames = rec->w.frames;
	e.exit_code = (uint32_t)status;
	r = sctl_rec_write_end(&rec->w, &e);
	if (r)
		return write_failed(rec, r);
	fprintf(stderr,
		"shadowctl: recorded %" PRIu64 " frames (%.1f KiB, %.1f s) of pid %" PRId32
		" to %s: %s\n",
		rec->w.frames, (double)rec->w.bytes / 1024.0, (double)e.end_ns / 1e9, rec->req.pid,
		rec->path, e.message);
	return 0;
}

/* Connected, sandboxed: handshake, watch, header, then the frames. */
static int run(struct record *rec, const struct sctl_global *g)
{
	struct sctl_live live = {
	    .conn = &rec->conn, .view = &rec->view, .hook = record_frame, .ctx = rec};
	SptFrame *started = NULL;
	uint64_t start_ns;
	int r = sctl_enter_sandbox(g);

	if (!r)
		r = sctl_conn_handshake(&rec->conn);
	if (!r && !sctl_interrupted)
		r = sctl_watch_start(&rec->conn, &rec->req, rec->view.json_errors, &started);
	if (r || !started)
		return r;
	start_ns = sctl_now_ns();
	sctl_view_started(&rec->view, started->watch_started);
	r = write_header(rec, started->watch_started, start_ns);
	if (!r) {
		if (rec->duration_ns)
			live.deadline_ms = (int64_t)((start_ns + rec->duration_ns) / 1000000u);
		r = sctl_live_run(&live);
		if (!rec->write_error) {
			int e = write_end(rec, &live, start_ns, r);

			r = r ? r : e;
		}
	} else {
		sctl_watch_stop(&rec->conn, started->watch_started->watch_id);
	}
	spt_frame_free(started);
	return r;
}

int sctl_cmd_record(const struct sctl_global *g, int argc, char **argv)
{
	struct record rec = {.fd = -1};
	int r = parse_args(&rec, argc, argv);

	if (r)
		return r < 0 ? SCTL_EXIT_OK : r;
	sctl_view_init(&rec.view, SCTL_OUT_NONE, rec.req.pid);
	rec.view.json_errors = g->json;
	rec.have_uts = uname(&rec.uts) == 0;
	rec.fd = open(rec.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (rec.fd < 0) {
		r = sctl_fail(g->json, rec.req.pid, -1, SCTL_EXIT_RUNTIME, "cannot create %s: %s",
			      rec.path, strerror(errno));
		sctl_view_free(&rec.view);
		return r;
	}
	r = sctl_conn_open(&rec.conn, g->socket_path, g->json, rec.req.pid);
	if (!r)
		r = run(&rec, g);
	sctl_conn_close(&rec.conn);
	sctl_view_free(&rec.view);
	if (close(rec.fd) < 0 && !r)
		r = sctl_fail(g->json, rec.req.pid, -1, SCTL_EXIT_RUNTIME, "cannot write %s: %s",
			      rec.path, strerror(errno));
	return r;
}
