/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Recently changed pages as an interval map of times; see recent.h. */
#include <errno.h>
#include <stdlib.h>

#include "recent.h"

void sctl_recent_init(struct sctl_recent *r, int64_t window_ms)
{
	spt_state_init(&r->marks);
	r->window_ms = window_ms;
}

void sctl_recent_free(struct sctl_recent *r)
{
	spt_state_free(&r->marks);
}

/*
 * Times are stored doubled: two marks then never differ by exactly 1, so
 * the model's merging never joins them into a stride-1 run (which would
 * give every later page a later time).
 */
static uint64_t stamp(int64_t ms)
{
	return (uint64_t)ms * 2;
}

static int64_t time_of(uint64_t stamp_)
{
	return (int64_t)(stamp_ / 2);
}

int sctl_recent_mark(struct sctl_recent *r, uint64_t vaddr, uint64_t npages, int64_t now_ms)
{
	struct spt_run m = {.vaddr = vaddr, .npages = npages, .pfn = stamp(now_ms), .flags = 1};

	if (!npages)
		return 0;
	return spt_state_replace_range(&r->marks, vaddr, spt_run_end(&m), &m, 1);
}

int sctl_recent_mark_delta(struct sctl_recent *r, const struct spt_delta *d, int64_t now_ms)
{
	struct spt_delta marks;
	int ret = 0;

	/* One apply for the whole delta: its runs are sorted and apart already. */
	spt_delta_init(&marks);
	for (size_t i = 0; !ret && i < d->nruns; i++) {
		struct spt_run m = {.vaddr = d->runs[i].vaddr, .npages = d->runs[i].npages,
				    .pfn = stamp(now_ms), .flags = 1u + d->runs[i].cause};

		ret = spt_delta_add_run(&marks, &m);
	}
	if (!ret)
		ret = spt_state_apply(&r->marks, &marks);
	spt_delta_free(&marks);
	return ret;
}

bool sctl_recent_is(const struct sctl_recent *r, uint64_t vaddr, int64_t now_ms)
{
	struct spt_page p;

	return spt_state_get_page(&r->marks, vaddr, &p) &&
	       (r->window_ms == INT64_MAX || now_ms - time_of(p.pfn) < r->window_ms);
}

bool sctl_recent_get(const struct sctl_recent *r, uint64_t vaddr, int64_t *when_ms,
		     unsigned *cause)
{
	struct spt_page p;

	if (!spt_state_get_page(&r->marks, vaddr, &p))
		return false;
	*when_ms = time_of(p.pfn);
	*cause = p.flags - 1;
	return true;
}

static bool fresh(const struct sctl_recent *r, const struct spt_run *m, int64_t now_ms)
{
	return r->window_ms == INT64_MAX || now_ms - time_of(m->pfn) < r->window_ms;
}

bool sctl_recent_find(const struct sctl_recent *r, uint64_t vaddr, bool backwards,
		      int64_t now_ms, uint64_t *found)
{
	struct spt_run_iter it;
	struct spt_run m;
	bool any = false;

	if (backwards)
		spt_run_iter_init(&it, &r->marks, 0, vaddr);
	else
		spt_run_iter_init(&it, &r->marks, vaddr + SPT_PAGE_SIZE, SPT_USER_ADDR_MAX);
	while (spt_run_iter_next(&it, &m)) {
		if (!fresh(r, &m, now_ms))
			continue;
		*found = m.vaddr;
		any = true;
		if (!backwards)
			break; /* the first one after; backwards, the last one before */
	}
	return any;
}

bool sctl_recent_in(const struct sctl_recent *r, uint64_t start, uint64_t end, int64_t now_ms)
{
	struct spt_run_iter it;
	struct spt_run m;

	spt_run_iter_init(&it, &r->marks, start, end);
	while (spt_run_iter_next(&it, &m))
		if (fresh(r, &m, now_ms))
			return true;
	return false;
}

void sctl_recent_expire(struct sctl_recent *r, int64_t now_ms)
{
	struct spt_state kept;
	struct spt_run_iter it;
	struct spt_run m;

	if (r->window_ms == INT64_MAX)
		return;
	spt_state_init(&kept);
	spt_run_iter_all(&it, &r->marks);
	while (spt_run_iter_next(&it, &m)) {
		if (fresh(r, &m, now_ms) && spt_state_append_run(&kept, &m)) {
			spt_state_free(&kept);
			return; /* out of memory: keep the old marks, they only fade later */
		}
	}
	spt_state_move(&r->marks, &kept);
}
