// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One viewer connection: Hello/Welcome, request dispatch, and the output
 * side (budget, resync, stuck viewers). Identity is fixed at accept from
 * SO_PEERCRED; every request is authorized again against its target.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "convert.h"
#include "errcode.h"
#include "log.h"
#include "shadowptd.h"

static uint64_t client_next_id = 1;

static void client_on_read(evutil_socket_t fd, short what, void *arg);
static void client_on_write(evutil_socket_t fd, short what, void *arg);
static void client_process_input(struct client *c);
static void client_flush(struct client *c);

enum spt_charge_mode client_charge_mode(const struct client *c)
{
	return c->peer.admin ? SPT_CHARGE_EXEMPT : SPT_CHARGE_CHECKED;
}

/* Its uid pays for what c holds: SPT_CONNECTION_COST and the bytes queued. */
static void client_charge_output(struct client *c)
{
	spt_charge_set(&c->mem_charge, c->user, SPT_SLOT_MEMORY,
		       SPT_CONNECTION_COST + c->outq.queued, SPT_CHARGE_FORCED);
}

/* May len more bytes be queued to c: its budget, and its uid's memory? */
static bool client_output_fits(const struct client *c, size_t len)
{
	return !outq_over_budget(&c->outq, len) &&
	       spt_charge_fits(&c->mem_charge, c->user, SPT_SLOT_MEMORY, len,
			       client_charge_mode(c));
}

int client_queue(struct client *c, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id)
{
	if (c->dead)
		return 0;
	if (outq_push(&c->outq, b, kind, watch_id) < 0) {
		client_close(c, "out of memory queueing output");
		return -ENOMEM;
	}
	/* Decided on already (replies, or a delta that fit): charged as is. */
	client_charge_output(c);
	/* Output is pending from now; client_flush moves this on progress. */
	if (!c->blocked_since_ms)
		c->blocked_since_ms = spt_now_ms();
	/*
	 * Requests produce output: stop reading them while the viewer does
	 * not read its replies, so a client cannot grow our memory.
	 */
	if (!c->read_paused && c->outq.queued > c->outq.budget) {
		c->read_paused = true;
		event_del(c->ev_read);
	}
	event_add(c->ev_write, NULL);
	return 0;
}

int client_send_frame(struct client *c, const SptFrame *f, enum outq_kind kind, uint32_t watch_id)
{
	struct spt_encoded e = {0};
	struct spt_buf *b;
	int r;

	if (c->dead)
		return 0;
	r = spt_frame_encode(f, SPT_MAX_SERVER_FRAME, &e.data, &e.len);
	if (r < 0) {
		log_err("client %llu: cannot encode %s: %s", (unsigned long long)c->id,
			spt_frame_type_name(f), strerror(-r));
		return r;
	}
	b = spt_buf_from_encoded(&e);
	if (!b) {
		free(e.data);
		client_close(c, "out of memory");
		return -ENOMEM;
	}
	r = client_queue(c, b, kind, watch_id);
	spt_buf_unref(b);
	return r;
}

static int client_send_errorv(struct client *c, uint32_t request_id, int code, uint32_t watch_id,
			      bool fatal, const char *fmt, va_list ap)
{
	Shadowpt__Error err;
	SptFrame f;
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	spt_frame_set_error(&f, &err, request_id, code, msg, fatal);
	if (watch_id) {
		err.has_watch_id = 1;
		err.watch_id = watch_id;
	}
	log_debug("client %llu: error %s: %s%s", (unsigned long long)c->id,
		  spt_error_code_name(code), msg, fatal ? " (closing)" : "");
	return client_send_frame(c, &f, OUTQ_CONTROL, 0);
}

int client_send_error(struct client *c, uint32_t request_id, int code, uint32_t watch_id,
		      bool fatal, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = client_send_errorv(c, request_id, code, watch_id, fatal, fmt, ap);
	va_end(ap);
	return r;
}

/* Protocol violation: say why, stop reading, close once flushed. */
static void client_fatal(struct client *c, uint32_t request_id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void client_fatal(struct client *c, uint32_t request_id, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->dead || c->closing)
		return;
	va_start(ap, fmt);
	client_send_errorv(c, request_id, code, 0, true, fmt, ap);
	va_end(ap);
	if (code != SHADOWPT__ERROR_CODE__ERROR_SHUTTING_DOWN)
		log_rl(SPT_LOG_INFO, "client %llu (uid %u pid %d): %s; closing",
		       (unsigned long long)c->id, c->peer.uid, (int)c->peer.pid,
		       spt_error_code_name(code));
	c->closing = true;
	c->closing_since_ms = spt_now_ms();
	event_del(c->ev_read);
	evbuffer_drain(c->in, evbuffer_get_length(c->in));
}

