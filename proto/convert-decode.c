// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Client side: Snapshot chunks and Delta messages back into the model.
 * Everything in them comes from the other end of a socket: counts,
 * addresses and strides are checked before anything is built, and the
 * model's own appends and applies check order and overlap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

static int vma_from_pb(struct spt_vma *v, const Shadowpt__Vma *pb)
{
	if (!pb->has_start || !pb->has_end || !pb->has_kind)
		return -EINVAL;
	if (pb->kind < SHADOWPT__VMA_KIND__VMA_ANON || pb->kind > SHADOWPT__VMA_KIND__VMA_SPECIAL)
		return -EINVAL;
	v->start = pb->start;
	v->end = pb->end;
	v->offset = pb->offset;
	v->prot = pb->prot & 7u;
	v->shared = pb->shared;
	v->kind = (enum spt_vma_kind)pb->kind;
	v->name = pb->name ? pb->name : "";
	return 0;
}

static int page_from_pb(struct spt_run *r, const Shadowpt__Page *pb, uint8_t cause)
{
	if (!pb->has_vaddr)
		return -EINVAL;
	*r = (struct spt_run){.vaddr = pb->vaddr, .npages = 1, .flags = pb->flags,
			      .pfn = pb->has_pfn ? pb->pfn : 0, .cause = cause};
	return spt_run_valid(r) ? 0 : -EINVAL;
}

static int run_from_pb(struct spt_run *r, const Shadowpt__PageRun *pb, uint8_t cause)
{
	uint64_t count = pb->has_count ? pb->count : 1;
	uint32_t stride = pb->has_pfn_stride ? pb->pfn_stride : 0;

	/* spt_run_valid bounds count by the address space; stride must fit first. */
	if (!pb->has_vaddr || stride > 1 || count == 0 || count > SPT_RUN_MAX_PAGES)
		return -EINVAL;
	if (pb->has_cause && (pb->cause < 0 || pb->cause > UINT8_MAX))
		return -EINVAL;
	*r = (struct spt_run){.vaddr = pb->vaddr, .npages = count, .flags = pb->flags,
			      .pfn = pb->has_pfn ? pb->pfn : 0, .stride = (uint8_t)stride,
			      .cause = pb->has_cause ? (uint8_t)pb->cause : cause};
	return spt_run_valid(r) ? 0 : -EINVAL;
}

int spt_snapshot_apply_chunk(struct spt_state *st, const Shadowpt__Snapshot *snap,
			     uint32_t expected_chunk)
{
	uint32_t chunk = snap->has_chunk ? snap->chunk : 0;
	int ret = 0;

	if (chunk != expected_chunk || (snap->n_pages && snap->n_runs))
		return -EINVAL;
	if (expected_chunk == 0)
		spt_state_clear(st);
	for (size_t i = 0; !ret && i < snap->n_vmas; i++) {
		struct spt_vma v;

		ret = vma_from_pb(&v, snap->vmas[i]);
		if (!ret)
			ret = spt_state_append_vma(st, &v);
	}
	for (size_t i = 0; !ret && i < snap->n_pages; i++) {
		struct spt_run r;

		ret = page_from_pb(&r, snap->pages[i], 0);
		if (!ret)
			ret = spt_state_append_run(st, &r);
	}
	for (size_t i = 0; !ret && i < snap->n_runs; i++) {
		struct spt_run r;

		ret = run_from_pb(&r, snap->runs[i], 0);
		if (!ret)
			ret = spt_state_append_run(st, &r);
	}
	return ret;
}

int spt_delta_from_pb(struct spt_delta *d, const Shadowpt__Delta *pb)
{
	uint8_t cause = 0;
	int ret = 0;

	if (pb->n_pages && pb->n_runs)
		return -EINVAL;
	if (pb->has_cause) {
		if (pb->cause < 0 || pb->cause > UINT8_MAX)
			return -EINVAL;
		cause = (uint8_t)pb->cause;
	}
	for (size_t i = 0; !ret && i < pb->n_vmas_removed; i++) {
		const Shadowpt__Range *r = pb->vmas_removed[i];

		ret = r->has_start && r->has_end ? spt_delta_remove_vma(d, r->start, r->end) : -EINVAL;
	}
	for (size_t i = 0; !ret && i < pb->n_vmas_added; i++) {
		struct spt_vma v;

		ret = vma_from_pb(&v, pb->vmas_added[i]);
		if (!ret)
			ret = spt_delta_add_vma(d, &v);
	}
	for (size_t i = 0; !ret && i < pb->n_pages; i++) {
		struct spt_run r;

		ret = page_from_pb(&r, pb->pages[i], cause);
		if (!ret)
			ret = spt_delta_add_run(d, &r);
	}
	for (size_t i = 0; !ret && i < pb->n_runs; i++) {
		struct spt_run r;

		ret = run_from_pb(&r, pb->runs[i], cause);
		if (!ret)
			ret = spt_delta_add_run(d, &r);
	}
	return ret;
}

int spt_delta_apply_pb(struct spt_state *st, const Shadowpt__Delta *pb)
{
	struct spt_delta d;
	int ret;

	spt_delta_init(&d);
	ret = spt_delta_from_pb(&d, pb);
	if (!ret)
		ret = spt_state_apply(st, &d);
	spt_delta_free(&d);
	return ret;
}
