// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Requests: one viewer is its connection (conn.h) and its watches
 * (watch.h). Hello/Welcome, dispatch, authorization of every request
 * against its target, Status, and resyncs once a viewer's output
 * drained. The only module that touches both sessions and connections.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth.h"
#include "backend.h"
#include "clock.h"
#include "conn.h"
#include "convert.h"
#include "errcode.h"
#include "globals.h"
#include "log.h"
#include "request.h"
#include "session.h"
#include "spt-assert.h"
#include "watch.h"

/* One viewer: its connection and its subscriptions. */
struct client {
	struct conn conn; /* conn.c reports with &conn (client_of) */
	struct watch_set watches;
};

static struct client *client_of(struct conn *conn)
{
	return (struct client *)((char *)conn - offsetof(struct client, conn));
}

static int client_send_frame(struct client *c, const SptFrame *f)
{
	return conn_send_frame(&c->conn, f, OUTQ_CONTROL, 0);
}

static int client_send_error(struct client *c, uint32_t request_id, int code, uint32_t watch_id,
			     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int client_send_error(struct client *c, uint32_t request_id, int code, uint32_t watch_id,
			     const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = conn_send_errorv(&c->conn, request_id, code, watch_id, false, fmt, ap);
	va_end(ap);
	return r;
}

/* Resyncs watches whose deltas were dropped, once the output drained. */
static void client_resync_watches(struct client *c)
{
	struct watch *w;

	LIST_FOREACH(w, &c->watches.list, viewer_entry) {
		if (!w->needs_resync)
			continue;
		if (c->conn.outq.queued > OUTQ_LOW_WATERMARK(&c->conn.outq))
			break;
		w->needs_resync = false;
		if (session_send_snapshot(w, true) < 0) {
			conn_close(&c->conn, "cannot build a resync snapshot");
			return;
		}
	}
}

/* ---- requests ---- */

static void client_on_hello(struct client *c, const SptFrame *f)
{
	const Shadowpt__Hello *h = f->hello;
	Shadowpt__Welcome wel = SHADOWPT__WELCOME__INIT;
	Shadowpt__Limits lim = SHADOWPT__LIMITS__INIT;
	Shadowpt__PeerIdentity pi = SHADOWPT__PEER_IDENTITY__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;
	int ids[4];
	Shadowpt__Backend backends[4];
	size_t nb, i;

	/* The client names the newest version it speaks; we answer with ours if older. */
	if (!h->has_protocol_version || h->protocol_version < SPT_PROTOCOL_VERSION_MIN) {
		conn_fatal(&c->conn, f->request_id, SHADOWPT__ERROR_CODE__ERROR_UNSUPPORTED_VERSION,
			   "protocol version %u not supported; this daemon speaks %u to %u",
			   h->has_protocol_version ? h->protocol_version : 0,
			   SPT_PROTOCOL_VERSION_MIN, SPT_PROTOCOL_VERSION);
		return;
	}
	conn_hello_done(&c->conn,
			h->protocol_version < SPT_PROTOCOL_VERSION ? h->protocol_version
								   : SPT_PROTOCOL_VERSION,
			h->client_name);

	nb = spt_backend_available(ids, 4);
	for (i = 0; i < nb; i++)
		backends[i] = (Shadowpt__Backend)ids[i];
	lim.has_max_client_frame = lim.has_max_server_frame = 1;
	lim.has_max_connections_per_uid = lim.has_max_watches_per_uid = 1;
	lim.has_max_watches_per_connection = lim.has_output_budget = 1;
	lim.has_stuck_deadline_ms = 1;
	lim.max_client_frame = SPT_MAX_CLIENT_FRAME;
	lim.max_server_frame = SPT_MAX_SERVER_FRAME;
	lim.max_connections_per_uid = SPT_MAX_CONNECTIONS_PER_UID;
	lim.max_watches_per_uid = SPT_MAX_WATCHES_PER_UID;
	lim.max_watches_per_connection = SPT_MAX_WATCHES_PER_CONNECTION;
	lim.output_budget = SPT_OUTPUT_BUDGET;
	lim.stuck_deadline_ms = SPT_STUCK_DEADLINE_MS;
	lim.has_max_runs_per_session = lim.has_max_vmas_per_session = 1;
	lim.has_memory_per_uid = lim.has_stall_timeout_ms = 1;
	lim.max_runs_per_session = session_max_runs();
	lim.max_vmas_per_session = session_max_vmas();
	lim.memory_per_uid = spt_bounds.memory_per_uid;
	lim.stall_timeout_ms = SPT_STALL_TIMEOUT_MS;
	pi.has_uid = pi.has_gid = pi.has_pid = pi.has_admin = 1;
	pi.uid = c->conn.peer.uid;
	pi.gid = c->conn.peer.gid;
	pi.pid = c->conn.peer.pid;
	pi.admin = c->conn.peer.admin;
	wel.has_protocol_version = 1;
	wel.protocol_version = c->conn.proto;
	wel.server_version = (char *)SHADOWPT_VERSION;
	wel.n_backends = nb;
	wel.backends = backends;
	wel.limits = &lim;
	wel.peer = &pi;
	wel.kernel_unavailable_reason = spt_kernel_why[0] ? spt_kernel_why : NULL;
	out.has_request_id = 1;
	out.request_id = f->request_id;
	out.msg_case = SHADOWPT__FRAME__MSG_WELCOME;
	out.welcome = &wel;
	client_send_frame(c, &out);
	log_debug("client %llu: hello from '%s' (uid %u)", (unsigned long long)c->conn.id,
		  c->conn.name, c->conn.peer.uid);
}

static struct watch *client_find_watch(struct client *c, uint32_t id)
{
	struct watch *w;

	LIST_FOREACH(w, &c->watches.list, viewer_entry)
		if (w->id == id)
			return w;
	return NULL;
}

/* PF_KTHREAD in /proc/PID/stat's flags (field 9): no user address space. */
static bool is_kernel_thread(pid_t pid)
{
	char path[64], buf[512];
	unsigned int flags;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %u", &flags) != 1)
		return false;
	return flags & 0x00200000; /* PF_KTHREAD */
}

static void client_on_watch(struct client *c, const SptFrame *f)
{
	const Shadowpt__Watch *req = f->watch;
	uint32_t rid = f->request_id;
	uint64_t start = 0, end = SPT_USER_ADDR_MAX;
	int backend = req->has_backend ? (int)req->backend : 0;
	pid_t pid = req->has_pid ? req->pid : 0;
	struct session *s;
	struct watch *w;
	char why[256] = "";
	uint32_t min_ms, max_ms;
	int pidfd, r;

	if (req->range) {
		if (req->range->has_start)
			start = req->range->start;
		if (req->range->has_end)
			end = req->range->end;
		if (start >= end || start % SPT_PAGE_SIZE || end % SPT_PAGE_SIZE ||
		    end > SPT_USER_ADDR_MAX) {
			client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE, 0,
					  "range [%#llx,%#llx) must be page aligned, non-empty "
					  "and end at most %#llx",
					  (unsigned long long)start, (unsigned long long)end,
					  (unsigned long long)SPT_USER_ADDR_MAX);
			return;
		}
	}
	if (backend < SHADOWPT__BACKEND__BACKEND_UNSPECIFIED ||
	    backend > SHADOWPT__BACKEND__BACKEND_KERNEL) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INVALID_ARGUMENT, 0,
				  "unknown backend %d", backend);
		return;
	}
	if (watch_check_quota(&c->conn, &c->watches, why, sizeof(why)) < 0) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED, 0, "%s", why);
		return;
	}
	if (pid <= 0) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS, 0,
				  "pid %d is not a process id", (int)pid);
		return;
	}
	/* pidfd first: whatever we read about pid below is then verified. */
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		r = -errno;
		if (r == -EINVAL || r == -ENOENT) {
			/* Not a thread-group leader (ENOENT on Linux >= 6.9). */
			struct spt_target_creds tc;
			pid_t tgid = auth_read_target(pid, &tc, why, sizeof(why)) == -EINVAL
					 ? tc.ids.tgid
					 : -1;

			r = -ESRCH;
			if (tgid > 0)
				snprintf(why, sizeof(why),
					 "pid %d is a thread of process %d, not a process",
					 (int)pid, (int)tgid);
			else
				snprintf(why, sizeof(why), "no process %d", (int)pid);
		} else if (r == -ESRCH) {
			snprintf(why, sizeof(why), "no process %d", (int)pid);
		} else {
			log_err("pidfd_open(%d): %s", (int)pid, strerror(-r));
			snprintf(why, sizeof(why), "pidfd_open: %s", strerror(-r));
		}
		client_send_error(c, rid, spt_error_code_of(r), 0, "%s", why);
		return;
	}
	if (is_kernel_thread(pid)) {
		close(pidfd);
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS, 0,
				  "pid %d is a kernel thread: it has no user address space",
				  (int)pid);
		return;
	}
	r = auth_check_target(&c->conn.peer, pid, why, sizeof(why));
	if (r < 0) {
		close(pidfd);
		if (r == -EPERM)
			log_rl(SPT_LOG_INFO, "uid %u (pid %d) denied watching pid %d: %s",
			       c->conn.peer.uid, (int)c->conn.peer.pid, (int)pid, why);
		client_send_error(c, rid, spt_error_code_of(r), 0, "%s", why);
		return;
	}
	LIST_FOREACH(w, &c->watches.list, viewer_entry) {
		if (w->s->pid == pid && w->s->start == start && w->s->end == end &&
		    session_target_alive(w->s)) {
			close(pidfd);
			client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INVALID_ARGUMENT,
					  w->id, "already watching this as watch %u", w->id);
			return;
		}
	}
	min_ms = req->has_min_interval_ms ? req->min_interval_ms : 0;
	max_ms = req->has_max_interval_ms ? req->max_interval_ms : 0;
	r = session_get(pid, pidfd, start, end, backend, c->conn.user, conn_charge_mode(&c->conn),
			&s, why, sizeof(why));
	if (r < 0) {
		client_send_error(c, rid, spt_error_code_of(r), 0, "%s", why);
		return;
	}
	w = watch_new(&c->conn, &c->watches, c->conn.peer.admin, min_ms, max_ms, rid);
	if (!w) {
		session_release_if_idle(s);
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INTERNAL, 0, "out of memory");
		return;
	}
	/* WatchStarted and the snapshot follow once the session's first read is in. */
	session_add_watch(s, w);
}