void client_drop_watch_output(struct client *c, uint32_t watch_id)
{
	outq_drop_watch(&c->outq, watch_id);
	client_charge_output(c);
}

void client_request_resync(struct watch *w)
{
	struct client *c = w->c;

	spt_stats.deltas_dropped += outq_drop_deltas(&c->outq, w->id);
	client_charge_output(c);
	w->needs_resync = true;
	if (!c->dead)
		event_add(c->ev_write, NULL);
}

void client_queue_delta(struct watch *w, struct spt_buf *b)
{
	struct client *c = w->c;
	bool idle;

	if (c->dead || c->closing)
		return;
	if (w->needs_resync) {
		spt_stats.deltas_dropped++;
		return;
	}
	if (!client_output_fits(c, b->len)) {
		log_debug("client %llu: output budget or uid %u's memory exceeded; dropping deltas "
			  "of watch %u",
			  (unsigned long long)c->id, c->peer.uid, w->id);
		spt_stats.deltas_dropped++;
		client_request_resync(w);
		return;
	}
	idle = outq_empty(&c->outq);
	client_queue(c, b, OUTQ_DELTA, w->id);
	/* A viewer keeping up gets it now, not a loop round later. */
	if (idle)
		client_flush(c);
}

void client_accept(int fd, const struct spt_peer *peer, const gid_t *groups, int ngroups)
{
	struct client *c = calloc(1, sizeof(*c));

	if (!c) {
		log_err("out of memory accepting a connection");
		close(fd);
		return;
	}
	c->id = client_next_id++;
	c->fd = fd;
	c->peer = *peer;
	c->peer.admin =
	    auth_peer_is_admin(peer->uid, peer->gid, peer->pid, ngroups >= 0 ? groups : NULL,
			       ngroups >= 0 ? (size_t)ngroups : 0);
	c->accepted_ms = spt_now_ms();
	LIST_INIT(&c->watches);
	outq_init(&c->outq, SPT_OUTPUT_BUDGET);
	c->in = evbuffer_new();
	c->ev_read = event_new(spt_base, fd, EV_READ | EV_PERSIST, client_on_read, c);
	c->ev_write = event_new(spt_base, fd, EV_WRITE, client_on_write, c);
	TAILQ_INSERT_TAIL(&spt_clients, c, entry);
	c->user = spt_user_get(peer->uid);
	if (!c->in || !c->ev_read || !c->ev_write || !c->user) {
		client_close(c, "out of memory");
		return;
	}
	log_debug("client %llu: connected uid %u gid %u pid %d%s", (unsigned long long)c->id,
		  peer->uid, peer->gid, (int)peer->pid, c->peer.admin ? " (admin)" : "");
	/* Refused: one Error frame, then the connection closes. */
	if (spt_charge_set(&c->conn_charge, c->user, SPT_SLOT_CONNECTIONS, 1,
			   client_charge_mode(c)) < 0) {
		client_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED,
			     "uid %u already has %u connections", peer->uid,
			     SPT_MAX_CONNECTIONS_PER_UID);
		return;
	}
	if (spt_charge_set(&c->fd_charge, c->user, SPT_SLOT_FDS, 1, client_charge_mode(c)) < 0) {
		client_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED,
			     "shadowptd has no file descriptor to spare for uid %u (%llu of %llu "
			     "in use)",
			     peer->uid, (unsigned long long)spt_pool_used(SPT_SLOT_FDS),
			     (unsigned long long)spt_pool_size(SPT_SLOT_FDS));
		return;
	}
	if (spt_charge_set(&c->mem_charge, c->user, SPT_SLOT_MEMORY, SPT_CONNECTION_COST,
			   client_charge_mode(c)) < 0) {
		client_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED,
			     "uid %u holds all the memory it may (%llu MiB)", peer->uid,
			     (unsigned long long)(spt_user_max(SPT_SLOT_MEMORY) >> 20));
		return;
	}
	if (spt_shutting_down) {
		client_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_SHUTTING_DOWN,
			     "shadowptd is shutting down");
		return;
	}
	event_add(c->ev_read, NULL);
	server_update_status();
}

