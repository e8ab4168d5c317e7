// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The connection layer (conn.h): read and frame a viewer's requests, queue
 * and flush its output within its budget, and enforce its deadlines.
 * Identity is fixed at accept from SO_PEERCRED. What a frame means is the
 * business of the layer above (conn_ops).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "conn.h"
#include "convert.h"
#include "errcode.h"
#include "globals.h"
#include "log.h"
#include "spt-assert.h"

static TAILQ_HEAD(, conn) conns = TAILQ_HEAD_INITIALIZER(conns);
static uint64_t conn_next_id = 1;
static struct event_base *conn_base;
static struct event *ev_reap;
static void (*conns_changed)(void);

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);
static void conn_process_input(struct conn *c);

static void conn_on_reap(evutil_socket_t fd, short what, void *arg)
{
	conns_reap();
}

int conns_init(struct event_base *base, void (*changed)(void))
{
	conn_base = base;
	conns_changed = changed;
	ev_reap = event_new(base, -1, 0, conn_on_reap, NULL);
	return ev_reap ? 0 : -ENOMEM;
}

void conns_free(void)
{
	spt_assert(TAILQ_EMPTY(&conns));
	if (ev_reap)
		event_free(ev_reap);
	ev_reap = NULL;
	conn_base = NULL;
}

static void conns_notify_changed(void)
{
	if (conns_changed)
		conns_changed();
}

enum spt_charge_mode conn_charge_mode(const struct conn *c)
{
	return c->peer.admin ? SPT_CHARGE_EXEMPT : SPT_CHARGE_CHECKED;
}

/* Its uid pays for what c holds: SPT_CONNECTION_COST and the bytes queued. */
static void conn_charge_output(struct conn *c)
{
	spt_charge_set(&c->mem_charge, c->user, SPT_SLOT_MEMORY,
		       SPT_CONNECTION_COST + c->outq.queued, SPT_CHARGE_FORCED);
}

bool conn_output_fits(const struct conn *c, size_t len)
{
	return !outq_over_budget(&c->outq, len) &&
	       spt_charge_fits(&c->mem_charge, c->user, SPT_SLOT_MEMORY, len, conn_charge_mode(c));
}

/* Queues b without arming the write side: conn_queue and conn_send_now do that. */
static int conn_push(struct conn *c, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id)
{
	if (outq_push(&c->outq, b, kind, watch_id) < 0) {
		conn_close(c, "out of memory queueing output");
		return -ENOMEM;
	}
	/* Decided on already (replies, or a delta that fit): charged as is. */
	conn_charge_output(c);
	/* Output is pending from now; conn_flush moves this on progress. */
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
	return 0;
}

int conn_queue(struct conn *c, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id)
{
	int r;

	if (c->dead)
		return 0;
	r = conn_push(c, b, kind, watch_id);
	if (r == 0)
		event_add(c->ev_write, NULL);
	return r;
}

int conn_send_now(struct conn *c, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id)
{
	int r;

	if (c->dead)
		return 0;
	if (!outq_empty(&c->outq))
		return conn_queue(c, b, kind, watch_id); /* behind what waits, in order */
	/*
	 * Written at once, the write side is armed only for what the socket
	 * did not take: no epoll_ctl and no extra loop round per frame.
	 */
	r = conn_push(c, b, kind, watch_id);
	if (r == 0)
		conn_flush(c);
	return r;
}

int conn_send_frame(struct conn *c, const SptFrame *f, enum outq_kind kind, uint32_t watch_id)
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
		conn_close(c, "out of memory");
		return -ENOMEM;
	}
	r = conn_queue(c, b, kind, watch_id);
	spt_buf_unref(b);
	return r;
}

int conn_send_errorv(struct conn *c, uint32_t request_id, int code, uint32_t watch_id, bool fatal,
		     const char *fmt, va_list ap)
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
	return conn_send_frame(c, &f, OUTQ_CONTROL, 0);
}

int conn_send_error(struct conn *c, uint32_t request_id, int code, uint32_t watch_id, bool fatal,
		    const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = conn_send_errorv(c, request_id, code, watch_id, fatal, fmt, ap);
	va_end(ap);
	return r;
}

