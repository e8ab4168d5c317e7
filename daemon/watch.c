// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Subscriptions (watch.h): their two lists, their charges, and how their
 * deltas, snapshots and errors reach the viewer's connection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "conn.h"
#include "globals.h"
#include "interval.h"
#include "log.h"
#include "spt-assert.h"
#include "watch.h"

int watch_check_quota(const struct conn *c, const struct watch_set *mine, char *why, size_t whylen)
{
	struct spt_charge none = {0};

	if (mine->n >= SPT_MAX_WATCHES_PER_CONNECTION) {
		snprintf(why, whylen, "at most %u watches per connection",
			 SPT_MAX_WATCHES_PER_CONNECTION);
		return -EDQUOT;
	}
	if (!spt_charge_fits(&none, c->user, SPT_SLOT_WATCHES, 1, conn_charge_mode(c))) {
		snprintf(why, whylen, "uid %u already has %u watches", c->peer.uid,
			 SPT_MAX_WATCHES_PER_UID);
		return -EDQUOT;
	}
	return 0;
}

struct watch *watch_new(struct conn *c, struct watch_set *mine, bool raw_pfns, uint32_t min_ms,
			uint32_t max_ms, uint32_t request_id)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct spt_interval want;

	if (!w)
		return NULL;
	w->conn = c;
	w->raw_pfns = raw_pfns;
	w->request_id = request_id;
	w->pending = true;
	interval_init(&want, min_ms, max_ms, spt_opts.min_ms, spt_opts.max_ms);
	w->min_ms = want.min_ms;
	w->max_ms = want.max_ms;
	spt_charge_set(&w->charge, c->user, SPT_SLOT_WATCHES, 1, SPT_CHARGE_FORCED);
	w->viewer_set = mine;
	LIST_INSERT_HEAD(&mine->list, w, viewer_entry);
	mine->n++;
	return w;
}

void watch_attach(struct watch *w, struct session *s, struct watch_set *theirs, uint32_t id)
{
	spt_assert(!w->s && s);
	w->s = s;
	w->id = id;
	w->session_set = theirs;
	LIST_INSERT_HEAD(&theirs->list, w, session_entry);
	theirs->n++;
}

void watch_drop_output(struct watch *w)
{
	conn_drop_watch_output(w->conn, w->id);
}

void watch_destroy(struct watch *w)
{
	spt_assert(w->viewer_set->n > 0);
	LIST_REMOVE(w, viewer_entry);
	w->viewer_set->n--;
	if (w->session_set) {
		spt_assert(w->session_set->n > 0);
		LIST_REMOVE(w, session_entry);
		w->session_set->n--;
	}
	spt_charge_release(&w->charge);
	free(w);
}

const struct spt_peer *watch_peer(const struct watch *w)
{
	return &w->conn->peer;
}

struct spt_user *watch_user(const struct watch *w)
{
	return w->conn->user;
}

enum spt_charge_mode watch_charge_mode(const struct watch *w)
{
	return conn_charge_mode(w->conn);
}

uint32_t watch_proto(const struct watch *w)
{
	return w->conn->proto;
}

uint64_t watch_viewer_id(const struct watch *w)
{
	return w->conn->id;
}

const char *watch_viewer_name(const struct watch *w)
{
	return w->conn->name;
}

int watch_send_frame(struct watch *w, const SptFrame *f)
{
	return conn_send_frame(w->conn, f, OUTQ_CONTROL, 0);
}

int watch_send_error(struct watch *w, uint32_t request_id, int code, uint32_t watch_id,
		     const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = conn_send_errorv(w->conn, request_id, code, watch_id, false, fmt, ap);
	va_end(ap);
	return r;
}

int watch_queue_snapshot(struct watch *w, struct spt_buf *b)
{
	return conn_queue(w->conn, b, OUTQ_SNAPSHOT, w->id);
}

void watch_request_resync(struct watch *w)
{
	spt_stats.deltas_dropped += conn_drop_deltas(w->conn, w->id);
	w->needs_resync = true;
	conn_want_write(w->conn);
}

void watch_queue_delta(struct watch *w, struct spt_buf *b)
{
	struct conn *c = w->conn;

	if (c->dead || c->closing)
		return;
	if (w->needs_resync) {
		spt_stats.deltas_dropped++;
		return;
	}
	if (!conn_output_fits(c, b->len)) {
		log_debug("client %llu: output budget or uid %u's memory exceeded; dropping deltas "
			  "of watch %u",
			  (unsigned long long)c->id, c->peer.uid, w->id);
		spt_stats.deltas_dropped++;
		watch_request_resync(w);
		return;
	}
	/* A viewer keeping up gets it now, not a loop round later. */
	conn_send_now(c, b, OUTQ_DELTA, w->id);
}
