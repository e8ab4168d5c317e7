// SPDX-License-Identifier: GPL-2.0-or-later
/* Event batches: what to read back after the target's own events. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"

void spt_batch_init(struct spt_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void spt_batch_clear(struct spt_batch *b)
{
	struct spt_event *ev = b->ev;
	size_t cap = b->cap;

	spt_batch_init(b);
	b->ev = ev;
	b->cap = cap;
}

void spt_batch_free(struct spt_batch *b)
{
	free(b->ev);
	spt_batch_init(b);
}

bool spt_batch_empty(const struct spt_batch *b)
{
	return !b->nev && !b->full && !b->all_vmas;
}

void spt_batch_note(struct spt_batch *b, uint64_t time_ns, int32_t tid, uint8_t cause,
		    uint64_t vaddr)
{
	if (!b->nevents++) {
		b->first_ns = time_ns;
		b->first_tid = tid;
		b->first_cause = cause;
		b->first_vaddr = vaddr;
	}
}

int spt_batch_add(struct spt_batch *b, const struct spt_event *ev)
{
	if (b->nev == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		void *n = realloc(b->ev, ncap * sizeof(*b->ev));

		if (!n)
			return -ENOMEM;
		b->ev = n;
		b->cap = ncap;
	}
	b->ev[b->nev++] = *ev;
	spt_batch_note(b, ev->time_ns, ev->tid, ev->cause, ev->start);
	return 0;
}

int spt_batch_merge(struct spt_batch *dst, const struct spt_batch *src)
{
	uint32_t n = dst->nevents;

	for (size_t i = 0; i < src->nev; i++)
		if (spt_batch_add(dst, &src->ev[i]) < 0)
			return -ENOMEM;
	/* src's own count and first event, not one per range added. */
	if (!n && src->nevents) {
		dst->first_ns = src->first_ns;
		dst->first_tid = src->first_tid;
		dst->first_cause = src->first_cause;
		dst->first_vaddr = src->first_vaddr;
	}
	dst->nevents = n + src->nevents;
	if (src->full && !dst->full) {
		dst->full = true;
		dst->full_cause = src->full_cause;
	}
	dst->all_vmas |= src->all_vmas;
	dst->creds |= src->creds;
	dst->lost += src->lost;
	if (src->poll_ns && (!dst->poll_ns || src->poll_ns < dst->poll_ns))
		dst->poll_ns = src->poll_ns;
	return 0;
}

void spt_batch_full(struct spt_batch *b, uint64_t time_ns, int32_t tid, uint8_t cause)
{
	spt_batch_note(b, time_ns, tid, cause, 0);
	/* The first reason stays: exec then a lost record is still an exec. */
	if (!b->full)
		b->full_cause = cause;
	b->full = true;
}