void client_close(struct client *c, const char *why)
{
	if (c->dead)
		return;
	log_debug("client %llu: closed: %s", (unsigned long long)c->id, why);
	c->dead = true;
	if (c->ev_read)
		event_del(c->ev_read);
	if (c->ev_write)
		event_del(c->ev_write);
	server_schedule_reap();
}

void clients_reap(void)
{
	struct client *c, *next;
	bool any = false;

	for (c = TAILQ_FIRST(&spt_clients); c; c = next) {
		struct watch *w;

		next = TAILQ_NEXT(c, entry);
		if (!c->dead)
			continue;
		while ((w = LIST_FIRST(&c->watches)))
			session_remove_watch(w);
		TAILQ_REMOVE(&spt_clients, c, entry);
		outq_clear(&c->outq);
		if (c->in)
			evbuffer_free(c->in);
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		spt_charge_release(&c->conn_charge);
		spt_charge_release(&c->fd_charge);
		spt_charge_release(&c->mem_charge);
		spt_user_put(c->user);
		close(c->fd);
		free(c);
		any = true;
	}
	if (any)
		server_update_status();
}

/* Resyncs watches whose deltas were dropped, once the output drained. */
static void client_resync_watches(struct client *c)
{
	struct watch *w;

	LIST_FOREACH(w, &c->watches, client_entry) {
		if (!w->needs_resync)
			continue;
		if (c->outq.queued > OUTQ_LOW_WATERMARK(&c->outq))
			break;
		w->needs_resync = false;
		if (session_send_snapshot(w, true) < 0) {
			client_close(c, "cannot build a resync snapshot");
			return;
		}
	}
}

static void client_flush(struct client *c)
{
	uint64_t frames = 0;
	long n;

	n = outq_flush(&c->outq, c->fd, &frames);
	if (n < 0) {
		client_close(c, strerror((int)-n));
		return;
	}
	spt_stats.frames_out += frames;
	spt_stats.bytes_out += (uint64_t)n;
	if (n > 0)
		client_charge_output(c);
	if (outq_empty(&c->outq))
		c->blocked_since_ms = 0;
	else if (n > 0 || !c->blocked_since_ms)
		c->blocked_since_ms = spt_now_ms();
	if (c->closing) {
		if (outq_empty(&c->outq))
			client_close(c, "closed after a fatal error");
		else
			event_add(c->ev_write, NULL);
		return;
	}
	if (c->outq.queued <= OUTQ_LOW_WATERMARK(&c->outq)) {
		client_resync_watches(c);
		if (c->dead)
			return;
		if (c->read_paused && c->outq.queued <= c->outq.budget) {
			c->read_paused = false;
			event_add(c->ev_read, NULL);
			client_process_input(c);
			if (c->dead)
				return;
		}
	}
	if (!outq_empty(&c->outq))
		event_add(c->ev_write, NULL);
}

static void client_on_write(evutil_socket_t fd, short what, void *arg)
{
	client_flush(arg);
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
		client_fatal(c, f->request_id, SHADOWPT__ERROR_CODE__ERROR_UNSUPPORTED_VERSION,
			     "protocol version %u not supported; this daemon speaks %u to %u",
			     h->has_protocol_version ? h->protocol_version : 0,
			     SPT_PROTOCOL_VERSION_MIN, SPT_PROTOCOL_VERSION);
		return;
	}
	c->proto = h->protocol_version < SPT_PROTOCOL_VERSION ? h->protocol_version
							      : SPT_PROTOCOL_VERSION;
	/* Only printable ASCII of the client name reaches our logs. */
	for (i = 0; h->client_name && h->client_name[i] && i < SPT_MAX_CLIENT_NAME; i++) {
		char ch = h->client_name[i];

		c->name[i] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
	}
	c->name[i] = '\0';
	c->hello_done = true;

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
	pi.uid = c->peer.uid;
	pi.gid = c->peer.gid;
	pi.pid = c->peer.pid;
	pi.admin = c->peer.admin;
	wel.has_protocol_version = 1;
	wel.protocol_version = c->proto;
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
	client_send_frame(c, &out, OUTQ_CONTROL, 0);
	log_debug("client %llu: hello from '%s' (uid %u)", (unsigned long long)c->id, c->name,
		  c->peer.uid);
}

