/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A session's reader: the one thread that reads its target. Every read of
 * a target (/proc/PID/maps and pagemap, the kernel table, /proc/PID/mem
 * for peeks) takes the target's mmap_lock, which the target itself can
 * hold for as long as it likes; so none runs on the event loop. A target
 * that blocks its reader stalls only its own session.
 *
 * The reader opens the backend, reads the whole window once, then waits
 * for the target's own events (backend events_start/events_drain: perf
 * samples for procfs), reads back only what they touched, and posts one
 * delta per batch with the first event's cause and time. A budgeted
 * reconcile pass catches what no event reports (reclaim, migration, KSM,
 * other processes). Where a backend has no events, or they cannot be set
 * up, it polls with the adaptive interval instead (interval.h), and says
 * why.
 *
 * Event-driven readers also say when the target changed its credentials
 * (setuid and friends, prctl, exec), before any delta that follows.
 *
 * It knows nothing of sessions, viewers or the wire: it posts messages to
 * a queue that the loop drains when the reader's fd is readable
 * (spt_reader_fd), and takes commands (peek, stop) the same way back.
 * Freed by whichever of the two sides lets go last: the loop never waits
 * for a reader stuck inside a read.
 */
#ifndef SHADOWPTD_READER_H
#define SHADOWPTD_READER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth.h"
#include "backend.h"
#include "state.h"

/* A read that has not returned after this long marks the session stalled. */
#define SPT_STALL_TIMEOUT_MS 1000u
/*
 * Reconcile: a full read at most every SPT_RECONCILE_MIN_MS, and at most
 * 1/SPT_RECONCILE_COST_FACTOR of the reader's time (a 1M-page target whose
 * full read takes 50 ms is reconciled every 25 s: 0.2% of a core).
 */
#define SPT_RECONCILE_MIN_MS	  1000u
#define SPT_RECONCILE_MAX_MS	  60000u
#define SPT_RECONCILE_COST_FACTOR 500u
/* Messages the loop has not taken yet before the reader waits for it. */
#define SPT_READER_QUEUE_MAX 64u
/*
 * Re-reads of a fault that did not show yet: the sample is taken as the
 * fault starts, and a thread preempted inside its fault on a loaded
 * machine finishes it much later. Backoff from 20 us to 800 ms, 1.6 s in
 * all. (A fault that waits says when it ends: see perf-events.c done_fd.)
 */
#define SPT_FAULT_RETRIES 11u

enum spt_reader_mode {
	SPT_MODE_EVENTS = 1, /* = Shadowpt__WatchMode */
	SPT_MODE_POLLING = 2,
};

enum spt_reader_msg_type {
	SPT_RMSG_OPENED,      /* backend open, first state in state */
	SPT_RMSG_OPEN_FAILED, /* err, why */
	SPT_RMSG_UPDATE,      /* delta + meta */
	SPT_RMSG_FAILING,     /* reads fail (err, why); the last state stands */
	SPT_RMSG_RECOVERED,   /* reads work again */
	SPT_RMSG_GONE,	      /* the target's mm is gone */
	SPT_RMSG_PEEK,	      /* a peek's result */
	SPT_RMSG_CREDS,	      /* the target changed its credentials: check viewers first */
	SPT_RMSG_ROOM,	      /* the target outgrew the caps: answer with spt_reader_answer_room */
};

struct spt_reader_msg {
	struct spt_reader_msg *next;
	enum spt_reader_msg_type type;
	int err;
	char why[160];
	/* OPENED */
	const struct spt_backend_ops *ops;
	char backend_reason[160];
	char comm[32];
	enum spt_reader_mode mode;
	char mode_reason[160];
	struct spt_state state;
	/* UPDATE */
	struct spt_delta delta;
	uint8_t cause;
	uint64_t cause_vaddr, event_time_ns, read_ns;
	int32_t cause_tid;
	uint32_t events;
	bool exec;
	/* PEEK */
	uint64_t cookie;
	uint64_t vaddr;
	uint8_t *page; /* 4096 bytes, allocated for a PEEK only */
};

/* Counters the loop reads for status (written by the reader only). */
struct spt_reader_stats {
	uint64_t reads, read_ns, events, lost, reconciles, retries;
	uint64_t interval_ms; /* polling: the current interval */
};

struct spt_reader;

/*
 * Starts a reader for [start, end) of pid with backend ops (requested is
 * the viewer's Shadowpt__Backend preference, for the auto fallback);
 * events false makes it poll even where the backend has events. It dups
 * pidfd. Returns NULL on failure (errno set).
 */
struct spt_reader *spt_reader_start(const struct spt_backend_ops *ops, int requested, pid_t pid,
				    int pidfd, uint64_t start, uint64_t end, bool events);
/* The fd that is readable when messages are queued. */
int spt_reader_fd(const struct spt_reader *r);
/* Takes every queued message (a list, oldest first); the caller frees each. */
struct spt_reader_msg *spt_reader_take(struct spt_reader *r);
void spt_reader_msg_free(struct spt_reader_msg *m);
/*
 * Asks for the page at vaddr; the reply is a PEEK message with cookie.
 * The reader binds the target's mm first, then checks peer may read it
 * (auth.h), then reads: an exec in between cannot hand over a new image.
 */
int spt_reader_peek(struct spt_reader *r, uint64_t cookie, uint64_t vaddr,
		    const struct spt_peer *peer);
/*
 * The polling bounds of its viewers (0: defaults); hurry: a viewer just
 * joined, poll now. Event-driven readers do not poll.
 */
void spt_reader_set_bounds(struct spt_reader *r, uint32_t min_ms, uint32_t max_ms, bool hurry);
/*
 * Caps: the reader's states start at SPT_SESSION_INITIAL_RUNS runs and
 * SPT_SESSION_INITIAL_VMAS VMAs (spt_state_set_limits). A read that
 * needs more posts a ROOM message and waits: the loop reserves the memory
 * and grants larger caps, or refuses, and the read fails with -E2BIG
 * (posted as FAILING, or as OPEN_FAILED for the first read). While it
 * stays too big, only the reconcile pass reads it again.
 */
void spt_reader_answer_room(struct spt_reader *r, size_t max_runs, size_t max_vmas, bool granted);
/* Other first caps, for every reader started from now on (startup only). */
void spt_reader_set_initial_caps(size_t runs, size_t vmas);
/* Since when the reader has been inside a read of the target (0: not). */
uint64_t spt_reader_busy_since(const struct spt_reader *r);
const struct spt_reader_stats *spt_reader_stats(const struct spt_reader *r);
enum spt_reader_mode spt_reader_mode(const struct spt_reader *r);
/* Tells the reader to stop and lets go of it; never waits. */
void spt_reader_stop(struct spt_reader *r);

#endif
