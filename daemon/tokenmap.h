/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opaque pfn tokens for viewers that may not see raw pfns (PFN_TOKEN):
 * per session, each distinct frame gets a token on first sight, from a
 * counter (1, 2, 3, ...). Equal tokens mean the same frame, a changed
 * token means the frame changed; the physical address does not leak.
 * pfn 0 (not mapped / unknown) stays 0.
 *
 * Runs: a run of one frame (stride 0, the zero page) maps to one token.
 * A run of contiguous frames (stride 1) is tokenized frame by frame in
 * address order, exactly as if each page were seen on its own, so the
 * tokens depend only on which frames are equal and in which order they
 * were first seen, never on physical adjacency (rowhammer): scattered
 * frames seen in the same order get the very same tokens. New frames
 * seen in a row get consecutive tokens, so a new THP (or any new run of
 * contiguous frames) is one stride-1 run in token space too, and the map
 * stores it as one interval: memory is O(runs), not O(pages).
 *
 * A target that keeps getting new frames would grow the map without end,
 * so it is pruned to the frames the current state still maps once it
 * holds many more intervals than the state has runs: a frame that comes
 * back later gets a new token, which is fine, since nobody can see it in
 * between.
 */
#ifndef SHADOWPTD_TOKENMAP_H
#define SHADOWPTD_TOKENMAP_H

#include <stddef.h>
#include <stdint.h>

#include "runvec.h"

struct spt_state;

/* Frames at or above this (2^40: 4 PiB of memory) get token 0. */
#define TOKENMAP_FRAME_LIMIT (SPT_RUNVEC_KEY_MAX / SPT_PAGE_SIZE)

struct spt_tokenmap {
	/* Frame intervals: vaddr = first frame * SPT_PAGE_SIZE, npages = frames, pfn = first token. */
	struct spt_runvec ivl;
	uint64_t next; /* the next token */
	int failed;    /* allocation failed once: new frames map to 0 */
};

void tokenmap_init(struct spt_tokenmap *m);
void tokenmap_free(struct spt_tokenmap *m);
/* The token of one frame, assigning the next one on first sight. */
uint64_t tokenmap_get(struct spt_tokenmap *m, uint64_t pfn);
/*
 * Maps a run of raw frames in place (spt_run_map_fn semantics): a
 * stride-0 run whole; a stride-1 run up to where its tokens stop being
 * consecutive (r->npages shortened; call again for the rest).
 */
void tokenmap_map_run(struct spt_tokenmap *m, struct spt_run *r);
/* spt_run_map_fn adaptor: ctx is a struct spt_tokenmap. */
void tokenmap_map_fn(void *ctx, struct spt_run *r);
/* Frames holding a token. */
static inline uint64_t tokenmap_frames(const struct spt_tokenmap *m)
{
	return m->ivl.npages;
}
/*
 * Drops the tokens of frames live no longer maps, if the map holds more
 * than twice as many intervals as live has runs (plus some slack, so
 * that steady churn pays for the rebuild only now and then). Tokens of
 * the frames kept do not change. O((runs + intervals) log runs).
 * Returns how many frames lost their token.
 */
size_t tokenmap_prune(struct spt_tokenmap *m, const struct spt_state *live);

#endif
