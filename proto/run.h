/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A run of pages with page-level state (DESIGN.md section 4, "Pages are
 * held and sent as runs"): npages consecutive pages from vaddr, all with
 * the same flags; page i maps frame pfn + i * stride, stride 0 (one frame
 * for all: the shared zero page) or 1 (contiguous frames: a THP).
 *
 * Canonical run lists (what states hold) are sorted, non-overlapping and
 * maximally merged, greedily from the left: a run's first page never
 * continues the run before it (spt_run_absorb() takes nothing), and a
 * one-page run has stride 0. So equal page sets have equal run lists.
 */
#ifndef SHADOWPT_RUN_H
#define SHADOWPT_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "shadowpt-limits.h"

struct spt_run {
	uint64_t vaddr;	 /* page aligned */
	uint64_t npages; /* >= 1 */
	uint64_t pfn;	 /* frame (raw pfn, token or 0) of the first page */
	uint32_t flags;	 /* full effective flags; in a delta 0 removes the entries */
	uint8_t stride;	 /* 0 or 1 */
	uint8_t cause;	 /* Shadowpt__Cause of a delta's change; 0 in states */
};

/* Longest run a state holds: the whole user address space. */
#define SPT_RUN_MAX_PAGES (SPT_USER_ADDR_MAX / SPT_PAGE_SIZE)

static inline uint64_t spt_run_end(const struct spt_run *r)
{
	return r->vaddr + r->npages * SPT_PAGE_SIZE;
}

/* Frame of the page at vaddr, which must lie in r. */
static inline uint64_t spt_run_pfn_at(const struct spt_run *r, uint64_t vaddr)
{
	return r->pfn + (vaddr - r->vaddr) / SPT_PAGE_SIZE * r->stride;
}

/*
 * A run is valid when it is page aligned, non-empty, inside the user
 * address space (end <= SPT_USER_ADDR_MAX), has stride 0 or 1 and its
 * last frame does not wrap. Flags are not checked (0 is a removal).
 */
bool spt_run_valid(const struct spt_run *r);

/* The part of r inside [start, end) (which must intersect r). */
struct spt_run spt_run_clip(const struct spt_run *r, uint64_t start, uint64_t end);

/* Drops the first n (< r->npages) pages of r. */
void spt_run_skip(struct spt_run *r, uint64_t n);

/*
 * The greedy merge step: extends a by the front of b as far as b's pages
 * continue a (same flags and cause, adjacent, frames following a's stride,
 * or either stride when a has one page). Returns the number of pages of b
 * taken: 0, 1 (b's first page fits, its next ones follow another stride)
 * or b->npages.
 */
uint64_t spt_run_absorb(struct spt_run *a, const struct spt_run *b);

/* Same pages, flags and frames (cause ignored). */
bool spt_run_same(const struct spt_run *a, const struct spt_run *b);

#endif
