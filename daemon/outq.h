/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-connection output queue of encoded frames (DESIGN.md section 3,
 * slow viewers and fan-out).
 *
 * Frames live in reference-counted immutable buffers (struct spt_buf): a
 * delta is encoded once per pfn-visibility class and the same buffer is
 * queued to every subscriber. The queue is written with non-blocking
 * sendmsg(); the head item may be partially written and is then never
 * dropped, so a viewer never sees a torn frame.
 *
 * Budget policy (the caller applies it, see client_queue_delta): when
 * queueing a delta would take the unsent bytes over the budget, the
 * viewer's queued-but-unsent deltas for that watch are dropped and the
 * watch is resynchronised with a fresh snapshot once the queue has drained
 * below OUTQ_LOW_WATERMARK.
 */
#ifndef SHADOWPTD_OUTQ_H
#define SHADOWPTD_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

struct spt_encoded;

struct spt_buf {
	unsigned refs;
	size_t len;
	uint8_t *data; /* one length-prefixed frame */
};

/* Takes ownership of e->data (e is left empty). NULL on ENOMEM. */
struct spt_buf *spt_buf_from_encoded(struct spt_encoded *e);
struct spt_buf *spt_buf_ref(struct spt_buf *b);
void spt_buf_unref(struct spt_buf *b);

enum outq_kind {
	OUTQ_CONTROL,  /* replies, errors, WatchStarted, TargetExited */
	OUTQ_SNAPSHOT, /* snapshot chunks */
	OUTQ_DELTA,    /* may be dropped under pressure */
};

struct outq_item {
	TAILQ_ENTRY(outq_item) entry;
	struct spt_buf *buf;
	size_t off; /* bytes of buf already written */
	uint32_t watch_id;
	enum outq_kind kind;
};

struct outq {
	TAILQ_HEAD(, outq_item) items;
	size_t queued; /* unsent bytes */
	size_t budget;
	size_t nitems;
};

/* Resync snapshots are sent once the unsent bytes fall to this level. */
#define OUTQ_LOW_WATERMARK(q) ((q)->budget / 4)

void outq_init(struct outq *q, size_t budget);
void outq_clear(struct outq *q);
/* Queues a frame, taking a new reference on b. 0 or -ENOMEM. */
int outq_push(struct outq *q, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id);
/* Would queueing len more bytes exceed the budget? */
bool outq_over_budget(const struct outq *q, size_t len);
/* Drops unsent (not even partially written) deltas of watch_id. */
size_t outq_drop_deltas(struct outq *q, uint32_t watch_id);
/* Drops every unsent item of watch_id that is not partially written. */
size_t outq_drop_watch(struct outq *q, uint32_t watch_id);
/* Drops every item not partially written (before a fatal error frame). */
void outq_drop_unstarted(struct outq *q);
static inline bool outq_empty(const struct outq *q)
{
	return q->queued == 0;
}

/*
 * Writes as much as the socket takes. Returns the number of bytes written
 * (0 when the socket is full) or -errno on a broken connection. Adds the
 * number of complete frames sent to *frames.
 */
long outq_flush(struct outq *q, int fd, uint64_t *frames);

#endif
