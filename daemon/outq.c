// SPDX-License-Identifier: GPL-2.0-or-later
/* Output queues of reference-counted encoded frames; policy in outq.h. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "convert.h"
#include "outq.h"

/* Frames per sendmsg(); enough to fill a socket buffer with small deltas. */
#define OUTQ_IOV_MAX 64

struct spt_buf *spt_buf_from_encoded(struct spt_encoded *e)
{
	struct spt_buf *b = malloc(sizeof(*b));

	if (!b)
		return NULL;
	b->refs = 1;
	b->data = e->data;
	b->len = e->len;
	e->data = NULL;
	e->len = 0;
	return b;
}

struct spt_buf *spt_buf_ref(struct spt_buf *b)
{
	b->refs++;
	return b;
}

void spt_buf_unref(struct spt_buf *b)
{
	if (b && --b->refs == 0) {
		free(b->data);
		free(b);
	}
}

void outq_init(struct outq *q, size_t budget)
{
	TAILQ_INIT(&q->items);
	q->queued = 0;
	q->nitems = 0;
	q->budget = budget;
}

static void outq_remove(struct outq *q, struct outq_item *it)
{
	TAILQ_REMOVE(&q->items, it, entry);
	q->queued -= it->buf->len - it->off;
	q->nitems--;
	spt_buf_unref(it->buf);
	free(it);
}

void outq_clear(struct outq *q)
{
	struct outq_item *it;

	while ((it = TAILQ_FIRST(&q->items)))
		outq_remove(q, it);
}

int outq_push(struct outq *q, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id)
{
	struct outq_item *it = malloc(sizeof(*it));

	if (!it)
		return -ENOMEM;
	it->buf = spt_buf_ref(b);
	it->off = 0;
	it->kind = kind;
	it->watch_id = watch_id;
	TAILQ_INSERT_TAIL(&q->items, it, entry);
	q->queued += b->len;
	q->nitems++;
	return 0;
}

bool outq_over_budget(const struct outq *q, size_t len)
{
	return q->queued + len > q->budget;
}

static size_t outq_drop_if(struct outq *q, uint32_t watch_id, bool deltas_only, bool any_watch)
{
	struct outq_item *it, *next;
	size_t n = 0;

	for (it = TAILQ_FIRST(&q->items); it; it = next) {
		next = TAILQ_NEXT(it, entry);
		if (it->off > 0)
			continue; /* partially written: must complete */
		if (!any_watch && it->watch_id != watch_id)
			continue;
		if (deltas_only && it->kind != OUTQ_DELTA)
			continue;
		outq_remove(q, it);
		n++;
	}
	return n;
}

size_t outq_drop_deltas(struct outq *q, uint32_t watch_id)
{
	return outq_drop_if(q, watch_id, true, false);
}

size_t outq_drop_watch(struct outq *q, uint32_t watch_id)
{
	return outq_drop_if(q, watch_id, false, false);
}

void outq_drop_unstarted(struct outq *q)
{
	outq_drop_if(q, 0, false, true);
}

long outq_flush(struct outq *q, int fd, uint64_t *frames)
{
	long total = 0;

	while (!TAILQ_EMPTY(&q->items)) {
		struct iovec iov[OUTQ_IOV_MAX];
		struct msghdr msg = {.msg_iov = iov};
		struct outq_item *it;
		ssize_t n;
		int niov = 0;

		TAILQ_FOREACH(it, &q->items, entry) {
			if (niov == OUTQ_IOV_MAX)
				break;
			iov[niov].iov_base = it->buf->data + it->off;
			iov[niov].iov_len = it->buf->len - it->off;
			niov++;
		}
		msg.msg_iovlen = (size_t)niov;
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return total;
			if (errno == EINTR)
				continue;
			return -errno;
		}
		total += n;
		while (n > 0) {
			size_t left;

			it = TAILQ_FIRST(&q->items);
			left = it->buf->len - it->off;
			if ((size_t)n < left) {
				it->off += (size_t)n;
				q->queued -= (size_t)n;
				n = 0;
			} else {
				n -= (ssize_t)left;
				outq_remove(q, it);
				(*frames)++;
			}
		}
	}
	return total;
}