static struct watch *client_find_watch(struct client *c, uint32_t id)
{
	struct watch *w;

	LIST_FOREACH(w, &c->watches, client_entry)
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
	struct spt_charge charge = {0};
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
					  false,
					  "range [%#llx,%#llx) must be page aligned, non-empty "
					  "and end at most %#llx",
					  (unsigned long long)start, (unsigned long long)end,
					  (unsigned long long)SPT_USER_ADDR_MAX);
			return;
		}
	}
	if (backend < SHADOWPT__BACKEND__BACKEND_UNSPECIFIED ||
	    backend > SHADOWPT__BACKEND__BACKEND_KERNEL) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INVALID_ARGUMENT, 0, false,
				  "unknown backend %d", backend);
		return;
	}
	if (c->nwatches >= SPT_MAX_WATCHES_PER_CONNECTION) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED, 0, false,
				  "at most %u watches per connection",
				  SPT_MAX_WATCHES_PER_CONNECTION);
		return;
	}
	if (!spt_charge_fits(&charge, c->user, SPT_SLOT_WATCHES, 1, client_charge_mode(c))) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED, 0, false,
				  "uid %u already has %u watches", c->peer.uid,
				  SPT_MAX_WATCHES_PER_UID);
		return;
	}
	if (pid <= 0) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS, 0, false,
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
		client_send_error(c, rid, spt_error_code_of(r), 0, false, "%s", why);
		return;
	}
	if (is_kernel_thread(pid)) {
		close(pidfd);
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS, 0, false,
				  "pid %d is a kernel thread: it has no user address space",
				  (int)pid);
		return;
	}
	r = auth_check_target(&c->peer, pid, why, sizeof(why));
	if (r < 0) {
		close(pidfd);
		if (r == -EPERM)
			log_rl(SPT_LOG_INFO, "uid %u (pid %d) denied watching pid %d: %s",
			       c->peer.uid, (int)c->peer.pid, (int)pid, why);
		client_send_error(c, rid, spt_error_code_of(r), 0, false, "%s", why);
		return;
	}
	LIST_FOREACH(w, &c->watches, client_entry) {
		if (w->s->pid == pid && w->s->start == start && w->s->end == end &&
		    session_target_alive(w->s)) {
			close(pidfd);
			client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INVALID_ARGUMENT,
					  w->id, false, "already watching this as watch %u", w->id);
			return;
		}
	}
	min_ms = req->has_min_interval_ms ? req->min_interval_ms : 0;
	max_ms = req->has_max_interval_ms ? req->max_interval_ms : 0;
	r = session_get(pid, pidfd, start, end, backend, c->user, client_charge_mode(c), &s, why,
			sizeof(why));
	if (r < 0) {
		client_send_error(c, rid, spt_error_code_of(r), 0, false, "%s", why);
		return;
	}
	spt_charge_set(&charge, c->user, SPT_SLOT_WATCHES, 1, SPT_CHARGE_FORCED); /* fits: above */
	/* WatchStarted and the snapshot follow once the session's first read is in. */
	if (session_add_watch(s, c, c->peer.admin, min_ms, max_ms, rid, &charge) < 0) {
		spt_charge_release(&charge);
		session_release_if_idle(s);
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INTERNAL, 0, false,
				  "out of memory");
		return;
	}
}

static void client_on_unwatch(struct client *c, const SptFrame *f)
{
	Shadowpt__Unwatched uw = SHADOWPT__UNWATCHED__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;
	uint32_t id = f->unwatch->has_watch_id ? f->unwatch->watch_id : 0;
	struct watch *w = client_find_watch(c, id);

	if (!w) {
		client_send_error(c, f->request_id, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_WATCH, id,
				  false, "no watch %u on this connection", id);
		return;
	}
	session_remove_watch(w);
	uw.has_watch_id = 1;
	uw.watch_id = id;
	out.has_request_id = 1;
	out.request_id = f->request_id;
	out.msg_case = SHADOWPT__FRAME__MSG_UNWATCHED;
	out.unwatched = &uw;
	client_send_frame(c, &out, OUTQ_CONTROL, 0);
}

