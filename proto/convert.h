/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Conversions between the page-state model (state.h) and wire messages.
 * The daemon encodes snapshots (in chunks under the frame limit) and
 * deltas; the client decodes them back, validating everything it is sent.
 */
#ifndef SHADOWPT_CONVERT_H
#define SHADOWPT_CONVERT_H

#include "state.h"
#include "wire.h"

/* Maps a raw pfn to what a viewer may see (token or 0); NULL = raw. */
typedef uint64_t (*spt_pfn_map_fn)(void *ctx, uint64_t pfn);

struct spt_encoded {
	uint8_t *data; /* length-prefixed frame */
	size_t len;
};

struct spt_snapshot_meta {
	uint32_t watch_id;
	uint64_t seq;
	uint64_t timestamp_ns;
	bool resync;
};

/*
 * Encodes a snapshot of st as one or more Snapshot frames (request_id 0),
 * each payload at most SPT_SNAPSHOT_CHUNK_BYTES (+ one entry) and always
 * under SPT_MAX_SERVER_FRAME. *frames is a malloc'd array of *nframes
 * buffers; free with spt_encoded_free_array. Returns 0 or -errno.
 */
int spt_snapshot_encode(const struct spt_state *st, const struct spt_snapshot_meta *meta,
			spt_pfn_map_fn map, void *map_ctx, struct spt_encoded **frames,
			size_t *nframes);

struct spt_delta_meta {
	uint32_t watch_id;
	uint64_t seq, base_seq;
	uint64_t timestamp_ns;
	bool exec;
};

/*
 * Encodes a delta as one Delta frame. A delta too big for one frame
 * returns -EMSGSIZE: the caller sends a resync snapshot instead.
 */
int spt_delta_encode(const struct spt_delta *d, const struct spt_delta_meta *meta,
		     spt_pfn_map_fn map, void *map_ctx, struct spt_encoded *out);

void spt_encoded_free(struct spt_encoded *e);
void spt_encoded_free_array(struct spt_encoded *arr, size_t n);

/*
 * Client side. A snapshot arrives as chunks: begin with chunk 0 (which
 * clears st), then each chunk appends in order. Returns 0, or -EINVAL for
 * anything malformed (out-of-order chunk, unsorted/unaligned entries,
 * overlap, unknown VMA kind).
 */
int spt_snapshot_apply_chunk(struct spt_state *st, const Shadowpt__Snapshot *snap,
			     uint32_t expected_chunk);
int spt_delta_apply_pb(struct spt_state *st, const Shadowpt__Delta *delta);

#endif
