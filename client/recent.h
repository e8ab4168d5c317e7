/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Which pages changed recently, for the live view's highlights: an
 * interval map from page to the time it last changed. It is held in the
 * run container of the page-state model (a run's "frame" is the time in
 * ms, stride 0), so marking a 1 TiB run costs one entry, a lookup is a
 * binary search, and a newer mark simply overwrites an older one.
 */
#ifndef SHADOWCTL_RECENT_H
#define SHADOWCTL_RECENT_H

#include <stdbool.h>
#include <stdint.h>

#include "state.h"

struct sctl_recent {
	/* runs: flags 1 + the change's cause, pfn = 2 * its time in ms */
	struct spt_state marks;
	int64_t window_ms; /* INT64_MAX: marks never fade (the last change ever) */
};

void sctl_recent_init(struct sctl_recent *r, int64_t window_ms);
void sctl_recent_free(struct sctl_recent *r);
/* Marks npages pages from vaddr as changed at now_ms. 0 or -ENOMEM. */
int sctl_recent_mark(struct sctl_recent *r, uint64_t vaddr, uint64_t npages, int64_t now_ms);
/* Marks every page a delta's runs cover, with each run's cause. */
int sctl_recent_mark_delta(struct sctl_recent *r, const struct spt_delta *d, int64_t now_ms);
/* Whether the page at vaddr changed within the window before now_ms. */
bool sctl_recent_is(const struct sctl_recent *r, uint64_t vaddr, int64_t now_ms);
/*
 * The last mark of the page at vaddr: when (ms) and why (a Shadowpt__Cause,
 * 0 when not said). false if the page was never marked.
 */
bool sctl_recent_get(const struct sctl_recent *r, uint64_t vaddr, int64_t *when_ms,
		     unsigned *cause);
/*
 * The nearest page after vaddr (or before it, backwards) marked within the
 * window before now_ms: the start of its run. false if there is none.
 */
bool sctl_recent_find(const struct sctl_recent *r, uint64_t vaddr, bool backwards,
		      int64_t now_ms, uint64_t *found);
/* Whether a page of [start, end) was marked within the window before now_ms. */
bool sctl_recent_in(const struct sctl_recent *r, uint64_t start, uint64_t end, int64_t now_ms);
/* Drops marks older than the window. */
void sctl_recent_expire(struct sctl_recent *r, int64_t now_ms);

#endif