static void client_on_peek(struct client *c, const SptFrame *f)
{
	uint32_t id = f->peek->has_watch_id ? f->peek->watch_id : 0;
	uint32_t rid = f->request_id;
	struct watch *w = client_find_watch(c, id);
	uint64_t vaddr;
	int r;

	if (!w || w->pending) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_WATCH, id, false,
				  "no watch %u on this connection", id);
		return;
	}
	vaddr = (f->peek->has_vaddr ? f->peek->vaddr : 0) & ~(SPT_PAGE_SIZE - 1);
	if (!f->peek->has_vaddr || vaddr < w->s->start || vaddr >= w->s->end) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE, id, false,
				  "address %#llx is outside the watched range [%#llx,%#llx)",
				  (unsigned long long)vaddr, (unsigned long long)w->s->start,
				  (unsigned long long)w->s->end);
		return;
	}
	if (!w->s->ops->peek) {
		client_send_error(c, rid, SHADOWPT__ERROR_CODE__ERROR_BACKEND_UNAVAILABLE, id,
				  false, "the %s backend cannot read page contents",
				  w->s->ops->name);
		return;
	}
	/*
	 * The session's reader reads it, checking the credentials of the
	 * moment (setuid, exec) after binding the target's mm: never here.
	 */
	r = session_peek(w, rid, vaddr);
	if (r < 0)
		client_send_error(c, rid, spt_error_code_of(r), id, false,
				  "cannot read page %#llx: %s", (unsigned long long)vaddr,
				  strerror(-r));
}

