/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Helpers shared by state.c, state-delta.c and state-apply.c only. */
#ifndef SHADOWPT_STATE_PRIV_H
#define SHADOWPT_STATE_PRIV_H

#include "state.h"

#define SPT_PAGE_MASK (SPT_PAGE_SIZE - 1)

/* Grows *arr to hold at least need elements of size elem. */
int spt_grow(void **arr, size_t *cap, size_t need, size_t elem);

void spt_vma_free_contents(struct spt_vma *v);
int spt_vma_copy(struct spt_vma *dst, const struct spt_vma *src);
bool spt_vma_valid(const struct spt_vma *v);
bool spt_vma_same(const struct spt_vma *a, const struct spt_vma *b);

/*
 * Appends to out the changes that turn old's entries inside [start, end)
 * into new's, each carrying cause (the merge walk behind spt_state_diff).
 */
int spt_diff_range(const struct spt_state *old, const struct spt_state *new, uint64_t start,
		   uint64_t end, uint8_t cause, struct spt_delta *out);

/* The first len pages of r. */
static inline struct spt_run spt_run_prefix(const struct spt_run *r, uint64_t len)
{
	struct spt_run p = *r;

	p.npages = len;
	if (len == 1)
		p.stride = 0;
	return p;
}

#endif
