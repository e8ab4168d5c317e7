// SPDX-License-Identifier: GPL-2.0-or-later
/* Page-state model <-> wire messages: chunked snapshots and deltas. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

/* Tag plus length prefix of an embedded message, at most. */
#define SPT_FIELD_OVERHEAD 6u

static void vma_to_pb(Shadowpt__Vma *pb, const struct spt_vma *v)
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

static void page_to_pb(Shadowpt__Page *pb, const struct spt_page *p, spt_pfn_map_fn map,
		       void *ctx)
{
	uint64_t pfn = p->pfn;

	if (map && pfn)
		pfn = map(ctx, pfn);
	shadowpt__page__init(pb);
	pb->has_vaddr = pb->has_flags = 1;
	pb->vaddr = p->vaddr;
	pb->flags = p->flags;
	pb->has_pfn = pfn != 0;
	pb->pfn = pfn;
}

static int pack(Shadowpt__Frame *frame, struct spt_encoded *out)
{
	return spt_frame_encode(frame, SPT_MAX_SERVER_FRAME, &out->data, &out->len);
}

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

struct chunker {
	const struct spt_snapshot_meta *meta;
	struct spt_encoded *frames;
	size_t nframes;
	uint32_t chunk;
	Shadowpt__Vma *vmas, **vma_ptrs;
	Shadowpt__Page *pages, **page_ptrs;
	size_t nvmas, npages, bytes;
};

static int chunker_flush(struct chunker *c, bool last)
{
	Shadowpt__Snapshot snap = SHADOWPT__SNAPSHOT__INIT;
	Shadowpt__Frame frame = SHADOWPT__FRAME__INIT;
	struct spt_encoded *arr;
	int ret;

	arr = realloc(c->frames, (c->nframes + 1) * sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	c->frames = arr;
	snap.has_watch_id = snap.has_seq = snap.has_timestamp_ns = 1;
	snap.has_chunk = snap.has_last_chunk = 1;
	snap.watch_id = c->meta->watch_id;
	snap.seq = c->meta->seq;
	snap.timestamp_ns = c->meta->timestamp_ns;
	snap.has_resync = c->meta->resync;
	snap.resync = c->meta->resync;
	snap.chunk = c->chunk++;
	snap.last_chunk = last;
	for (size_t i = 0; i < c->nvmas; i++)
		c->vma_ptrs[i] = &c->vmas[i];
	for (size_t i = 0; i < c->npages; i++)
		c->page_ptrs[i] = &c->pages[i];
	snap.n_vmas = c->nvmas;
	snap.vmas = c->vma_ptrs;
	snap.n_pages = c->npages;
	snap.pages = c->page_ptrs;
	frame.msg_case = SHADOWPT__FRAME__MSG_SNAPSHOT;
	frame.snapshot = &snap;
	ret = pack(&frame, &c->frames[c->nframes]);
	if (ret)
		return ret;
	c->nframes++;
	c->nvmas = c->npages = c->bytes = 0;
	return 0;
}

int spt_snapshot_encode(const struct spt_state *st, const struct spt_snapshot_meta *meta,
			spt_pfn_map_fn map, void *map_ctx, struct spt_encoded **frames,
			size_t *nframes)
{
	size_t cap_v = st->nvmas ? st->nvmas : 1, cap_p = st->npages ? st->npages : 1;
	struct chunker c = { .meta = meta };
	int ret = -ENOMEM;

	c.vmas = malloc(cap_v * sizeof(*c.vmas));
	c.vma_ptrs = malloc(cap_v * sizeof(*c.vma_ptrs));
	c.pages = malloc(cap_p * sizeof(*c.pages));
	c.page_ptrs = malloc(cap_p * sizeof(*c.page_ptrs));
	if (!c.vmas || !c.vma_ptrs || !c.pages || !c.page_ptrs)
		goto out;
	ret = 0;
	for (size_t i = 0; !ret && i < st->nvmas; i++) {
		Shadowpt__Vma *pb = &c.vmas[c.nvmas++];

		vma_to_pb(pb, &st->vmas[i]);
		c.bytes += shadowpt__vma__get_packed_size(pb) + SPT_FIELD_OVERHEAD;
		if (c.bytes >= SPT_SNAPSHOT_CHUNK_BYTES)
			ret = chunker_flush(&c, false);
	}
	for (size_t i = 0; !ret && i < st->npages; i++) {
		Shadowpt__Page *pb = &c.pages[c.npages++];

		page_to_pb(pb, &st->pages[i], map, map_ctx);
		c.bytes += shadowpt__page__get_packed_size(pb) + SPT_FIELD_OVERHEAD;
		if (c.bytes >= SPT_SNAPSHOT_CHUNK_BYTES)
			ret = chunker_flush(&c, false);
	}
	/* The last chunk may be empty: it still carries last_chunk. */
	if (!ret)
		ret = chunker_flush(&c, true);
out:
	free(c.vmas);
	free(c.vma_ptrs);
	free(c.pages);
	free(c.page_ptrs);
	if (ret) {
		spt_encoded_free_array(c.frames, c.nframes);
		return ret;
	}
	*frames = c.frames;
	*nframes = c.nframes;
	return 0;
}

int spt_delta_encode(const struct spt_delta *d, const struct spt_delta_meta *meta,
		     spt_pfn_map_fn map, void *map_ctx, struct spt_encoded *out)
{
	Shadowpt__Delta delta = SHADOWPT__DELTA__INIT;
	Shadowpt__Frame frame = SHADOWPT__FRAME__INIT;
	Shadowpt__Range *ranges = calloc(d->nvmas_removed + 1, sizeof(*ranges));
	Shadowpt__Range **range_ptrs = calloc(d->nvmas_removed + 1, sizeof(*range_ptrs));
	Shadowpt__Vma *vmas = calloc(d->nvmas_added + 1, sizeof(*vmas));
	Shadowpt__Vma **vma_ptrs = calloc(d->nvmas_added + 1, sizeof(*vma_ptrs));
	Shadowpt__Page *pages = calloc(d->npages + 1, sizeof(*pages));
	Shadowpt__Page **page_ptrs = calloc(d->npages + 1, sizeof(*page_ptrs));
	int ret = -ENOMEM;

	if (!ranges || !range_ptrs || !vmas || !vma_ptrs || !pages || !page_ptrs)
		goto out;
	for (size_t i = 0; i < d->nvmas_removed; i++) {
		shadowpt__range__init(&ranges[i]);
		ranges[i].has_start = ranges[i].has_end = 1;
		ranges[i].start = d->vmas_removed[i].start;
		ranges[i].end = d->vmas_removed[i].end;
		range_ptrs[i] = &ranges[i];
	}
	for (size_t i = 0; i < d->nvmas_added; i++) {
		vma_to_pb(&vmas[i], &d->vmas_added[i]);
		vma_ptrs[i] = &vmas[i];
	}
	for (size_t i = 0; i < d->npages; i++) {
		page_to_pb(&pages[i], &d->pages[i], map, map_ctx);
		page_ptrs[i] = &pages[i];
	}
	delta.has_watch_id = delta.has_seq = delta.has_base_seq = 1;
	delta.has_timestamp_ns = 1;
	delta.watch_id = meta->watch_id;
	delta.seq = meta->seq;
	delta.base_seq = meta->base_seq;
	delta.timestamp_ns = meta->timestamp_ns;
	delta.has_exec = meta->exec;
	delta.exec = meta->exec;
	delta.n_vmas_removed = d->nvmas_removed;
	delta.vmas_removed = range_ptrs;
	delta.n_vmas_added = d->nvmas_added;
	delta.vmas_added = vma_ptrs;
	delta.n_pages = d->npages;
	delta.pages = page_ptrs;
	frame.msg_case = SHADOWPT__FRAME__MSG_DELTA;
	frame.delta = &delta;
	ret = pack(&frame, out);
out:
	free(ranges);
	free(range_ptrs);
	free(vmas);
	free(vma_ptrs);
	free(pages);
	free(page_ptrs);
	return ret;
}

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

static int page_from_pb(struct spt_page *p, const Shadowpt__Page *pb)
{
	if (!pb->has_vaddr)
		return -EINVAL;
	p->vaddr = pb->vaddr;
	p->flags = pb->flags;
	p->pfn = pb->has_pfn ? pb->pfn : 0;
	return 0;
}

int spt_snapshot_apply_chunk(struct spt_state *st, const Shadowpt__Snapshot *snap,
			     uint32_t expected_chunk)
{
	int ret = 0;

	if (snap->chunk != expected_chunk)
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
		struct spt_page p;

		ret = page_from_pb(&p, snap->pages[i]);
		if (!ret)
			ret = spt_state_append_page(st, &p);
	}
	return ret;
}

