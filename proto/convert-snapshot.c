// SPDX-License-Identifier: GPL-2.0-or-later
/* Snapshots, one chunk at a time: VMAs first, then runs (or pages). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "convert-priv.h"

void spt_snapshot_cursor_init(struct spt_snapshot_cursor *c, const struct spt_snapshot_meta *meta)
{
	memset(c, 0, sizeof(*c));
	c->meta = *meta;
}

static int flush(struct spt_snapshot_cursor *c, Shadowpt__Vma **vmas, size_t nvmas,
		 struct spt_pb_entries *e, bool last, struct spt_encoded *out)
{
	Shadowpt__Snapshot snap = SHADOWPT__SNAPSHOT__INIT;
	Shadowpt__Frame frame = SHADOWPT__FRAME__INIT;
	int ret = spt_pb_entries_finish(e);

	if (ret)
		return ret;
	snap.has_watch_id = snap.has_seq = snap.has_timestamp_ns = 1;
	snap.has_chunk = snap.has_last_chunk = 1;
	snap.watch_id = c->meta.watch_id;
	snap.seq = c->meta.seq;
	snap.timestamp_ns = c->meta.timestamp_ns;
	snap.has_resync = c->meta.resync;
	snap.resync = c->meta.resync;
	snap.chunk = c->chunk;
	snap.last_chunk = last;
	snap.n_vmas = nvmas;
	snap.vmas = vmas;
	if (e->runs) {
		snap.n_runs = e->n;
		snap.runs = (Shadowpt__PageRun **)e->ptrs;
	} else {
		snap.n_pages = e->n;
		snap.pages = (Shadowpt__Page **)e->ptrs;
	}
	frame.msg_case = SHADOWPT__FRAME__MSG_SNAPSHOT;
	frame.snapshot = &snap;
	ret = spt_pack_frame(&frame, out);
	if (!ret)
		c->chunk++;
	return ret;
}

/* Adds the runs from c->vaddr on until the chunk is full. */
static int add_runs(struct spt_snapshot_cursor *c, const struct spt_state *st, spt_run_map_fn map,
		    void *map_ctx, struct spt_pb_entries *e, size_t vma_bytes)
{
	struct spt_run_iter it;
	struct spt_run r;
	int ret = 0;

	spt_run_iter_init(&it, st, c->vaddr, UINT64_MAX);
	while (!ret && vma_bytes + e->bytes < SPT_SNAPSHOT_CHUNK_BYTES && spt_run_iter_next(&it, &r)) {
		while (!ret && r.npages && vma_bytes + e->bytes < SPT_SNAPSHOT_CHUNK_BYTES) {
			struct spt_run piece = spt_map_next_piece(&r, map, map_ctx);

			if (e->runs) {
				ret = spt_pb_entries_add_run(e, &piece);
				c->vaddr = spt_run_end(&piece);
				continue;
			}
			/* Protocol 1: a piece may end a chunk half sent; it resumes there. */
			for (uint64_t k = 0; !ret && k < piece.npages &&
					     vma_bytes + e->bytes < SPT_SNAPSHOT_CHUNK_BYTES;
			     k++) {
				ret = spt_pb_entries_add_page(e, piece.vaddr + k * SPT_PAGE_SIZE,
							      piece.flags, piece.pfn + k * piece.stride);
				c->vaddr = piece.vaddr + (k + 1) * SPT_PAGE_SIZE;
			}
		}
	}
	return ret;
}

int spt_snapshot_encode_next(struct spt_snapshot_cursor *c, const struct spt_state *st,
			     spt_run_map_fn map, void *map_ctx, struct spt_encoded *out)
{
	bool v2 = spt_meta_proto(c->meta.proto) == 2, last;
	size_t nleft = st->nvmas > c->vma ? st->nvmas - c->vma : 0, nv = 0, bytes = 0;
	Shadowpt__Vma *vmas = calloc(nleft + 1, sizeof(*vmas));
	Shadowpt__Vma **vma_ptrs = calloc(nleft + 1, sizeof(*vma_ptrs));
	struct spt_pb_entries e;
	struct spt_run_iter it;
	struct spt_run r;
	int ret = -ENOMEM;

	spt_pb_entries_init(&e, v2, 0);
	if (c->done) {
		ret = -EINVAL;
		goto out;
	}
	if (!v2 && c->chunk == 0 && spt_state_npages(st) > SPT_V1_MAX_SNAPSHOT_PAGES) {
		ret = -EMSGSIZE;
		goto out;
	}
	if (!vmas || !vma_ptrs)
		goto out;
	while (c->vma < st->nvmas && bytes < SPT_SNAPSHOT_CHUNK_BYTES) {
		spt_vma_to_pb(&vmas[nv], &st->vmas[c->vma++]);
		vma_ptrs[nv] = &vmas[nv];
		bytes += shadowpt__vma__get_packed_size(&vmas[nv++]) + SPT_FIELD_OVERHEAD;
	}
	ret = add_runs(c, st, map, map_ctx, &e, bytes);
	if (ret)
		goto out;
	/* Last unless VMAs or runs remain (then the last chunk may come out empty). */
	spt_run_iter_init(&it, st, c->vaddr, UINT64_MAX);
	last = c->vma >= st->nvmas && !spt_run_iter_next(&it, &r);
	ret = flush(c, vma_ptrs, nv, &e, last, out);
	if (!ret && last) {
		c->done = true;
		ret = 1;
	}
out:
	spt_pb_entries_free(&e);
	free(vmas);
	free(vma_ptrs);
	return ret;
}

int spt_snapshot_encode(const struct spt_state *st, const struct spt_snapshot_meta *meta,
			spt_run_map_fn map, void *map_ctx, struct spt_encoded **frames,
			size_t *nframes)
{
	struct spt_snapshot_cursor c;
	struct spt_encoded *arr = NULL;
	size_t n = 0;
	int ret;

	spt_snapshot_cursor_init(&c, meta);
	do {
		struct spt_encoded *slot = spt_encoded_slot(&arr, n);

		ret = slot ? spt_snapshot_encode_next(&c, st, map, map_ctx, slot) : -ENOMEM;
		if (ret >= 0)
			n++;
	} while (ret == 0);
	if (ret < 0) {
		spt_encoded_free_array(arr, n);
		return ret;
	}
	*frames = arr;
	*nframes = n;
	return 0;
}