static void client_on_unwatch(struct client *c, const SptFrame *f)
{
	Shadowpt__Unwatched uw = SHADOWPT__UNWATCHED__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;
	uint32_t id = f->unwatch->has_watch_id ? f->unwatch->watch_id : 0;
	struct watch *w = client_find_watch(c, id);

	if (!w) {
		client_send_error(c, f->request_id, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_WATCH, id,
				  "no watch %u on this connection", id);
		return;
	}
	session_remove_watch(w);
	uw.has_watch_id = 1;
	uw.watch_id = id;
	out.has_request_id = 1;
	out.request_id = f->request_id;
	out.msg_case = SHADOWPT__FRAME__MSG_UNWATCHED;
	out.unwatched = &uw;
	client_send_frame(c, &out);
}

static void client_on_peek(struct client *c, const SptFrame *f)
{
	uint32_t id = f->peek->has_watch_id ? f->peek->watch_id : 0;
	uint32_t rid = f->request_id;
	struct watch *w = client_find_watch(c, id);
	uint64_t vaddr;
	int r;

	if (!w || w->pending) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_WATCH, id,
				  "no watch %u on this connection", id);
		return;
	}
	vaddr = (f->peek->has_vaddr ? f->peek->vaddr : 0) & ~(SPT_PAGE_SIZE - 1);
	if (!f->peek->has_vaddr || vaddr < w->s->start || vaddr >= w->s->end) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE, id,
				  "address %#llx is outside the watched range [%#llx,%#llx)",
				  (unsigned long long)vaddr, (unsigned long long)w->s->start,
				  (unsigned long long)w->s->end);
		return;
	}
	if (!w->s->ops->peek) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_BACKEND_UNAVAILABLE, id,
				  "the %s backend cannot read page contents", w->s->ops->name);
		return;
	}
	/*
	 * The session's reader reads it, checking the credentials of the
	 * moment (setuid, exec) after binding the target's mm: never here.
	 */
	r = session_peek(w, rid, vaddr);
	if (r < 0)
		client_send_error(c, rid, spt_error_code_of(r), id, "cannot read page %#llx: %s",
				  (unsigned long long)vaddr, strerror(-r));
}

