/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client's copy of a watch's page state, rebuilt from Snapshot
 * chunks and Deltas (proto/convert.h does the decoding and validation;
 * this adds sequencing: chunk order, base_seq, resyncs, chunked deltas)
 * plus what the live view needs: counters, the last delta as decoded,
 * and which pages changed recently.
 */
#ifndef SHADOWCTL_TABLE_H
#define SHADOWCTL_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "convert.h"
#include "recent.h"
#include "state.h"

/* What a Delta said besides its changes (its first chunk's fields). */
struct sctl_delta_info {
	uint64_t seq, base_seq, timestamp_ns;
	bool exec;
	uint32_t chunks;
	uint32_t cause; /* protocol 2; 0 = not said */
	uint64_t cause_vaddr, event_time_ns;
	int32_t cause_tid;
	uint32_t events;
	uint64_t received_ns; /* when the viewer had its last chunk (set by the view) */
};

struct sctl_table {
	struct spt_state st;  /* the current, complete state */
	uint64_t seq;	      /* sequence number of st */
	bool valid;	      /* a complete snapshot has been applied */
	uint32_t last_chunks; /* chunks in the last complete snapshot */

	/* A snapshot being assembled from chunks; st stays current meanwhile. */
	struct spt_state staging;
	bool assembling;
	bool staging_resync;
	uint64_t staging_seq;
	uint32_t next_chunk;

	uint64_t deltas;	 /* deltas applied */
	uint64_t deltas_ignored; /* stale deltas (or chunks) dropped while a resync came */
	uint64_t resyncs;

	/*
	 * The last delta, decoded: complete once sctl_table_delta returned
	 * SCTL_TABLE_COMPLETE. A chunked delta is applied chunk by chunk;
	 * delta_open until its last chunk.
	 */
	struct spt_delta delta;
	struct sctl_delta_info delta_info;
	bool delta_open;

	/* Pages changed within the highlight window. */
	struct sctl_recent recent;
	/* Every page's last change since the first snapshot: when and why. */
	struct sctl_recent changes;
};

enum {
	SCTL_TABLE_MORE = 0,	 /* snapshot or delta chunk taken, more to come */
	SCTL_TABLE_COMPLETE = 1, /* snapshot complete / delta applied */
	SCTL_TABLE_IGNORED = 2,	 /* stale delta while a resync is coming */
};

struct sctl_table_stats {
	uint64_t vmas;
	uint64_t allocated; /* pages inside VMAs */
	uint64_t anonymous; /* pages inside anonymous VMAs */
	uint64_t mapped;    /* pages with a present PTE */
	uint64_t swapped;
};

void sctl_table_init(struct sctl_table *t);
/*
 * dst (initialised) becomes a copy of what src shows: its state, seq,
 * counters, last delta's info and change marks (not a snapshot being
 * assembled, nor the last delta's runs). For a paused live view. 0 or
 * -ENOMEM (dst then shows nothing).
 */
int sctl_table_copy_shown(struct sctl_table *dst, const struct sctl_table *src);
void sctl_table_free(struct sctl_table *t);

/*
 * Feeds one Snapshot chunk. Returns SCTL_TABLE_MORE, SCTL_TABLE_COMPLETE
 * (the table now holds the new snapshot) or -EPROTO with *why set.
 * now_ms is used to highlight what a resync changed.
 */
int sctl_table_snapshot(struct sctl_table *t, const Shadowpt__Snapshot *s, int64_t now_ms,
			const char **why);
/*
 * Applies a Delta or one chunk of it. Returns SCTL_TABLE_COMPLETE (t->seq
 * advanced; t->delta and t->delta_info say what changed), SCTL_TABLE_MORE
 * (a chunk applied, more to come), SCTL_TABLE_IGNORED (a resync snapshot
 * is being assembled, the delta is stale) or -EPROTO with *why set
 * (base_seq mismatch, delta before the snapshot, chunks out of order or
 * of different sequence numbers, invalid delta).
 */
int sctl_table_delta(struct sctl_table *t, const Shadowpt__Delta *d, int64_t now_ms,
		     const char **why);

/* Whether the page at vaddr changed within the window before now_ms. */
bool sctl_table_recent(const struct sctl_table *t, uint64_t vaddr, int64_t now_ms);
/* When and why the page at vaddr last changed; false if not since the snapshot. */
bool sctl_table_last_change(const struct sctl_table *t, uint64_t vaddr, int64_t *when_ms,
			    unsigned *cause);
/* Drops highlight entries older than the window. */
void sctl_table_expire(struct sctl_table *t, int64_t now_ms);

void sctl_table_stats(const struct spt_state *st, struct sctl_table_stats *out);

#endif
