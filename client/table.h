/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client's copy of a watch's page state, rebuilt from Snapshot
 * chunks and Deltas (proto/convert.h does the decoding and validation;
 * this adds sequencing: chunk order, base_seq, resyncs) plus what the
 * live view needs: counters and which pages changed recently.
 */
#ifndef SHADOWCTL_TABLE_H
#define SHADOWCTL_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "convert.h"
#include "state.h"

struct sctl_recent {
	uint64_t vaddr;
	int64_t when_ms;
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
	uint64_t deltas_ignored; /* stale deltas dropped while a resync came */
	uint64_t resyncs;

	/* Pages changed within the highlight window, sorted by vaddr. */
	struct sctl_recent *recent;
	size_t nrecent, recent_cap;
	int64_t recent_window_ms;
};

enum {
	SCTL_TABLE_MORE = 0,	 /* snapshot chunk stored, more to come */
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
void sctl_table_free(struct sctl_table *t);

/*
 * Feeds one Snapshot chunk. Returns SCTL_TABLE_MORE, SCTL_TABLE_COMPLETE
 * (the table now holds the new snapshot) or -EPROTO with *why set.
 * now_ms is used to highlight what a resync changed.
 */
int sctl_table_snapshot(struct sctl_table *t, const Shadowpt__Snapshot *s, int64_t now_ms,
			const char **why);
/*
 * Applies a Delta. Returns SCTL_TABLE_COMPLETE, SCTL_TABLE_IGNORED (a
 * resync snapshot is being assembled, the delta is stale) or -EPROTO with
 * *why set (base_seq mismatch, delta before the snapshot, invalid delta).
 */
int sctl_table_delta(struct sctl_table *t, const Shadowpt__Delta *d, int64_t now_ms,
		     const char **why);

/* Whether vaddr changed within the window before now_ms. */
bool sctl_table_recent(const struct sctl_table *t, uint64_t vaddr, int64_t now_ms);
/* Drops highlight entries older than the window. */
void sctl_table_expire(struct sctl_table *t, int64_t now_ms);

void sctl_table_stats(const struct spt_state *st, struct sctl_table_stats *out);

#endif
