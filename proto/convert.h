/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Conversions between the page-state model (state.h) and wire messages.
 * The daemon encodes snapshots (in chunks under the frame limit, one at a
 * time if it likes) and deltas for the protocol version each viewer
 * speaks; the client decodes them back, validating everything it is sent.
 *
 * Protocol 2 carries runs (PageRun). Protocol 1 carries one Page per
 * page: runs are expanded, up to SPT_V1_MAX_SNAPSHOT_PAGES per snapshot
 * and SPT_V1_MAX_DELTA_PAGES per delta, beyond which the encoders fail
 * with -EMSGSIZE (the daemon then refuses or resyncs that viewer rather
 * than allocate without bound).
 */
#ifndef SHADOWPT_CONVERT_H
#define SHADOWPT_CONVERT_H

#include "state.h"
#include "wire.h"

/*
 * Maps the raw frames of *run to what a viewer may see, in place: sets
 * run->pfn and run->stride for a prefix of the run and cuts run->npages
 * to that prefix (at least one page); the encoder calls again for the
 * rest. NULL means raw frames. daemon/tokenmap.h has the token map.
 */
typedef void (*spt_run_map_fn)(void *ctx, struct spt_run *run);

struct spt_encoded {
	uint8_t *data; /* length-prefixed frame */
	size_t len;
};

void spt_encoded_free(struct spt_encoded *e);
void spt_encoded_free_array(struct spt_encoded *arr, size_t n);

struct spt_snapshot_meta {
	uint32_t watch_id;
	uint64_t seq;
	uint64_t timestamp_ns;
	bool resync;
	uint32_t proto; /* the viewer's protocol version: 1 or 2 (0 counts as 1) */
};

/*
 * A snapshot in the making. It holds no pointer into the state: it
 * resumes by position (VMA index, address), so the state may change
 * between chunks without harm; making the chunks add up to one state
 * (e.g. by encoding from an unchanging copy) is the caller's business.
 */
struct spt_snapshot_cursor {
	struct spt_snapshot_meta meta;
	uint32_t chunk; /* index of the next chunk */
	size_t vma;	/* next VMA to send */
	uint64_t vaddr; /* runs continue from this address */
	bool done;
};

void spt_snapshot_cursor_init(struct spt_snapshot_cursor *c, const struct spt_snapshot_meta *meta);
/*
 * Encodes the next Snapshot chunk of st (request_id 0), its payload at
 * most SPT_SNAPSHOT_CHUNK_BYTES plus one entry, always under
 * SPT_MAX_SERVER_FRAME. Returns 1 when that was the last chunk, 0 when
 * more follow, or -errno: -EMSGSIZE when a protocol 1 viewer would get
 * more than SPT_V1_MAX_SNAPSHOT_PAGES pages, -EINVAL after the last.
 */
int spt_snapshot_encode_next(struct spt_snapshot_cursor *c, const struct spt_state *st,
			     spt_run_map_fn map, void *map_ctx, struct spt_encoded *out);
/*
 * All chunks at once: *frames is a malloc'd array of *nframes buffers;
 * free with spt_encoded_free_array. Returns 0 or -errno.
 */
int spt_snapshot_encode(const struct spt_state *st, const struct spt_snapshot_meta *meta,
			spt_run_map_fn map, void *map_ctx, struct spt_encoded **frames,
			size_t *nframes);

struct spt_delta_meta {
	uint32_t watch_id;
	uint64_t seq, base_seq;
	uint64_t timestamp_ns;
	bool exec;
	uint32_t proto; /* the viewer's protocol version: 1 or 2 (0 counts as 1) */
	/* Protocol 2 only, sent as given; 0 = absent. */
	uint32_t cause; /* Shadowpt__Cause of the whole delta */
	uint64_t cause_vaddr;
	uint64_t event_time_ns;
	int32_t cause_tid;
	uint32_t events;
};

/*
 * Encodes d as Delta frames (request_id 0) into a malloc'd array of
 * *nframes buffers (free with spt_encoded_free_array).
 * Protocol 1: exactly one frame; a delta too big for it (or of more than
 * SPT_V1_MAX_DELTA_PAGES pages) returns -EMSGSIZE: send a resync
 * snapshot instead. Protocol 2: chunks of one seq and base_seq under the
 * frame limit, numbered from 0, the last with last_chunk; they carry, in
 * order, the VMA removals, the VMA additions, then the runs (a run whose
 * cause differs from meta->cause says so). Returns 0 or -errno.
 */
int spt_delta_encode(const struct spt_delta *d, const struct spt_delta_meta *meta,
		     spt_run_map_fn map, void *map_ctx, struct spt_encoded **frames,
		     size_t *nframes);

/*
 * Client side. A snapshot arrives as chunks: begin with chunk 0 (which
 * clears st, caps kept), then each chunk appends in order. A message
 * carries pages (protocol 1) or runs (protocol 2), not both. Returns 0,
 * -E2BIG (a cap of st), or -EINVAL for anything malformed: a chunk out
 * of order, unsorted, overlapping or unaligned entries, counts of 0 or
 * beyond the user address space, strides other than 0 and 1, frames that
 * wrap, flags 0, unknown VMA kinds.
 */
int spt_snapshot_apply_chunk(struct spt_state *st, const Shadowpt__Snapshot *snap,
			     uint32_t expected_chunk);
/*
 * Appends what one Delta message (or chunk) says to d: its VMA changes
 * (names copied) and its runs (pages become one-page runs; each run's
 * cause is its own or the message's). The runs must ascend past those d
 * already holds. 0, -ENOMEM or -EINVAL (malformed as above).
 */
int spt_delta_from_pb(struct spt_delta *d, const Shadowpt__Delta *pb);
/* Decodes one Delta message (or chunk) and applies it to st. */
int spt_delta_apply_pb(struct spt_state *st, const Shadowpt__Delta *delta);

#endif
