// SPDX-License-Identifier: GPL-2.0-or-later
/* What the snapshot and delta encoders share: entry lists, VMAs, frames. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "convert-priv.h"
#include "spt-assert.h"

void spt_encoded_free(struct spt_encoded *e)
{
	free(e->data);
	e->data = NULL;
	e->len = 0;
}

void spt_encoded_free_array(struct spt_encoded *arr, size_t n)
{
	for (size_t i = 0; arr && i < n; i++)
		spt_encoded_free(&arr[i]);
	free(arr);
}

struct spt_encoded *spt_encoded_slot(struct spt_encoded **arr, size_t n)
{
	struct spt_encoded *p = realloc(*arr, (n + 1) * sizeof(*p));

	if (!p)
		return NULL;
	*arr = p;
	p[n] = (struct spt_encoded){0};
	return &p[n];
}

int spt_pack_frame(Shadowpt__Frame *frame, struct spt_encoded *out)
{
	return spt_frame_encode(frame, SPT_MAX_SERVER_FRAME, &out->data, &out->len);
}

void spt_vma_to_pb(Shadowpt__Vma *pb, const struct spt_vma *v)
{
	shadowpt__vma__init(pb);
	pb->has_start = pb->has_end = pb->has_prot = pb->has_shared = 1;
	pb->has_kind = pb->has_offset = 1;
	pb->start = v->start;
	pb->end = v->end;
	pb->prot = v->prot;
	pb->shared = v->shared;
	pb->kind = (Shadowpt__VmaKind)v->kind;
	pb->offset = v->offset;
	pb->name = v->name;
}

void spt_pb_entries_init(struct spt_pb_entries *e, bool runs, uint32_t delta_cause)
{
	memset(e, 0, sizeof(*e));
	e->runs = runs;
	e->delta_cause = delta_cause;
}

void spt_pb_entries_reset(struct spt_pb_entries *e)
{
	e->n = 0;
	e->bytes = 0;
}

void spt_pb_entries_free(struct spt_pb_entries *e)
{
	free(e->pages);
	free(e->prs);
	free(e->ptrs);
	spt_pb_entries_init(e, e->runs, e->delta_cause);
}

static int entries_grow(struct spt_pb_entries *e)
{
	size_t cap = e->cap ? e->cap * 2 : 1024;
	void *p;

	if (e->n < e->cap)
		return 0;
	if (e->runs)
		p = realloc(e->prs, cap * sizeof(*e->prs));
	else
		p = realloc(e->pages, cap * sizeof(*e->pages));
	if (!p)
		return -ENOMEM;
	if (e->runs)
		e->prs = p;
	else
		e->pages = p;
	e->cap = cap;
	return 0;
}

static void run_to_pb(Shadowpt__PageRun *pb, const struct spt_run *r, uint32_t delta_cause)
{
	shadowpt__page_run__init(pb);
	pb->has_vaddr = pb->has_flags = 1;
	pb->vaddr = r->vaddr;
	pb->flags = r->flags;
	/* Absent fields take their defaults: count 1, pfn 0, stride 0, the delta's cause. */
	pb->has_count = r->npages != 1;
	pb->count = r->npages;
	pb->has_pfn = r->pfn != 0;
	pb->pfn = r->pfn;
	pb->has_pfn_stride = r->stride != 0;
	pb->pfn_stride = r->stride;
	pb->has_cause = r->cause != delta_cause;
	pb->cause = (Shadowpt__Cause)r->cause;
}

static size_t run_pb_size(const Shadowpt__PageRun *pb)
{
	return shadowpt__page_run__get_packed_size(pb) + SPT_FIELD_OVERHEAD;
}

int spt_pb_entries_add_run(struct spt_pb_entries *e, const struct spt_run *r)
{
	spt_assert(e->runs);
	if (e->n) {
		struct spt_run merged = e->last;

		if (spt_run_absorb(&merged, r) == r->npages) {
			Shadowpt__PageRun *pb = &e->prs[e->n - 1];

			e->bytes -= run_pb_size(pb);
			run_to_pb(pb, &merged, e->delta_cause);
			e->bytes += run_pb_size(pb);
			e->last = merged;
			return 0;
		}
	}
	if (entries_grow(e))
		return -ENOMEM;
	run_to_pb(&e->prs[e->n], r, e->delta_cause);
	e->bytes += run_pb_size(&e->prs[e->n]);
	e->last = *r;
	e->n++;
	return 0;
}

int spt_pb_entries_add_page(struct spt_pb_entries *e, uint64_t vaddr, uint32_t flags,
			    uint64_t pfn)
{
	Shadowpt__Page *pb;

	spt_assert(!e->runs);
	if (entries_grow(e))
		return -ENOMEM;
	pb = &e->pages[e->n++];
	shadowpt__page__init(pb);
	pb->has_vaddr = pb->has_flags = 1;
	pb->vaddr = vaddr;
	pb->flags = flags;
	pb->has_pfn = pfn != 0;
	pb->pfn = pfn;
	e->bytes += shadowpt__page__get_packed_size(pb) + SPT_FIELD_OVERHEAD;
	return 0;
}

int spt_pb_entries_finish(struct spt_pb_entries *e)
{
	if (e->n > e->ptrs_cap) {
		void *p = realloc(e->ptrs, e->n * sizeof(*e->ptrs));

		if (!p)
			return -ENOMEM;
		e->ptrs = p;
		e->ptrs_cap = e->n;
	}
	for (size_t i = 0; i < e->n; i++)
		e->ptrs[i] = e->runs ? (void *)&e->prs[i] : (void *)&e->pages[i];
	return 0;
}

struct spt_run spt_map_next_piece(struct spt_run *r, spt_run_map_fn map, void *ctx)
{
	struct spt_run piece = *r;

	if (map && r->flags) {
		map(ctx, &piece);
		spt_assert(piece.npages >= 1 && piece.npages <= r->npages &&
			   piece.vaddr == r->vaddr && piece.stride <= 1);
	}
	if (piece.npages == 1)
		piece.stride = 0;
	if (piece.npages < r->npages)
		spt_run_skip(r, piece.npages);
	else
		r->npages = 0;
	return piece;
}