void client_peek_reply(struct client *c, uint32_t request_id, uint32_t watch_id, uint64_t vaddr,
		       int err, const char *why, const uint8_t *page)
{
	Shadowpt__PeekReply pr = SHADOWPT__PEEK_REPLY__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;
	int code = err < 0 ? spt_error_code_of(err) : 0;

	if (err == -ENXIO) {
		client_send_error(c, request_id, code, watch_id, false,
				  "page %#llx is not resident", (unsigned long long)vaddr);
		return;
	}
	if (err == -EPERM || err == -EACCES) {
		log_rl(SPT_LOG_INFO, "uid %u (pid %d) denied peeking pid of watch %u: %s",
		       c->peer.uid, (int)c->peer.pid, watch_id, why);
		client_send_error(c, request_id, code, watch_id, false, "%s", why);
		return;
	}
	if (err == -ESRCH) {
		client_send_error(c, request_id, code, watch_id, false,
				  "the process of watch %u exited", watch_id);
		return;
	}
	if (err < 0) {
		client_send_error(c, request_id, code, watch_id, false,
				  "cannot read page %#llx: %s", (unsigned long long)vaddr,
				  strerror(-err));
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
	client_send_frame(c, &out, OUTQ_CONTROL, 0);
}

/* Does any connection of uid watch s? (Its own shadowctl watch, in another process.) */
static bool uid_watches_session(uid_t uid, const struct session *s)
{
	const struct watch *w;

	LIST_FOREACH(w, &s->watches, session_entry)
		if (w->c->peer.uid == uid)
			return true;
	return false;
}

/*
 * Who holds the kernel's one table: the uid paying for the session on
 * the kernel backend, said to everyone, so that a user locked out of it
 * knows whom to ask. False if it is free.
 */
static bool kernel_table_holder(uid_t *uid)
{
	const struct session *s;

	TAILQ_FOREACH(s, &spt_sessions, entry)
		if (s->ops && s->ops->id == SHADOWPT__BACKEND__BACKEND_KERNEL) {
			*uid = s->owner ? s->owner->c->peer.uid : 0;
			return true;
		}
	return false;
}

/*
 * Admins see every session; other viewers only those their uid watches:
 * another user's pid and range are that user's business.
 */
static void client_on_status(struct client *c, const SptFrame *f)
{
	Shadowpt__StatusReply st = SHADOWPT__STATUS_REPLY__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;
	Shadowpt__SessionStatus *ss = NULL, **ssp = NULL;
	Shadowpt__Range *rg = NULL;
	struct session *s;
	struct client *o;
	size_t n = 0, i = 0;

	TAILQ_FOREACH(s, &spt_sessions, entry)
		n++;
	if (n) {
		ss = calloc(n, sizeof(*ss));
		ssp = calloc(n, sizeof(*ssp));
		rg = calloc(n, sizeof(*rg));
		if (!ss || !ssp || !rg) {
			free(ss);
			free(ssp);
			free(rg);
			client_send_error(c, f->request_id, SHADOWPT__ERROR_CODE__ERROR_INTERNAL, 0,
					  false, "out of memory");
			return;
		}
	}
	TAILQ_FOREACH(s, &spt_sessions, entry) {
		if (!s->opened || (!c->peer.admin && !uid_watches_session(c->peer.uid, s)))
			continue;
		shadowpt__session_status__init(&ss[i]);
		shadowpt__range__init(&rg[i]);
		rg[i].has_start = rg[i].has_end = 1;
		rg[i].start = s->start;
		rg[i].end = s->end;
		ss[i].has_pid = ss[i].has_backend = ss[i].has_viewers = ss[i].has_seq = 1;
		ss[i].has_mapped_pages = ss[i].has_vmas = 1;
		ss[i].has_samples = ss[i].has_sample_ns_total = 1;
		ss[i].has_mode = ss[i].has_state = ss[i].has_events = 1;
		ss[i].has_events_lost = ss[i].has_reconciles = 1;
		ss[i].pid = s->pid;
		ss[i].range = &rg[i];
		ss[i].backend = (Shadowpt__Backend)s->ops->id;
		ss[i].viewers = s->nwatches;
		ss[i].seq = s->seq;
		ss[i].mapped_pages = spt_state_npages(&s->cur);
		ss[i].has_runs = 1;
		ss[i].runs = spt_state_nruns(&s->cur);
		ss[i].vmas = s->cur.nvmas;
		ss[i].mode = (Shadowpt__WatchMode)s->mode;
		ss[i].state = (Shadowpt__WatchState)s->state;
		ss[i].has_memory_bytes = 1;
		ss[i].memory_bytes = s->mem_charge.amount;
		if (c->peer.admin && s->owner) {
			ss[i].has_owner_uid = 1;
			ss[i].owner_uid = s->owner->c->peer.uid;
		}
		if (s->rd) {
			const struct spt_reader_stats *rs = spt_reader_stats(s->rd);

			ss[i].samples = __atomic_load_n(&rs->reads, __ATOMIC_RELAXED);
			ss[i].sample_ns_total = __atomic_load_n(&rs->read_ns, __ATOMIC_RELAXED);
			ss[i].events = __atomic_load_n(&rs->events, __ATOMIC_RELAXED);
			ss[i].events_lost = __atomic_load_n(&rs->lost, __ATOMIC_RELAXED);
			ss[i].reconciles = __atomic_load_n(&rs->reconciles, __ATOMIC_RELAXED);
			ss[i].has_interval_ms = s->mode == SPT_MODE_POLLING;
			ss[i].interval_ms =
			    (uint32_t)__atomic_load_n(&rs->interval_ms, __ATOMIC_RELAXED);
		}
		ssp[i] = &ss[i];
		i++;
	}
	st.server_version = (char *)SHADOWPT_VERSION;
	st.has_default_backend = st.has_uptime_ms = st.has_connections = 1;
	st.has_sessions = st.has_viewers = st.has_frames_in = st.has_frames_out = 1;
	st.has_bytes_out = st.has_deltas_dropped = st.has_resyncs = 1;
	st.has_viewers_disconnected = st.has_snapshots_encoded = 1;
	st.default_backend = (Shadowpt__Backend)spt_opts.backend;
	st.uptime_ms = spt_now_ms() - spt_start_ms;
	TAILQ_FOREACH(o, &spt_clients, entry)
		st.connections += !o->dead;
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
	st.kernel_table_busy = kernel_table_holder(&st.kernel_table_uid);
	st.has_kernel_table_uid = st.kernel_table_busy;
	out.has_request_id = 1;
	out.request_id = f->request_id;
	out.msg_case = SHADOWPT__FRAME__MSG_STATUS_REPLY;
	out.status_reply = &st;
	client_send_frame(c, &out, OUTQ_CONTROL, 0);
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
	client_send_frame(c, &out, OUTQ_CONTROL, 0);
}

static const char *frame_name(const SptFrame *f)
{
	return f->msg_case == SHADOWPT__FRAME__MSG__NOT_SET ? "an empty frame (no message set)"
							    : spt_frame_type_name(f);
}

static void client_dispatch(struct client *c, const SptFrame *f)
{
	if (!c->hello_done) {
		if (f->msg_case != SHADOWPT__FRAME__MSG_HELLO)
			client_fatal(c, f->request_id,
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
		client_fatal(c, f->request_id, SHADOWPT__ERROR_CODE__ERROR_UNEXPECTED_MESSAGE,
			     "unexpected %s from a client", frame_name(f));
	}
}

static void client_process_input(struct client *c)
{
	static const uint8_t empty[1];

	while (!c->dead && !c->closing && !c->read_paused) {
		size_t avail = evbuffer_get_length(c->in), plen = 0;
		uint8_t hdr[SPT_FRAME_HEADER_SIZE];
		const uint8_t *payload;
		SptFrame *f;
		int r;

		if (avail < sizeof(hdr))
			return;
		evbuffer_copyout(c->in, hdr, sizeof(hdr));
		/* spt_frame_check reads only the header: the limit comes first. */
		r = spt_frame_check(hdr, avail, SPT_MAX_CLIENT_FRAME, &plen);
		if (r < 0) {
			client_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_FRAME_TOO_LARGE,
				     "frame of %u bytes exceeds the %u byte limit",
				     (unsigned)hdr[0] << 24 | (unsigned)hdr[1] << 16 |
					 (unsigned)hdr[2] << 8 | hdr[3],
				     SPT_MAX_CLIENT_FRAME);
			return;
		}
		if (r == 0)
			return;
		evbuffer_drain(c->in, sizeof(hdr));
		payload = plen ? evbuffer_pullup(c->in, (ssize_t)plen) : empty;
		if (!payload) {
			client_close(c, "out of memory");
			return;
		}
		f = spt_frame_decode(payload, plen);
		evbuffer_drain(c->in, plen);
		spt_stats.frames_in++;
		if (!f) {
			client_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_MALFORMED_FRAME,
				     "undecodable frame of %zu bytes", plen);
			return;
		}
		client_dispatch(c, f);
		spt_frame_free(f);
	}
}

