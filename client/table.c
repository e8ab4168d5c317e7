/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Snapshot + delta reconstruction with sequencing; see table.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define SCTL_RECENT_WINDOW_MS 2000

void sctl_table_init(struct sctl_table *t)
{
	memset(t, 0, sizeof(*t));
	spt_state_init(&t->st);
	spt_state_init(&t->staging);
	spt_delta_init(&t->delta);
	sctl_recent_init(&t->recent, SCTL_RECENT_WINDOW_MS);
	sctl_recent_init(&t->changes, INT64_MAX);
}

void sctl_table_free(struct sctl_table *t)
{
	spt_state_free(&t->st);
	spt_state_free(&t->staging);
	spt_delta_free(&t->delta);
	sctl_recent_free(&t->recent);
	sctl_recent_free(&t->changes);
}

int sctl_table_copy_shown(struct sctl_table *dst, const struct sctl_table *src)
{
	int r = spt_state_copy(&dst->st, &src->st);

	if (!r)
		r = spt_state_copy(&dst->recent.marks, &src->recent.marks);
	if (!r)
		r = spt_state_copy(&dst->changes.marks, &src->changes.marks);
	dst->valid = !r && src->valid;
	dst->seq = src->seq;
	dst->last_chunks = src->last_chunks;
	dst->deltas = src->deltas;
	dst->resyncs = src->resyncs;
	dst->delta_info = src->delta_info;
	return r;
}

static char why_buf[160];

void sctl_table_expire(struct sctl_table *t, int64_t now_ms)
{
	sctl_recent_expire(&t->recent, now_ms);
}

bool sctl_table_recent(const struct sctl_table *t, uint64_t vaddr, int64_t now_ms)
{
	return sctl_recent_is(&t->recent, vaddr, now_ms);
}

bool sctl_table_last_change(const struct sctl_table *t, uint64_t vaddr, int64_t *when_ms,
			    unsigned *cause)
{
	return sctl_recent_get(&t->changes, vaddr, when_ms, cause);
}

/* Highlights and remembers what changed. */
static void mark_changes(struct sctl_table *t, const struct spt_delta *d, int64_t now_ms)
{
	(void)sctl_recent_mark_delta(&t->recent, d, now_ms);
	(void)sctl_recent_mark_delta(&t->changes, d, now_ms);
}

/* Highlights what a resync changed (cheap: a merge walk of two states). */
static void mark_resync_changes(struct sctl_table *t, int64_t now_ms)
{
	struct spt_delta d;

	spt_delta_init(&d);
	if (spt_state_diff(&t->st, &t->staging, &d) == 0) {
		for (size_t i = 0; i < d.nruns; i++)
			d.runs[i].cause = SHADOWPT__CAUSE__CAUSE_RESYNC;
		mark_changes(t, &d, now_ms);
	}
	spt_delta_free(&d);
}

int sctl_table_snapshot(struct sctl_table *t, const Shadowpt__Snapshot *s, int64_t now_ms,
			const char **why)
{
	uint32_t chunk = s->has_chunk ? s->chunk : 0;

	if (chunk == 0) {
		if (t->assembling) {
			*why = "snapshot restarted before its last chunk";
			return -EPROTO;
		}
		if (t->delta_open && !(s->has_resync && s->resync)) {
			*why = "snapshot in the middle of a chunked delta";
			return -EPROTO;
		}
		/* A resync replaces a delta whose chunks were dropped. */
		t->delta_open = false;
		t->assembling = true;
		t->staging_seq = s->seq;
		t->staging_resync = s->has_resync && s->resync;
		t->next_chunk = 0;
	} else if (!t->assembling) {
		snprintf(why_buf, sizeof(why_buf), "snapshot chunk %" PRIu32 " without chunk 0",
			 chunk);
		*why = why_buf;
		return -EPROTO;
	} else if (chunk != t->next_chunk) {
		snprintf(why_buf, sizeof(why_buf),
			 "snapshot chunk %" PRIu32 " out of order (expected %" PRIu32 ")", chunk,
			 t->next_chunk);
		*why = why_buf;
		return -EPROTO;
	} else if (s->seq != t->staging_seq) {
		*why = "snapshot chunks of different sequence numbers";
		return -EPROTO;
	}
	if (spt_snapshot_apply_chunk(&t->staging, s, t->next_chunk) < 0) {
		snprintf(why_buf, sizeof(why_buf),
			 "invalid snapshot chunk %" PRIu32 " (unsorted, overlapping or "
			 "invalid entries)",
			 chunk);
		*why = why_buf;
		return -EPROTO;
	}
	t->next_chunk++;
	if (!(s->has_last_chunk && s->last_chunk))
		return SCTL_TABLE_MORE;

	if (t->valid)
		mark_resync_changes(t, now_ms);
	if (t->valid && t->staging_resync)
		t->resyncs++;
	spt_state_move(&t->st, &t->staging);
	t->seq = t->staging_seq;
	t->valid = true;
	t->assembling = false;
	t->last_chunks = t->next_chunk;
	return SCTL_TABLE_COMPLETE;
}

