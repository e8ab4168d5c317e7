/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Inside a session's reader (reader.h): the thread's state, shared by
 * reader.c (the thread, its queue and loop, full reads, peeks) and
 * reader-batch.c (what a batch of the target's events becomes: ranges
 * to re-read, causes where they overlap, retries, zaps).
 */
#ifndef SHADOWPTD_READER_PRIV_H
#define SHADOWPTD_READER_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"
#include "interval.h"
#include "reader.h"

struct peek_cmd;

/* A fault that may not be over yet: its page is read again later. */
struct retry {
	uint64_t page, time_ns, due_ns;
	int32_t tid;
	uint8_t cause;
	unsigned attempts;
};

/* One range to re-read, with the cause of the last event that touched it. */
struct segment {
	uint64_t start, end, time_ns;
	int32_t tid;
	uint8_t cause;
	bool fault;   /* a fault window: read wider when it shows a THP or more at its edge */
	bool widened; /* a changed VMA's extent beyond what its event named */
	unsigned attempts;
	uint64_t fault_page; /* the faulting page, whose window is recomputed on retry */
};

struct spt_reader {
	/* Set at start, then read-only. */
	const struct spt_backend_ops *ops;
	int requested;
	bool events_allowed;
	pid_t pid;
	int pidfd;
	uint64_t start, end;
	pthread_t thread;

	/* Shared with the loop, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t space; /* the loop took messages, or stop */
	pthread_cond_t room;  /* the loop answered a ROOM message, or stop */
	int refs;
	bool stopping;
	struct spt_reader_msg *head, **tailp;
	unsigned nqueued;
	size_t queued_runs;	   /* delta runs the loop has not taken yet */
	size_t max_runs, max_vmas; /* the state's caps, granted by the loop */
	unsigned room_gen;	   /* answers so far */
	bool room_refused;	   /* the last answer */
	struct peek_cmd *peeks;
	int out_pipe[2];	       /* the loop waits on [0] (see pipe_signal) */
	int cmd_efd;		       /* reader waits on it */
	uint64_t busy_since;	       /* atomic */
	uint32_t min_ms, max_ms;       /* polling bounds, atomic */
	bool hurry;		       /* atomic: a viewer joined, poll now */
	int mode;		       /* atomic */
	struct spt_reader_stats stats; /* written by the reader, read by the loop */

	/* The reader's own. */
	size_t lim_runs, lim_vmas; /* caps its states have now */
	void *handle;
	int epfd;
	struct spt_state known, next, fresh;
	struct spt_state vbefore; /* known's VMAs before a batch that changes them */
	struct spt_delta delta, vdelta;
	struct spt_batch batch;
	/* Drained after a read to name what it found; the next round's start. */
	struct spt_batch late;
	struct spt_interval iv;
	struct retry *retries;
	size_t nretries, retries_cap;
	struct segment *segs;
	size_t nsegs, segs_cap;
	uint64_t poll_due_ns, reconcile_due_ns;
	uint64_t drain_due_ns; /* the event source asked to be drained again by then */
	/* The first event of a batch that changed pages: what the delta is named by. */
	struct {
		bool set, fault;
		uint8_t cause;
		int32_t tid;
		uint64_t vaddr, time_ns;
	} first_change;
	uint64_t last_full_ns; /* what the last full read cost */
	int failing;	       /* last error posted, 0 when reads work */
};

static inline void busy(struct spt_reader *r)
{
	__atomic_store_n(&r->busy_since, spt_now_ns(), __ATOMIC_RELAXED);
}

static inline void idle(struct spt_reader *r)
{
	__atomic_store_n(&r->busy_since, 0, __ATOMIC_RELAXED);
}

static inline void stat_add(uint64_t *v, uint64_t n)
{
	__atomic_store_n(v, *v + n, __ATOMIC_RELAXED);
}

/* reader.c */
int reader_publish(struct spt_reader *r, const struct spt_batch *b, uint8_t cause, bool exec,
		   uint64_t t0);
int reader_full_read_publish(struct spt_reader *r, const struct spt_batch *b, uint8_t cause);
void reader_post_gone(struct spt_reader *r);

/* reader-batch.c */
/* One batch of events (r->batch) read back and published: 1, 0 or -errno. */
int reader_process_batch(struct spt_reader *r);
/* Faults whose re-read is due (or whose thread moved on) join r->batch. */
int reader_take_due_retries(struct spt_reader *r, uint64_t now);
/* After a full read: keeps the faults that may have been in progress during it. */
void reader_keep_unfinished(struct spt_reader *r, const struct spt_batch *b);

#endif
