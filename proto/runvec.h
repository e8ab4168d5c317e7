/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An ordered container of runs keyed by vaddr (non-overlapping): a
 * chunked sorted array. Runs sit packed (24 bytes) in blocks of up to
 * SPT_RUNVEC_BLOCK, every block but the last at least a quarter full;
 * an array of block pointers sits on top. A find is two binary searches,
 * a one-run change moves at most one block's tail, and a splice of k runs
 * costs O(log n + k + SPT_RUNVEC_BLOCK) plus a move of the block pointer
 * array when blocks come or go (once per many inserts).
 *
 * The container keeps runs in the order it is given them and knows
 * nothing of validity or merging: state.c does. Addresses are held as
 * page numbers below 2^40 (a pfn-keyed user, the token map, relies on
 * that too) and run lengths below 2^36.
 */
#ifndef SHADOWPT_RUNVEC_H
#define SHADOWPT_RUNVEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "run.h"

#define SPT_RUNVEC_BLOCK 256u
#define SPT_RUNVEC_KEY_MAX ((1ull << 40) * SPT_PAGE_SIZE) /* vaddr + length bound */
#define SPT_RUNVEC_LEN_MAX ((1ull << 36) - 1)

struct spt_runvec_block;

struct spt_runvec {
	struct spt_runvec_block **blocks;
	size_t nblocks, blocks_cap;
	size_t nruns;
	uint64_t npages; /* sum of npages over all runs */
};

/* A position: block index and index inside it; the end is {nblocks, 0}. */
struct spt_runpos {
	size_t b, i;
};

void spt_runvec_init(struct spt_runvec *rv);
void spt_runvec_free(struct spt_runvec *rv);
/* Bytes allocated (blocks and the block array). */
size_t spt_runvec_memory(const struct spt_runvec *rv);

static inline struct spt_runpos spt_runvec_begin(const struct spt_runvec *rv)
{
	(void)rv;
	return (struct spt_runpos){0, 0};
}

static inline bool spt_runvec_is_end(const struct spt_runvec *rv, struct spt_runpos p)
{
	return p.b >= rv->nblocks;
}

struct spt_runpos spt_runvec_next(const struct spt_runvec *rv, struct spt_runpos p);
/* The position before p (p must not be the beginning). */
struct spt_runpos spt_runvec_prev(const struct spt_runvec *rv, struct spt_runpos p);
void spt_runvec_get(const struct spt_runvec *rv, struct spt_runpos p, struct spt_run *out);
/* The last run; the container must not be empty. */
void spt_runvec_last(const struct spt_runvec *rv, struct spt_run *out);
/* Overwrites the run at p; the caller keeps the order. */
void spt_runvec_set(struct spt_runvec *rv, struct spt_runpos p, const struct spt_run *r);

/* The first run whose end lies above vaddr (it may contain vaddr), or the end. */
struct spt_runpos spt_runvec_seek(const struct spt_runvec *rv, uint64_t vaddr);
/* Runs from a up to b (a <= b), or limit + 1 if there are more than limit. */
size_t spt_runvec_distance(const struct spt_runvec *rv, struct spt_runpos a, struct spt_runpos b,
			   size_t limit);

/* Appends r after the last run. 0 or -ENOMEM. */
int spt_runvec_push(struct spt_runvec *rv, const struct spt_run *r);
/*
 * Replaces the runs [from, to) with src[0..n). All memory is allocated
 * first: on -ENOMEM nothing has changed. Positions are stale afterwards.
 */
int spt_runvec_splice(struct spt_runvec *rv, struct spt_runpos from, struct spt_runpos to,
		      const struct spt_run *src, size_t n);
/* Removes every run; keeps nothing allocated. */
void spt_runvec_clear(struct spt_runvec *rv);
/* dst becomes a copy of src (dst emptied first). 0 or -ENOMEM (dst empty). */
int spt_runvec_copy(struct spt_runvec *dst, const struct spt_runvec *src);

/* Checks every structural invariant (order, fill, counts); for tests. */
bool spt_runvec_check(const struct spt_runvec *rv);

#endif