static void info_from_pb(struct sctl_delta_info *in, const Shadowpt__Delta *d)
{
	*in = (struct sctl_delta_info){
	    .seq = d->seq,
	    .base_seq = d->base_seq,
	    .timestamp_ns = d->timestamp_ns,
	    .exec = d->has_exec && d->exec,
	    .cause = d->has_cause ? (uint32_t)d->cause : 0,
	    .cause_vaddr = d->cause_vaddr,
	    .event_time_ns = d->event_time_ns,
	    .cause_tid = d->cause_tid,
	    .events = d->events,
	};
}

static int delta_fail(struct sctl_table *t, const char *what, const Shadowpt__Delta *d,
		      const char **why)
{
	snprintf(why_buf, sizeof(why_buf), "%s (delta seq %" PRIu64 ")", what, d->seq);
	*why = why_buf;
	return -EPROTO;
}

int sctl_table_delta(struct sctl_table *t, const Shadowpt__Delta *d, int64_t now_ms,
		     const char **why)
{
	uint32_t chunk = d->has_chunk ? d->chunk : 0;
	bool last = !d->has_last_chunk || d->last_chunk; /* protocol 1: one frame */
	struct spt_delta part;
	int ret;

	if (t->assembling) {
		if (t->staging_resync) {
			t->deltas_ignored++;
			return SCTL_TABLE_IGNORED;
		}
		*why = "delta in the middle of a snapshot";
		return -EPROTO;
	}
	if (!t->valid) {
		*why = "delta before the snapshot";
		return -EPROTO;
	}
	if (chunk == 0) {
		if (t->delta_open)
			return delta_fail(t, "delta restarted before its last chunk", d, why);
		if (!d->has_base_seq || d->base_seq != t->seq) {
			snprintf(why_buf, sizeof(why_buf),
				 "delta seq %" PRIu64 " is based on seq %" PRIu64
				 " but the table is at seq %" PRIu64,
				 d->seq, d->base_seq, t->seq);
			*why = why_buf;
			return -EPROTO;
		}
		spt_delta_clear(&t->delta);
		info_from_pb(&t->delta_info, d);
		t->delta_open = true;
	} else if (!t->delta_open) {
		return delta_fail(t, "delta chunk without chunk 0", d, why);
	} else if (chunk != t->delta_info.chunks) {
		return delta_fail(t, "delta chunk out of order", d, why);
	} else if (d->seq != t->delta_info.seq || d->base_seq != t->delta_info.base_seq) {
		return delta_fail(t, "delta chunks of different sequence numbers", d, why);
	}
	spt_delta_init(&part);
	ret = spt_delta_from_pb(&part, d);
	if (!ret)
		ret = spt_state_apply(&t->st, &part);
	if (!ret)
		ret = spt_delta_append(&t->delta, &part);
	spt_delta_free(&part);
	if (ret < 0) {
		t->valid = false; /* st is unspecified now */
		t->delta_open = false;
		snprintf(why_buf, sizeof(why_buf),
			 "invalid delta seq %" PRIu64 " (does not apply to the table)", d->seq);
		*why = why_buf;
		return -EPROTO;
	}
	t->delta_info.chunks++;
	if (!last)
		return SCTL_TABLE_MORE;
	t->delta_open = false;
	t->seq = d->seq;
	t->deltas++;
	mark_changes(t, &t->delta, now_ms);
	return SCTL_TABLE_COMPLETE;
}

void sctl_table_stats(const struct spt_state *st, struct sctl_table_stats *out)
{
	struct spt_run_iter it;
	struct spt_run r;
	size_t i;

	memset(out, 0, sizeof(*out));
	out->vmas = st->nvmas;
	for (i = 0; i < st->nvmas; i++) {
		uint64_t n = (st->vmas[i].end - st->vmas[i].start) / SPT_PAGE_SIZE;

		out->allocated += n;
		if (spt_vma_flags(&st->vmas[i]) & SPT_F_ANONYMOUS)
			out->anonymous += n;
	}
	spt_run_iter_all(&it, st);
	while (spt_run_iter_next(&it, &r)) {
		if (r.flags & SPT_F_MAPPED)
			out->mapped += r.npages;
		if (r.flags & SPT_F_SWAPPED)
			out->swapped += r.npages;
	}
}
