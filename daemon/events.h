/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What an event source tells a session's reader (reader.h): the target's
 * own events since the last drain, reduced to what must be read back.
 * A backend's events_drain() fills a batch; the reader re-reads the pages
 * (and VMAs) the events name, diffs them against what it knew and
 * publishes one delta per batch, carrying the first event's cause, time,
 * address and thread.
 */
#ifndef SHADOWPTD_EVENTS_H
#define SHADOWPTD_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shadowpt.pb-c.h"

/* One event: re-read [start, end) (page aligned). */
struct spt_event {
	uint64_t start, end;
	uint64_t time_ns; /* CLOCK_MONOTONIC, from the event itself */
	int32_t tid;
	uint8_t cause;	  /* Shadowpt__Cause */
	bool fault;	  /* a fault at start: the backend may widen it (fault-around, THP) */
	bool vmas;	  /* the VMAs overlapping [start, end) may have changed */
	bool zap;	  /* every page entry in [start, end) was removed (MADV_DONTNEED) */
	bool done;	  /* the fault at start has ended (its start may be in the batch too) */
	uint8_t attempts; /* reader: times this fault was read back without showing */
};

struct spt_batch {
	struct spt_event *ev;
	size_t nev, cap;
	bool full;	    /* re-read everything: exec, fork, lost events */
	uint8_t full_cause; /* Shadowpt__Cause of that */
	bool all_vmas;	    /* re-read every VMA (a change whose range is unknown) */
	uint64_t lost;	    /* events the source dropped (ring overflow) */
	uint32_t nevents;   /* target events seen, for Delta.events */
	uint64_t poll_ns;   /* drain again within this long, woken or not (0: no need) */
	bool creds;	    /* the target changed its credentials or dumpability */
	/* The first event, for Delta.event_time_ns/cause_vaddr/cause_tid. */
	uint64_t first_ns, first_vaddr;
	int32_t first_tid;
	uint8_t first_cause;
};

void spt_batch_init(struct spt_batch *b);
void spt_batch_clear(struct spt_batch *b); /* keeps capacity */
void spt_batch_free(struct spt_batch *b);
/* Nothing to read back (creds alone need no read). */
bool spt_batch_empty(const struct spt_batch *b);
/* Counts a target event; the first one counted names the batch. */
void spt_batch_note(struct spt_batch *b, uint64_t time_ns, int32_t tid, uint8_t cause,
		    uint64_t vaddr);
/* Adds a range to re-read (also counts it, see spt_batch_note). 0 or -ENOMEM. */
int spt_batch_add(struct spt_batch *b, const struct spt_event *ev);
/* Appends src's events and requests to dst (src unchanged). 0 or -ENOMEM. */
int spt_batch_merge(struct spt_batch *dst, const struct spt_batch *src);
/* Asks for a full re-read. */
void spt_batch_full(struct spt_batch *b, uint64_t time_ns, int32_t tid, uint8_t cause);

#endif