void conn_fatal(struct conn *c, uint32_t request_id, int code, const char *fmt, ...)
{
	va_list ap;

	if (c->dead || c->closing)
		return;
	va_start(ap, fmt);
	conn_send_errorv(c, request_id, code, 0, true, fmt, ap);
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

size_t conn_drop_deltas(struct conn *c, uint32_t watch_id)
{
	size_t n = outq_drop_deltas(&c->outq, watch_id);

	conn_charge_output(c);
	return n;
}

void conn_drop_watch_output(struct conn *c, uint32_t watch_id)
{
	outq_drop_watch(&c->outq, watch_id);
	conn_charge_output(c);
}

void conn_want_write(struct conn *c)
{
	if (!c->dead)
		event_add(c->ev_write, NULL);
}

void conn_hello_done(struct conn *c, uint32_t proto, const char *name)
{
	size_t i;

	spt_assert(!c->hello_done);
	c->proto = proto;
	/* Only printable ASCII of the client name reaches our logs. */
	for (i = 0; name && name[i] && i < SPT_MAX_CLIENT_NAME; i++) {
		char ch = name[i];

		c->name[i] = (ch >= 0x20 && ch < 0x7f) ? ch : '?';
	}
	c->name[i] = '\0';
	c->hello_done = true;
}

void conn_accept(struct conn *c, int fd, const struct spt_peer *peer, const gid_t *groups,
		 int ngroups, const struct conn_ops *ops)
{
	c->ops = ops;
	c->id = conn_next_id++;
	c->fd = fd;
	c->peer = *peer;
	c->peer.admin =
	    auth_peer_is_admin(peer->uid, peer->gid, peer->pid, ngroups >= 0 ? groups : NULL,
			       ngroups >= 0 ? (size_t)ngroups : 0);
	c->accepted_ms = spt_now_ms();
	outq_init(&c->outq, SPT_OUTPUT_BUDGET);
	c->in = evbuffer_new();
	c->ev_read = event_new(conn_base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
	c->ev_write = event_new(conn_base, fd, EV_WRITE, conn_on_write, c);
	TAILQ_INSERT_TAIL(&conns, c, entry);
	c->user = spt_user_get(peer->uid);
	if (!c->in || !c->ev_read || !c->ev_write || !c->user) {
		conn_close(c, "out of memory");
		return;
	}
	log_debug("client %llu: connected uid %u gid %u pid %d%s", (unsigned long long)c->id,
		  peer->uid, peer->gid, (int)peer->pid, c->peer.admin ? " (admin)" : "");
	/* Refused: one Error frame, then the connection closes. */
	if (spt_charge_set(&c->conn_charge, c->user, SPT_SLOT_CONNECTIONS, 1, conn_charge_mode(c)) <
	    0) {
		conn_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED,
			   "uid %u already has %u connections", peer->uid,
			   SPT_MAX_CONNECTIONS_PER_UID);
		return;
	}
	if (spt_charge_set(&c->fd_charge, c->user, SPT_SLOT_FDS, 1, conn_charge_mode(c)) < 0) {
		conn_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED,
			   "shadowptd has no file descriptor to spare for uid %u (%llu of %llu "
			   "in use)",
			   peer->uid, (unsigned long long)spt_pool_used(SPT_SLOT_FDS),
			   (unsigned long long)spt_pool_size(SPT_SLOT_FDS));
		return;
	}
	if (spt_charge_set(&c->mem_charge, c->user, SPT_SLOT_MEMORY, SPT_CONNECTION_COST,
			   conn_charge_mode(c)) < 0) {
		conn_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED,
			   "uid %u holds all the memory it may (%llu MiB)", peer->uid,
			   (unsigned long long)(spt_user_max(SPT_SLOT_MEMORY) >> 20));
		return;
	}
	if (spt_shutting_down) {
		conn_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_SHUTTING_DOWN,
			   "shadowptd is shutting down");
		return;
	}
	event_add(c->ev_read, NULL);
	conns_notify_changed();
}

void conn_close(struct conn *c, const char *why)
{
	if (c->dead)
		return;
	log_debug("client %llu: closed: %s", (unsigned long long)c->id, why);
	c->dead = true;
	if (c->ev_read)
		event_del(c->ev_read);
	if (c->ev_write)
		event_del(c->ev_write);
	event_active(ev_reap, EV_TIMEOUT, 0);
}

struct conn *conn_find(uint64_t id)
{
	struct conn *c;

	TAILQ_FOREACH(c, &conns, entry)
		if (c->id == id && !c->dead)
			return c;
	return NULL;
}

