// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests: output queue budget and drop policy, and that a partially
 * written frame is never dropped (no torn frames on the wire).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "convert.h"
#include "test-common.h"
#include "outq.h"


static struct spt_buf *mkbuf(size_t len, uint8_t fill)
{
	struct spt_encoded e = {.data = malloc(len), .len = len};
	struct spt_buf *b;

	memset(e.data, fill, len);
	b = spt_buf_from_encoded(&e);
	EXPECT(b && e.data == NULL);
	return b;
}

static void test_budget_and_drop(void)
{
	struct outq q;
	struct spt_buf *d = mkbuf(1000, 'd'), *s = mkbuf(500, 's');

	outq_init(&q, 4000);
	EXPECT(outq_empty(&q));
	EXPECT(outq_push(&q, s, OUTQ_SNAPSHOT, 1) == 0);
	EXPECT(outq_push(&q, d, OUTQ_DELTA, 1) == 0);
	EXPECT(outq_push(&q, d, OUTQ_DELTA, 2) == 0);
	EXPECT(outq_push(&q, d, OUTQ_DELTA, 1) == 0);
	EXPECT(q.queued == 3500 && q.nitems == 4);
	EXPECT(d->refs == 4); /* one buffer, shared by three queue entries */
	EXPECT(!outq_over_budget(&q, 500));
	EXPECT(outq_over_budget(&q, 501));
	/* Only watch 1's deltas go; its snapshot and watch 2 stay. */
	EXPECT(outq_drop_deltas(&q, 1) == 2);
	EXPECT(q.queued == 1500 && q.nitems == 2 && d->refs == 2);
	EXPECT(outq_drop_watch(&q, 1) == 1);
	EXPECT(q.queued == 1000 && s->refs == 1);
	outq_drop_unstarted(&q);
	EXPECT(outq_empty(&q) && q.nitems == 0 && d->refs == 1);
	spt_buf_unref(d);
	spt_buf_unref(s);
}

static void test_partial_write(void)
{
	struct spt_buf *big = mkbuf(300000, 'b'), *d = mkbuf(100, 'x');
	uint64_t frames = 0;
	struct outq q;
	int sv[2], sz = 4096;
	long n, total = 0;
	char *rx;
	ssize_t r;

	EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	fcntl(sv[0], F_SETFL, O_NONBLOCK);
	outq_init(&q, 1 << 20);
	EXPECT(outq_push(&q, big, OUTQ_DELTA, 7) == 0);
	EXPECT(outq_push(&q, d, OUTQ_DELTA, 7) == 0);
	n = outq_flush(&q, sv[0], &frames);
	EXPECT(n > 0 && n < 300000 && frames == 0); /* socket full mid-frame */
	/* The half-written head survives a drop; the rest goes. */
	EXPECT(outq_drop_deltas(&q, 7) == 1);
	EXPECT(q.nitems == 1 && q.queued == (size_t)(300000 - n));
	total = n;
	rx = malloc(300000);
	for (int i = 0; i < 100000 && !outq_empty(&q); i++) {
		r = read(sv[1], rx, 300000);
		EXPECT(r > 0);
		n = outq_flush(&q, sv[0], &frames);
		EXPECT(n >= 0);
		total += n;
	}
	EXPECT(outq_empty(&q) && total == 300000 && frames == 1);
	/* A closed peer is an error, not a hang. */
	close(sv[1]);
	EXPECT(outq_push(&q, d, OUTQ_CONTROL, 0) == 0);
	n = outq_flush(&q, sv[0], &frames);
	EXPECT(n == -EPIPE || n == -ECONNRESET);
	outq_clear(&q);
	close(sv[0]);
	free(rx);
	spt_buf_unref(big);
	spt_buf_unref(d);
}

int main(void)
{
	test_budget_and_drop();
	test_partial_write();
	return spt_test_done();
}
