/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Subscriptions: one viewer's watch of one session, on two lists (its
 * viewer's and its session's, each a struct watch_set), what its uid is
 * charged for it (SPT_SLOT_WATCHES, and the per-connection cap), and the
 * per-watch output policy on its connection (deltas within the budget,
 * or dropped and a resync later). The session is opaque here: watch.c
 * sits below session.c and above conn.c, and is how a session reaches
 * its viewers without knowing connections.
 */
#ifndef SHADOWPTD_WATCH_H
#define SHADOWPTD_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "auth.h"
#include "outq.h"
#include "user.h"
#include "wire.h"

struct conn;
struct session;

/* The watches of one viewer, or of one session. */
struct watch_set {
	LIST_HEAD(watch_list, watch) list;
	unsigned n;
};

struct watch {
	uint32_t id;	   /* == session id: shared delta bytes carry it */
	struct conn *conn; /* the viewer's connection */
	struct session *s; /* NULL until watch_attach */
	struct watch_set *viewer_set, *session_set;
	bool raw_pfns;		  /* admin viewer: raw pfns, else tokens */
	uint32_t min_ms, max_ms;  /* sampling bounds asked for, made valid */
	bool needs_resync;	  /* deltas were dropped: snapshot when drained */
	bool pending;		  /* session still opening: WatchStarted not sent yet */
	uint32_t request_id;	  /* of the Watch request, echoed by WatchStarted */
	struct spt_charge charge; /* one of its uid's SPT_SLOT_WATCHES */
	LIST_ENTRY(watch) viewer_entry;
	LIST_ENTRY(watch) session_entry;
};

static inline void watch_set_init(struct watch_set *set)
{
	LIST_INIT(&set->list);
	set->n = 0;
}

/*
 * May the viewer on c, who has the watches of mine, start one more:
 * SPT_MAX_WATCHES_PER_CONNECTION and its uid's SPT_SLOT_WATCHES? 0, or
 * -EDQUOT and why.
 */
int watch_check_quota(const struct conn *c, const struct watch_set *mine, char *why, size_t whylen);
/*
 * A new pending watch of the viewer on c (linked into its set mine),
 * charged to its uid (forced: watch_check_quota said it fits). Sampling
 * bounds as asked (0: daemon default), made valid. NULL: out of memory.
 */
struct watch *watch_new(struct conn *c, struct watch_set *mine, bool raw_pfns, uint32_t min_ms,
			uint32_t max_ms, uint32_t request_id);
/* Subscribes w to s (its session's set theirs); w takes s's id. */
void watch_attach(struct watch *w, struct session *s, struct watch_set *theirs, uint32_t id);
/* Drops every unsent frame of w. */
void watch_drop_output(struct watch *w);
/* Unlinks w from both sets, releases its charge, frees it. Its queued frames stay. */
void watch_destroy(struct watch *w);

/* Who watches: fixed at accept and Hello, for the session's decisions and logs. */
const struct spt_peer *watch_peer(const struct watch *w);
struct spt_user *watch_user(const struct watch *w);
enum spt_charge_mode watch_charge_mode(const struct watch *w);
uint32_t watch_proto(const struct watch *w);
uint64_t watch_viewer_id(const struct watch *w);
const char *watch_viewer_name(const struct watch *w);

/* A control frame to w's viewer. */
int watch_send_frame(struct watch *w, const SptFrame *f);
/* A non-fatal Error to w's viewer. */
int watch_send_error(struct watch *w, uint32_t request_id, int code, uint32_t watch_id,
		     const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* One frame of a snapshot of w's session, counted against w's output. */
int watch_queue_snapshot(struct watch *w, struct spt_buf *b);
/* Budget policy for one delta of w (drop + resync when over). */
void watch_queue_delta(struct watch *w, struct spt_buf *b);
/* Drops w's queued deltas and resyncs it once the output drains. */
void watch_request_resync(struct watch *w);

#endif