void client_peek_reply(uint64_t viewer_id, uint32_t request_id, uint32_t watch_id, uint64_t vaddr,
		       int err, const char *why, const uint8_t *page)
{
	struct conn *conn = conn_find(viewer_id);
	struct client *c = conn ? client_of(conn) : NULL;
	Shadowpt__PeekReply pr = SHADOWPT__PEEK_REPLY__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;
	int code = err < 0 ? spt_error_code_of(err) : 0;

	if (!c)
		return;
	if (err == -ENXIO) {
		client_send_error(c, request_id, code, watch_id, "page %#llx is not resident",
				  (unsigned long long)vaddr);
		return;
	}
	if (err == -EPERM || err == -EACCES) {
		log_rl(SPT_LOG_INFO, "uid %u (pid %d) denied peeking pid of watch %u: %s",
		       c->conn.peer.uid, (int)c->conn.peer.pid, watch_id, why);
		client_send_error(c, request_id, code, watch_id, "%s", why);
		return;
	}
	if (err == -ESRCH) {
		client_send_error(c, request_id, code, watch_id, "the process of watch %u exited",
				  watch_id);
		return;
	}
	if (err < 0) {
		client_send_error(c, request_id, code, watch_id, "cannot read page %#llx: %s",
				  (unsigned long long)vaddr, strerror(-err));
		return;
	}
	pr.has_watch_id = pr.has_vaddr = pr.has_data = 1;
	pr.watch_id = watch_id;
	pr.vaddr = vaddr;
	pr.data.data = (uint8_t *)page;
	pr.data.len = SPT_PAGE_SIZE;
	out.has_request_id = 1;
	out.request_id = request_id;
	out.msg_case = SHADOWPT__FRAME__MSG_PEEK_REPLY;
	out.peek_reply = &pr;
	client_send_frame(c, &out);
}

