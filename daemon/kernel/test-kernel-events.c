// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The event ring reader against a ring built in memory, with a producer
 * that follows the kernel's side of the protocol (mm/shadowpt_events.c):
 * no patched kernel needed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel-events.h"
#include "test-common.h"

#define PG 4096u
#define REC sizeof(struct shadowpt_event)

struct fake {
	void *map;
	size_t len;
	struct shadowpt_events_page *ctl;
	unsigned char *data;
	uint64_t head, seq;
};

static void fake_init(struct fake *f, unsigned int data_pages)
{
	f->len = (size_t)(data_pages + 1) * PG;
	f->map = aligned_alloc(PG, f->len);
	memset(f->map, 0, f->len);
	f->ctl = f->map;
	f->ctl->version = SHADOWPT_EVENTS_VERSION;
	f->ctl->record_size = REC;
	f->ctl->data_offset = PG;
	f->ctl->data_size = (uint64_t)data_pages * PG;
	f->data = (unsigned char *)f->map + PG;
	f->head = 0;
	f->seq = 0;
}

/* The kernel's producer: returns 0, or -1 when the ring is full. */
static int fake_put(struct fake *f, uint16_t type, uint64_t seq, uint64_t count)
{
	uint64_t tail = __atomic_load_n(&f->ctl->data_tail, __ATOMIC_ACQUIRE);
	struct shadowpt_event rec = {
		.seq = seq, .vaddr = 0x1000 * seq, .new_pfn = seq, .count = count,
		.new_flags = 7, .type = type, .cause = SHADOWPT_CAUSE_WRITE_FAULT,
	};

	if (f->ctl->data_size - (f->head - tail) < REC)
		return -1;
	memcpy(f->data + (f->head & (f->ctl->data_size - 1)), &rec, REC);
	f->head += REC;
	__atomic_store_n(&f->ctl->data_head, f->head, __ATOMIC_RELEASE);
	return 0;
}

static int fake_transition(struct fake *f)
{
	return fake_put(f, SHADOWPT_EVENT_TRANSITION, ++f->seq, 0);
}

struct collect {
	struct shadowpt_event rec[512];
	size_t n;
	int stop_after;
};

static int collect(const struct shadowpt_event *rec, void *arg)
{
	struct collect *c = arg;

	if (c->n < 512)
		c->rec[c->n] = *rec;
	c->n++;
	return c->stop_after && (int)c->n >= c->stop_after ? 42 : 0;
}

static int in_order(const struct collect *c, uint64_t first)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->rec[i].type != SHADOWPT_EVENT_TRANSITION || c->rec[i].seq != first + i)
			return 0;
	return 1;
}

/* A producer thread and a reader, each following its half of the protocol. */
struct race {
	struct fake f;
	uint64_t n;
};

static void *producer(void *arg)
{
	struct race *r = arg;

	for (uint64_t i = 0; i < r->n; i++)
		while (fake_transition(&r->f)) {
			r->f.seq--;	/* full: wait for the reader */
			sched_yield();
		}
	return NULL;
}

struct verify {
	uint64_t next, bad;
};

static int verify(const struct shadowpt_event *rec, void *arg)
{
	struct verify *v = arg;

	if (rec->type != SHADOWPT_EVENT_TRANSITION || rec->seq != v->next ||
	    rec->vaddr != 0x1000 * rec->seq || rec->new_pfn != rec->seq)
		v->bad++;
	v->next = rec->seq + 1;
	return 0;
}