unsigned conns_live(void)
{
	struct conn *c;
	unsigned n = 0;

	TAILQ_FOREACH(c, &conns, entry)
		n += !c->dead;
	return n;
}

void conns_reap(void)
{
	struct conn *c, *next;
	bool any = false;

	for (c = TAILQ_FIRST(&conns); c; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (!c->dead)
			continue;
		c->ops->closed(c);
		TAILQ_REMOVE(&conns, c, entry);
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
		c->ops->free(c);
		any = true;
	}
	if (any)
		conns_notify_changed();
}

void conns_close_all(const char *why)
{
	struct conn *c;

	TAILQ_FOREACH(c, &conns, entry)
		conn_close(c, why);
	conns_reap();
}

void conn_flush(struct conn *c)
{
	uint64_t frames = 0;
	long n;

	n = outq_flush(&c->outq, c->fd, &frames);
	if (n < 0) {
		conn_close(c, strerror((int)-n));
		return;
	}
	spt_stats.frames_out += frames;
	spt_stats.bytes_out += (uint64_t)n;
	if (n > 0)
		conn_charge_output(c);
	if (outq_empty(&c->outq))
		c->blocked_since_ms = 0;
	else if (n > 0 || !c->blocked_since_ms)
		c->blocked_since_ms = spt_now_ms();
	if (c->closing) {
		if (outq_empty(&c->outq))
			conn_close(c, "closed after a fatal error");
		else
			event_add(c->ev_write, NULL);
		return;
	}
	if (c->outq.queued <= OUTQ_LOW_WATERMARK(&c->outq)) {
		c->ops->drained(c);
		if (c->dead)
			return;
		if (c->read_paused && c->outq.queued <= c->outq.budget) {
			c->read_paused = false;
			event_add(c->ev_read, NULL);
			conn_process_input(c);
			if (c->dead)
				return;
		}
	}
	if (!outq_empty(&c->outq))
		event_add(c->ev_write, NULL);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	conn_flush(arg);
}

static void conn_process_input(struct conn *c)
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
			conn_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_FRAME_TOO_LARGE,
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
			conn_close(c, "out of memory");
			return;
		}
		f = spt_frame_decode(payload, plen);
		evbuffer_drain(c->in, plen);
		spt_stats.frames_in++;
		if (!f) {
			conn_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_MALFORMED_FRAME,
				   "undecodable frame of %zu bytes", plen);
			return;
		}
		c->ops->frame(c, f);
		spt_frame_free(f);
	}
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	int n;

	/* Never more than one maximal frame ahead of the parser. */
	n = evbuffer_read(c->in, fd, SPT_MAX_CLIENT_FRAME + SPT_FRAME_HEADER_SIZE);
	if (n == 0) {
		conn_close(c, "peer closed the connection");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(c, strerror(errno));
		return;
	}
	conn_process_input(c);
}

void conns_shutdown(void)
{
	struct conn *c;

	TAILQ_FOREACH(c, &conns, entry) {
		if (c->dead)
			continue;
		/* Whatever is not on its way already does not matter now. */
		outq_drop_unstarted(&c->outq);
		c->closing = false;
		conn_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_SHUTTING_DOWN,
			   "shadowptd is shutting down");
	}
}

bool conns_all_flushed(void)
{
	struct conn *c;

	TAILQ_FOREACH(c, &conns, entry)
		if (!c->dead && !outq_empty(&c->outq))
			return false;
	return true;
}

void conns_check_deadlines(void)
{
	uint64_t now = spt_now_ms();
	struct conn *c;

	TAILQ_FOREACH(c, &conns, entry) {
		if (c->dead)
			continue;
		if (c->closing) {
			if (now - c->closing_since_ms > SPT_CLOSE_FLUSH_MS)
				conn_close(c, "fatal error not read in time");
			continue;
		}
		if (!c->hello_done && now - c->accepted_ms > SPT_HANDSHAKE_TIMEOUT_MS) {
			conn_fatal(c, 0, SHADOWPT__ERROR_CODE__ERROR_UNEXPECTED_MESSAGE,
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
			conn_send_error(c, 0, SHADOWPT__ERROR_CODE__ERROR_SLOW_VIEWER, 0, true,
					"output blocked for more than %u ms",
					SPT_STUCK_DEADLINE_MS);
			outq_flush(&c->outq, c->fd, &frames);
			conn_close(c, "slow viewer");
		}
	}
}
