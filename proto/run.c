// SPDX-License-Identifier: GPL-2.0-or-later
/* Page runs: validity, clipping and the greedy merge step; see run.h. */
#include "run.h"

bool spt_run_valid(const struct spt_run *r)
{
	if (r->vaddr % SPT_PAGE_SIZE || r->vaddr >= SPT_USER_ADDR_MAX || r->stride > 1)
		return false;
	if (r->npages == 0 || r->npages > (SPT_USER_ADDR_MAX - r->vaddr) / SPT_PAGE_SIZE)
		return false;
	return !r->stride || r->pfn <= UINT64_MAX - (r->npages - 1);
}

struct spt_run spt_run_clip(const struct spt_run *r, uint64_t start, uint64_t end)
{
	struct spt_run c = *r;
	uint64_t e = spt_run_end(r);

	if (start > c.vaddr) {
		c.pfn = spt_run_pfn_at(r, start);
		c.vaddr = start;
	}
	if (end < e)
		e = end;
	c.npages = (e - c.vaddr) / SPT_PAGE_SIZE;
	if (c.npages == 1)
		c.stride = 0;
	return c;
}

void spt_run_skip(struct spt_run *r, uint64_t n)
{
	r->vaddr += n * SPT_PAGE_SIZE;
	r->pfn += n * r->stride;
	r->npages -= n;
	if (r->npages == 1)
		r->stride = 0;
}

uint64_t spt_run_absorb(struct spt_run *a, const struct spt_run *b)
{
	uint64_t stride, next0, next1;

	if (a->flags != b->flags || a->cause != b->cause || spt_run_end(a) != b->vaddr)
		return 0;
	/* The frame the page after a would have, with stride 0 and with 1. */
	next0 = a->npages == 1 ? a->pfn : a->pfn + (a->npages - 1) * a->stride;
	next1 = next0 + 1;
	if (a->npages > 1)
		stride = a->stride;
	else if (b->pfn == next0)
		stride = 0;
	else if (b->pfn == next1 && next1)
		stride = 1;
	else
		return 0;
	if (b->pfn != (stride ? next1 : next0) || (stride && !next1))
		return 0;
	a->stride = (uint8_t)stride;
	if (b->npages == 1 || b->stride == stride) {
		a->npages += b->npages;
		return b->npages;
	}
	a->npages++;
	return 1;
}

bool spt_run_same(const struct spt_run *a, const struct spt_run *b)
{
	return a->vaddr == b->vaddr && a->npages == b->npages && a->flags == b->flags &&
	       a->pfn == b->pfn && (a->npages == 1 || a->stride == b->stride);
}
