/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The connection layer: one viewer's socket, its framing, its output
 * queue and budget, the charges its uid pays for it, its deadlines
 * (handshake, stuck output, flush after a fatal error), and the state
 * the handshake settles (protocol version, client name). It knows
 * nothing of sessions or watches: it reports to the layer above through
 * struct conn_ops, the way dbus-broker's connection reports to its bus.
 * The object above embeds struct conn (container_of) and owns its memory.
 */
#ifndef SHADOWPTD_CONN_H
#define SHADOWPTD_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "auth.h"
#include "outq.h"
#include "user.h"
#include "wire.h"

struct event;
struct event_base;
struct evbuffer;
struct conn;

struct conn_ops {
	/* One decoded frame (freed by the caller once this returns). */
	void (*frame)(struct conn *c, const SptFrame *f);
	/* The output fell to its low watermark: room for what waited (resyncs). */
	void (*drained)(struct conn *c);
	/* c is dead and about to be freed: let go of everything held on it. */
	void (*closed)(struct conn *c);
	/* Frees the object c is embedded in, once the connection let go of it. */
	void (*free)(struct conn *c);
};

/* Fields are read-only outside conn.c. */
struct conn {
	TAILQ_ENTRY(conn) entry;
	const struct conn_ops *ops;
	uint64_t id; /* for logs */
	int fd;
	struct event *ev_read, *ev_write;
	struct evbuffer *in;
	struct outq outq;
	struct spt_peer peer;
	struct spt_user *user; /* its uid's account (user.h) */
	/* One connection, one fd, and SPT_CONNECTION_COST plus its queued bytes. */
	struct spt_charge conn_charge, fd_charge, mem_charge;
	char name[SPT_MAX_CLIENT_NAME + 1];
	bool hello_done;
	uint32_t proto;	  /* negotiated protocol version (after Hello) */
	bool closing;	  /* fatal error queued: close once flushed */
	bool dead;	  /* closed, waiting to be freed */
	bool read_paused; /* output over budget: stop reading requests */
	uint64_t accepted_ms;
	uint64_t blocked_since_ms; /* 0, or when output last stopped moving */
	uint64_t closing_since_ms;
};

/*
 * Sets up the layer on base: changed() is called whenever a connection
 * is added or freed (the daemon's status line). 0 or -ENOMEM.
 */
int conns_init(struct event_base *base, void (*changed)(void));
void conns_free(void);

/*
 * Takes fd (connected, non-blocking) into c, which the caller allocated
 * zeroed, and starts reading, or refuses with one fatal Error (limits,
 * shutdown). Admin status is decided here, from peer and its groups
 * (ngroups < 0: unknown, read them from /proc).
 */
void conn_accept(struct conn *c, int fd, const struct spt_peer *peer, const gid_t *groups,
		 int ngroups, const struct conn_ops *ops);
/* How c's charges are checked: admins are exempt from per-uid quotas. */
enum spt_charge_mode conn_charge_mode(const struct conn *c);
/* The handshake is done: protocol version and client name (sanitized here). */
void conn_hello_done(struct conn *c, uint32_t proto, const char *name);

/* Queues an encoded frame; kind and watch_id tag it for the queue's policy. */
int conn_queue(struct conn *c, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id);
/* The same, written now when nothing is queued before it (a viewer keeping up). */
int conn_send_now(struct conn *c, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id);
/* Encodes and queues one frame. */
int conn_send_frame(struct conn *c, const SptFrame *f, enum outq_kind kind, uint32_t watch_id);
int conn_send_errorv(struct conn *c, uint32_t request_id, int code, uint32_t watch_id, bool fatal,
		     const char *fmt, va_list ap) __attribute__((format(printf, 6, 0)));
int conn_send_error(struct conn *c, uint32_t request_id, int code, uint32_t watch_id, bool fatal,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Protocol violation: say why, stop reading, close once flushed. */
void conn_fatal(struct conn *c, uint32_t request_id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* May len more bytes be queued to c: its budget, and its uid's memory? */
bool conn_output_fits(const struct conn *c, size_t len);
/* Drops the queued deltas of watch_id; how many. */
size_t conn_drop_deltas(struct conn *c, uint32_t watch_id);
/* Drops every unsent frame of watch_id. */
void conn_drop_watch_output(struct conn *c, uint32_t watch_id);
/* Writes now what the socket takes. */
void conn_flush(struct conn *c);
/* Makes sure c's write side runs (it may have something to say when drained). */
void conn_want_write(struct conn *c);

/* Marks c dead and schedules it to be freed; safe from any callback. */
void conn_close(struct conn *c, const char *why);
/* The live connection with this id, or NULL. */
struct conn *conn_find(uint64_t id);
/* Live connections. */
unsigned conns_live(void);
/* Frees dead connections (the reaper event; and at exit). */
void conns_reap(void);
/* Closes every connection, then frees them (exit). */
void conns_close_all(const char *why);
/* Shutdown: tell every viewer, stop reading. */
void conns_shutdown(void);
bool conns_all_flushed(void);
/* Periodic: stuck viewers, handshake deadline, closing flush deadline. */
void conns_check_deadlines(void);

#endif