int main(void)
{
	struct spt_kernel_events ev;
	struct collect c = { 0 };
	struct shadowpt_event arr[8];
	struct fake f;
	long r;

	fake_init(&f, 1);	/* 64 records */
	CHECK(spt_kernel_events_attach(&ev, -1, f.map, f.len) == 0, "attach to a valid ring");
	CHECK(ev.data_size == PG && ev.tail == 0, "ring geometry from the control page");
	CHECK(spt_kernel_events_drain(&ev, 0, collect, &c) == 0 && c.n == 0, "empty ring: nothing");

	for (int i = 0; i < 3; i++)
		fake_transition(&f);
	CHECK(spt_kernel_events_pending(&ev) == 3, "3 records pending");
	r = spt_kernel_events_drain(&ev, 0, collect, &c);
	CHECK(r == 3 && c.n == 3 && in_order(&c, 1), "3 records in seq order (got %ld)", r);
	CHECK(f.ctl->data_tail == 3 * REC, "data_tail handed back (%llu)",
	      (unsigned long long)f.ctl->data_tail);

	/* Wrap around the end of the ring, twice. */
	c.n = 0;
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < 50; i++)
			fake_transition(&f);
		r = spt_kernel_events_drain(&ev, 0, collect, &c);
		CHECK(r == 50, "round %d: 50 records across the wrap (got %ld)", round, r);
	}
	CHECK(c.n == 100 && in_order(&c, 4), "100 wrapped records in order");

	/* Full ring: the producer stops; nothing is overwritten. */
	c.n = 0;
	for (int i = 0; i < 70; i++)
		if (fake_transition(&f))
			f.seq--;
	CHECK(spt_kernel_events_pending(&ev) == 64, "a full ring holds 64 records");
	r = spt_kernel_events_drain(&ev, 10, collect, &c);
	CHECK(r == 10 && in_order(&c, 104), "drain with max = 10 takes 10");
	r = spt_kernel_events_drain(&ev, 0, collect, &c);
	CHECK(r == 54 && c.n == 64 && in_order(&c, 104), "then the other 54, in order");

	/* LOST from the kernel: counted, passed on, next seq follows it. */
	c.n = 0;
	fake_put(&f, SHADOWPT_EVENT_LOST, 168, 5);
	f.seq = 172;
	fake_transition(&f);
	r = spt_kernel_events_drain(&ev, 0, collect, &c);
	CHECK(r == 2 && c.rec[0].type == SHADOWPT_EVENT_LOST && c.rec[0].seq == 168 &&
	      c.rec[0].count == 5 && c.rec[1].seq == 173, "LOST record passed on, then seq 173");
	CHECK(ev.lost == 5, "5 records reported lost (%llu)", (unsigned long long)ev.lost);

	/* A gap without LOST is reported as a synthetic LOST in front. */
	c.n = 0;
	f.seq = 180;
	fake_transition(&f);
	r = spt_kernel_events_drain(&ev, 0, collect, &c);
	CHECK(c.n == 2 && c.rec[0].type == SHADOWPT_EVENT_LOST && c.rec[0].seq == 174 &&
	      c.rec[0].count == 7 && c.rec[1].seq == 181, "seq gap 174..180 reported as LOST");
	CHECK(ev.lost == 12, "lost total 12");

	/* The callback stops the drain; the rest stays for later. */
	c.n = 0;
	c.stop_after = 2;
	for (int i = 0; i < 4; i++)
		fake_transition(&f);
	r = spt_kernel_events_drain(&ev, 0, collect, &c);
	CHECK(r == 42 && c.n == 2 && spt_kernel_events_pending(&ev) == 2,
	      "callback's 42 stops the drain after 2");
	c.stop_after = 0;
	r = spt_kernel_events_drain(&ev, 0, collect, &c);
	CHECK(r == 2 && c.n == 4 && in_order(&c, 182), "the other 2 next time");

	/* Array variant. */
	for (int i = 0; i < 10; i++)
		fake_transition(&f);
	r = spt_kernel_events_read(&ev, arr, 8);
	CHECK(r == 7 && arr[0].seq == 186 && arr[6].seq == 192, "read() fills 7 of 8 (room for a gap)");
	r = spt_kernel_events_read(&ev, arr, 8);
	CHECK(r == 3 && arr[2].seq == 195, "read() the last 3");

	/* Corrupt rings are refused, nothing consumed. */
	f.ctl->data_head = f.head + PG + REC;
	CHECK(spt_kernel_events_drain(&ev, 0, collect, &c) == -EPROTO, "head beyond the ring: EPROTO");
	f.ctl->data_head = f.head + 3;
	CHECK(spt_kernel_events_drain(&ev, 0, collect, &c) == -EPROTO, "head off a record: EPROTO");
	f.ctl->data_head = f.head - REC;
	CHECK(spt_kernel_events_drain(&ev, 0, collect, &c) == -EPROTO, "head moved back: EPROTO");
	f.ctl->data_head = f.head;

	f.ctl->version = 99;
	CHECK(spt_kernel_events_attach(&ev, -1, f.map, f.len) == -EPROTO, "unknown version refused");
	f.ctl->version = SHADOWPT_EVENTS_VERSION;
	f.ctl->data_size = 3 * PG;
	CHECK(spt_kernel_events_attach(&ev, -1, f.map, f.len) == -EPROTO, "size not a power of two refused");
	f.ctl->data_size = 2 * PG;
	CHECK(spt_kernel_events_attach(&ev, -1, f.map, f.len) == -EPROTO, "ring larger than the map refused");
	free(f.map);

	/* A producer thread against the reader: everything, in order. */
	{
		struct race rc = { .n = 200000 };
		struct verify v = { .next = 1 };
		pthread_t th;
		uint64_t got = 0;

		fake_init(&rc.f, 2);
		spt_kernel_events_attach(&ev, -1, rc.f.map, rc.f.len);
		pthread_create(&th, NULL, producer, &rc);
		while (got < rc.n) {
			r = spt_kernel_events_drain(&ev, 0, verify, &v);
			if (r < 0)
				break;
			got += (uint64_t)r;
		}
		pthread_join(th, NULL);
		CHECK(got == rc.n && v.bad == 0 && ev.lost == 0,
		      "threaded producer: %llu of %llu records, %llu out of order",
		      (unsigned long long)got, (unsigned long long)rc.n,
		      (unsigned long long)v.bad);
		free(rc.f.map);
	}

	CHECK(!strcmp(spt_kernel_event_cause_name(SHADOWPT_CAUSE_COW), "cow") &&
	      !strcmp(spt_kernel_event_cause_name(SHADOWPT_CAUSE_RESYNC), "resync") &&
	      !strcmp(spt_kernel_event_cause_name(999), "unknown"), "cause names");
	for (unsigned int i = 0; i <= SHADOWPT_CAUSE_MAX; i++)
		if (!strcmp(spt_kernel_event_cause_name(i), "unknown"))
			CHECK(0, "cause %u has no name", i);
	return spt_test_done();
}
