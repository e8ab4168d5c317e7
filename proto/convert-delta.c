// SPDX-License-Identifier: GPL-2.0-or-later
/* Deltas: one frame for protocol 1, chunks of runs for protocol 2. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "convert-priv.h"

/* What an encoder still has to send of a delta, across chunks. */
struct delta_walk {
	const struct spt_delta *d;
	size_t removed, added, run;
	struct spt_run rest; /* unsent part of d->runs[run] */
	bool have_rest;
};

static void header(Shadowpt__Delta *pb, const struct spt_delta_meta *m, bool v2)
{
	pb->has_watch_id = pb->has_seq = pb->has_base_seq = pb->has_timestamp_ns = 1;
	pb->watch_id = m->watch_id;
	pb->seq = m->seq;
	pb->base_seq = m->base_seq;
	pb->timestamp_ns = m->timestamp_ns;
	pb->has_exec = m->exec;
	pb->exec = m->exec;
	if (!v2)
		return;
	pb->has_cause = m->cause != 0;
	pb->cause = (Shadowpt__Cause)m->cause;
	pb->has_cause_vaddr = m->cause_vaddr != 0;
	pb->cause_vaddr = m->cause_vaddr;
	pb->has_event_time_ns = m->event_time_ns != 0;
	pb->event_time_ns = m->event_time_ns;
	pb->has_cause_tid = m->cause_tid != 0;
	pb->cause_tid = m->cause_tid;
	pb->has_events = m->events != 0;
	pb->events = m->events;
}

static bool walk_done(const struct delta_walk *w)
{
	return w->removed >= w->d->nvmas_removed && w->added >= w->d->nvmas_added &&
	       !w->have_rest && w->run >= w->d->nruns;
}

/* The next piece of the runs, map applied; false when none is left. */
static bool walk_piece(struct delta_walk *w, spt_run_map_fn map, void *ctx, struct spt_run *out)
{
	if (!w->have_rest) {
		if (w->run >= w->d->nruns)
			return false;
		w->rest = w->d->runs[w->run++];
		w->have_rest = true;
	}
	*out = spt_map_next_piece(&w->rest, map, ctx);
	w->have_rest = w->rest.npages != 0;
	return true;
}

/*
 * Fills one Delta message from w, up to limit bytes of items (protocol 2)
 * or with everything (protocol 1, limit SIZE_MAX), and packs it.
 */
static int encode_one(struct delta_walk *w, const struct spt_delta_meta *m, bool v2, uint32_t chunk,
		      size_t limit, spt_run_map_fn map, void *ctx, struct spt_encoded *out)
{
	const struct spt_delta *d = w->d;
	size_t nr = d->nvmas_removed - w->removed, na = d->nvmas_added - w->added, ir = 0, ia = 0;
	Shadowpt__Range *ranges = calloc(nr + 1, sizeof(*ranges));
	Shadowpt__Range **range_ptrs = calloc(nr + 1, sizeof(*range_ptrs));
	Shadowpt__Vma *vmas = calloc(na + 1, sizeof(*vmas));
	Shadowpt__Vma **vma_ptrs = calloc(na + 1, sizeof(*vma_ptrs));
	Shadowpt__Delta delta = SHADOWPT__DELTA__INIT;
	Shadowpt__Frame frame = SHADOWPT__FRAME__INIT;
	struct spt_pb_entries e;
	struct spt_run piece;
	size_t bytes = 0;
	int ret = -ENOMEM;

	spt_pb_entries_init(&e, v2, m->cause);
	if (!ranges || !range_ptrs || !vmas || !vma_ptrs)
		goto out;
	/* Removals, then additions, then runs: chunks apply in that order too. */
	for (; w->removed < d->nvmas_removed && bytes < limit; ir++) {
		shadowpt__range__init(&ranges[ir]);
		ranges[ir].has_start = ranges[ir].has_end = 1;
		ranges[ir].start = d->vmas_removed[w->removed].start;
		ranges[ir].end = d->vmas_removed[w->removed++].end;
		range_ptrs[ir] = &ranges[ir];
		bytes += shadowpt__range__get_packed_size(&ranges[ir]) + SPT_FIELD_OVERHEAD;
	}
	for (; w->removed >= d->nvmas_removed && w->added < d->nvmas_added && bytes < limit; ia++) {
		spt_vma_to_pb(&vmas[ia], &d->vmas_added[w->added++]);
		vma_ptrs[ia] = &vmas[ia];
		bytes += shadowpt__vma__get_packed_size(&vmas[ia]) + SPT_FIELD_OVERHEAD;
	}
	ret = 0;
	while (!ret && w->added >= d->nvmas_added && bytes + e.bytes < limit &&
	       walk_piece(w, map, ctx, &piece)) {
		if (v2) {
			ret = spt_pb_entries_add_run(&e, &piece);
			continue;
		}
		for (uint64_t k = 0; !ret && k < piece.npages; k++)
			ret = spt_pb_entries_add_page(&e, piece.vaddr + k * SPT_PAGE_SIZE,
						      piece.flags, piece.pfn + k * piece.stride);
	}
	if (!ret)
		ret = spt_pb_entries_finish(&e);
	if (ret)
		goto out;
	header(&delta, m, v2);
	delta.n_vmas_removed = ir;
	delta.vmas_removed = range_ptrs;
	delta.n_vmas_added = ia;
	delta.vmas_added = vma_ptrs;
	if (v2) {
		delta.has_chunk = delta.has_last_chunk = 1;
		delta.chunk = chunk;
		delta.last_chunk = walk_done(w);
		delta.n_runs = e.n;
		delta.runs = (Shadowpt__PageRun **)e.ptrs;
	} else {
		delta.n_pages = e.n;
		delta.pages = (Shadowpt__Page **)e.ptrs;
	}
	frame.msg_case = SHADOWPT__FRAME__MSG_DELTA;
	frame.delta = &delta;
	ret = spt_pack_frame(&frame, out);
out:
	spt_pb_entries_free(&e);
	free(ranges);
	free(range_ptrs);
	free(vmas);
	free(vma_ptrs);
	return ret;
}

int spt_delta_encode(const struct spt_delta *d, const struct spt_delta_meta *meta,
		     spt_run_map_fn map, void *map_ctx, struct spt_encoded **frames,
		     size_t *nframes)
{
	bool v2 = spt_meta_proto(meta->proto) == 2;
	struct delta_walk w = {.d = d};
	struct spt_encoded *arr = NULL;
	size_t n = 0;
	int ret = 0;

	if (!v2 && spt_delta_npages(d) > SPT_V1_MAX_DELTA_PAGES)
		return -EMSGSIZE;
	do {
		struct spt_encoded *slot = spt_encoded_slot(&arr, n);

		ret = slot ? encode_one(&w, meta, v2, (uint32_t)n,
					v2 ? SPT_SNAPSHOT_CHUNK_BYTES : SIZE_MAX, map, map_ctx, slot)
			   : -ENOMEM;
		if (!ret)
			n++;
	} while (!ret && v2 && !walk_done(&w));
	if (ret) {
		spt_encoded_free_array(arr, n);
		return ret;
	}
	*frames = arr;
	*nframes = n;
	return 0;
}