/* The daemon's counters and the sessions the asker may see (sessions_status). */
static void client_on_status(struct client *c, const SptFrame *f)
{
	Shadowpt__StatusReply st = SHADOWPT__STATUS_REPLY__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;
	Shadowpt__SessionStatus *ss = NULL, **ssp = NULL;
	Shadowpt__Range *rg = NULL;
	size_t n = sessions_count(), i = 0;

	if (n) {
		ss = calloc(n, sizeof(*ss));
		ssp = calloc(n, sizeof(*ssp));
		rg = calloc(n, sizeof(*rg));
		if (!ss || !ssp || !rg) {
			free(ss);
			free(ssp);
			free(rg);
			client_send_error(c, f->request_id, SHADOWPT__ERROR_CODE__ERROR_INTERNAL, 0,
					  "out of memory");
			return;
		}
		i = sessions_status(&c->conn.peer, ss, ssp, rg);
	}
	st.server_version = (char *)SHADOWPT_VERSION;
	st.has_default_backend = st.has_uptime_ms = st.has_connections = 1;
	st.has_sessions = st.has_viewers = st.has_frames_in = st.has_frames_out = 1;
	st.has_bytes_out = st.has_deltas_dropped = st.has_resyncs = 1;
	st.has_viewers_disconnected = st.has_snapshots_encoded = 1;
	st.default_backend = (Shadowpt__Backend)spt_opts.backend;
	st.uptime_ms = spt_now_ms() - spt_start_ms;
	st.connections = conns_live();
	st.sessions = (uint32_t)n;
	st.viewers = sessions_viewers();
	st.frames_in = spt_stats.frames_in;
	st.frames_out = spt_stats.frames_out;
	st.bytes_out = spt_stats.bytes_out;
	st.deltas_dropped = spt_stats.deltas_dropped;
	st.resyncs = spt_stats.resyncs;
	st.viewers_disconnected = spt_stats.viewers_disconnected;
	st.snapshots_encoded = spt_stats.snapshots_encoded;
	st.n_session = i;
	st.session = ssp;
	st.has_kernel_table_busy = 1;
	st.kernel_table_busy = sessions_kernel_table_holder(&st.kernel_table_uid);
	st.has_kernel_table_uid = st.kernel_table_busy;
	out.has_request_id = 1;
	out.request_id = f->request_id;
	out.msg_case = SHADOWPT__FRAME__MSG_STATUS_REPLY;
	out.status_reply = &st;
	client_send_frame(c, &out);
	free(ss);
	free(ssp);
	free(rg);
}