int spt_delta_apply_pb(struct spt_state *st, const Shadowpt__Delta *pb)
{
	struct spt_range *ranges = calloc(pb->n_vmas_removed + 1, sizeof(*ranges));
	struct spt_vma *vmas = calloc(pb->n_vmas_added + 1, sizeof(*vmas));
	struct spt_page *pages = calloc(pb->n_pages + 1, sizeof(*pages));
	struct spt_delta d = {
		.vmas_removed = ranges,
		.nvmas_removed = pb->n_vmas_removed,
		.vmas_added = vmas,
		.nvmas_added = pb->n_vmas_added,
		.pages = pages,
		.npages = pb->n_pages,
	};
	int ret = -ENOMEM;

	if (!ranges || !vmas || !pages)
		goto out;
	ret = 0;
	for (size_t i = 0; !ret && i < pb->n_vmas_removed; i++) {
		if (!pb->vmas_removed[i]->has_start || !pb->vmas_removed[i]->has_end)
			ret = -EINVAL;
		ranges[i].start = pb->vmas_removed[i]->start;
		ranges[i].end = pb->vmas_removed[i]->end;
	}
	for (size_t i = 0; !ret && i < pb->n_vmas_added; i++)
		ret = vma_from_pb(&vmas[i], pb->vmas_added[i]);
	for (size_t i = 0; !ret && i < pb->n_pages; i++)
		ret = page_from_pb(&pages[i], pb->pages[i]);
	/* Names are borrowed from pb; spt_state_apply copies what it keeps. */
	if (!ret)
		ret = spt_state_apply(st, &d);
out:
	free(ranges);
	free(vmas);
	free(pages);
	return ret;
}
