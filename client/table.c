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
	t->recent_window_ms = SCTL_RECENT_WINDOW_MS;
}

void sctl_table_free(struct sctl_table *t)
{
	spt_state_free(&t->st);
	spt_state_free(&t->staging);
	free(t->recent);
	t->recent = NULL;
	t->nrecent = t->recent_cap = 0;
}

static char why_buf[160];

static int recent_cmp(const void *a, const void *b)
{
	const struct sctl_recent *x = a, *y = b;

	if (x->vaddr != y->vaddr)
		return x->vaddr < y->vaddr ? -1 : 1;
	return x->when_ms < y->when_ms ? -1 : x->when_ms > y->when_ms;
}

static int recent_push(struct sctl_table *t, uint64_t vaddr, int64_t now_ms)
{
	if (t->nrecent == t->recent_cap) {
		size_t cap = t->recent_cap ? t->recent_cap * 2 : 256;
		struct sctl_recent *n = realloc(t->recent, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->recent = n;
		t->recent_cap = cap;
	}
	t->recent[t->nrecent++] = (struct sctl_recent){vaddr, now_ms};
	return 0;
}

/* Sorts, keeps the newest entry per page and drops expired ones. */
static void recent_normalize(struct sctl_table *t, int64_t now_ms)
{
	size_t i, out = 0;

	if (!t->nrecent)
		return;
	qsort(t->recent, t->nrecent, sizeof(*t->recent), recent_cmp);
	for (i = 0; i < t->nrecent; i++) {
		const struct sctl_recent *r = &t->recent[i];

		if (now_ms - r->when_ms >= t->recent_window_ms)
			continue;
		/* sorted by (vaddr, when): a later equal vaddr is newer */
		if (out && t->recent[out - 1].vaddr == r->vaddr)
			t->recent[out - 1] = *r;
		else
			t->recent[out++] = *r;
	}
	t->nrecent = out;
}

void sctl_table_expire(struct sctl_table *t, int64_t now_ms)
{
	size_t i, out = 0;

	for (i = 0; i < t->nrecent; i++)
		if (now_ms - t->recent[i].when_ms < t->recent_window_ms)
			t->recent[out++] = t->recent[i];
	t->nrecent = out;
}

bool sctl_table_recent(const struct sctl_table *t, uint64_t vaddr, int64_t now_ms)
{
	size_t lo = 0, hi = t->nrecent;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->recent[mid].vaddr < vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->nrecent && t->recent[lo].vaddr == vaddr &&
	       now_ms - t->recent[lo].when_ms < t->recent_window_ms;
}

/* Highlights what a resync changed (cheap: a merge walk of two states). */
static void mark_resync_changes(struct sctl_table *t, int64_t now_ms)
{
	struct spt_delta d;
	size_t i;

	spt_delta_init(&d);
	if (spt_state_diff(&t->st, &t->staging, &d) == 0) {
		for (i = 0; i < d.npages; i++)
			if (recent_push(t, d.pages[i].vaddr, now_ms) < 0)
				break;
		recent_normalize(t, now_ms);
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
			 "unaligned entries)",
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

int sctl_table_delta(struct sctl_table *t, const Shadowpt__Delta *d, int64_t now_ms,
		     const char **why)
{
	size_t i;

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
	if (!d->has_base_seq || d->base_seq != t->seq) {
		snprintf(why_buf, sizeof(why_buf),
			 "delta seq %" PRIu64 " is based on seq %" PRIu64
			 " but the table is at seq %" PRIu64,
			 d->seq, d->base_seq, t->seq);
		*why = why_buf;
		return -EPROTO;
	}
	if (spt_delta_apply_pb(&t->st, d) < 0) {
		t->valid = false; /* st is unspecified now */
		snprintf(why_buf, sizeof(why_buf),
			 "invalid delta seq %" PRIu64 " (does not apply to the table)", d->seq);
		*why = why_buf;
		return -EPROTO;
	}
	t->seq = d->seq;
	t->deltas++;
	for (i = 0; i < d->n_pages; i++)
		if (recent_push(t, d->pages[i]->vaddr, now_ms) < 0)
			break;
	recent_normalize(t, now_ms);
	return SCTL_TABLE_COMPLETE;
}

void sctl_table_stats(const struct spt_state *st, struct sctl_table_stats *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->vmas = st->nvmas;
	for (i = 0; i < st->nvmas; i++) {
		uint64_t n = (st->vmas[i].end - st->vmas[i].start) / SPT_PAGE_SIZE;

		out->allocated += n;
		if (spt_vma_flags(&st->vmas[i]) & SPT_F_ANONYMOUS)
			out->anonymous += n;
	}
	for (i = 0; i < st->npages; i++) {
		if (st->pages[i].flags & SPT_F_MAPPED)
			out->mapped++;
		if (st->pages[i].flags & SPT_F_SWAPPED)
			out->swapped++;
	}
}