static void client_on_ping(struct client *c, const SptFrame *f)
{
	Shadowpt__Pong pong = SHADOWPT__PONG__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;

	pong.has_nonce = f->ping->has_nonce;
	pong.nonce = f->ping->nonce;
	out.has_request_id = 1;
	out.request_id = f->request_id;
	out.msg_case = SHADOWPT__FRAME__MSG_PONG;
	out.pong = &pong;
	client_send_frame(c, &out);
}

static const char *frame_name(const SptFrame *f)
{
	return f->msg_case == SHADOWPT__FRAME__MSG__NOT_SET ? "an empty frame (no message set)"
							    : spt_frame_type_name(f);
}

static void client_dispatch(struct client *c, const SptFrame *f)
{
	if (!c->conn.hello_done) {
		if (f->msg_case != SHADOWPT__FRAME__MSG_HELLO)
			conn_fatal(&c->conn, f->request_id,
				   SHADOWPT__ERROR_CODE__ERROR_UNEXPECTED_MESSAGE,
				   "expected hello first, got %s", frame_name(f));
		else
			client_on_hello(c, f);
		return;
	}
	switch (f->msg_case) {
	case SHADOWPT__FRAME__MSG_WATCH:
		client_on_watch(c, f);
		break;
	case SHADOWPT__FRAME__MSG_UNWATCH:
		client_on_unwatch(c, f);
		break;
	case SHADOWPT__FRAME__MSG_PEEK:
		client_on_peek(c, f);
		break;
	case SHADOWPT__FRAME__MSG_STATUS:
		client_on_status(c, f);
		break;
	case SHADOWPT__FRAME__MSG_PING:
		client_on_ping(c, f);
		break;
	default:
		conn_fatal(&c->conn, f->request_id, SHADOWPT__ERROR_CODE__ERROR_UNEXPECTED_MESSAGE,
			   "unexpected %s from a client", frame_name(f));
	}
}

static void client_on_frame(struct conn *conn, const SptFrame *f)
{
	client_dispatch(client_of(conn), f);
}

static void client_on_drained(struct conn *conn)
{
	client_resync_watches(client_of(conn));
}

/* Its watches end with it (the sessions left without viewers close). */
static void client_on_closed(struct conn *conn)
{
	struct client *c = client_of(conn);
	struct watch *w;

	while ((w = LIST_FIRST(&c->watches.list)))
		session_remove_watch(w);
	spt_assert(c->watches.n == 0 && LIST_EMPTY(&c->watches.list));
}

static void client_on_free(struct conn *conn)
{
	free(client_of(conn));
}

static const struct conn_ops client_conn_ops = {
    .frame = client_on_frame,
    .drained = client_on_drained,
    .closed = client_on_closed,
    .free = client_on_free,
};

void client_accept(int fd, const struct spt_peer *peer, const gid_t *groups, int ngroups)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c) {
		log_err("out of memory accepting a connection");
		close(fd);
		return;
	}
	watch_set_init(&c->watches);
	conn_accept(&c->conn, fd, peer, groups, ngroups, &client_conn_ops);
}