static void client_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	int n;

	/* Never more than one maximal frame ahead of the parser. */
	n = evbuffer_read(c->in, fd, SPT_MAX_CLIENT_FRAME + SPT_FRAME_HEADER_SIZE);
	if (n == 0) {
		client_close(c, "peer closed the connection");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c, strerror(errno));
		return;
	}
	client_process_input(c);
}

void clients_shutdown(void)
{
	struct client *c;

	TAILQ_FOREACH(c, &spt_clients, entry) {
		if (c->dead)
			continue;
		/* Whatever is not on its way already does not matter now. */
		outq_drop_unstarted(&c->outq);
		c->closing = false;
		client_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_SHUTTING_DOWN,
			     "shadowptd is shutting down");
	}
}

bool clients_all_flushed(void)
{
	struct client *c;

	TAILQ_FOREACH(c, &spt_clients, entry)
		if (!c->dead && !outq_empty(&c->outq))
			return false;
	return true;
}

void clients_check_deadlines(void)
{
	uint64_t now = spt_now_ms();
	struct client *c;

	TAILQ_FOREACH(c, &spt_clients, entry) {
		if (c->dead)
			continue;
		if (c->closing) {
			if (now - c->closing_since_ms > SPT_CLOSE_FLUSH_MS)
				client_close(c, "fatal error not read in time");
			continue;
		}
		if (!c->hello_done && now - c->accepted_ms > SPT_HANDSHAKE_TIMEOUT_MS) {
			client_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_UNEXPECTED_MESSAGE,
				     "no hello within %u ms", SPT_HANDSHAKE_TIMEOUT_MS);
			continue;
		}
		if (c->blocked_since_ms && now - c->blocked_since_ms > SPT_STUCK_DEADLINE_MS) {
			uint64_t frames = 0;

			log_rl(SPT_LOG_NOTICE,
			       "client %llu (uid %u pid %d '%s'): output stuck for %u ms "
			       "(%zu bytes still queued); disconnecting",
			       (unsigned long long)c->id, c->peer.uid, (int)c->peer.pid, c->name,
			       SPT_STUCK_DEADLINE_MS, c->outq.queued);
			spt_stats.viewers_disconnected++;
			/* Best effort: the Error goes out only if the socket takes it. */
			outq_drop_unstarted(&c->outq);
			client_send_error(c, 0, SHADOWPT__ERROR_CODE__ERROR_SLOW_VIEWER, 0, true,
					  "output blocked for more than %u ms",
					  SPT_STUCK_DEADLINE_MS);
			outq_flush(&c->outq, c->fd, &frames);
			client_close(c, "slow viewer");
		}
	}
}
