/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Opaque pfn tokens for viewers that may not see raw pfns (PFN_TOKEN):
 * per session, each distinct pfn gets a small sequential token on first
 * sight (1, 2, 3, ...). Equal tokens mean the same frame, a changed token
 * means the frame changed; nothing about the physical address leaks.
 * pfn 0 (not mapped / unknown) stays 0.
 *
 * A target that keeps getting new frames would grow the map without end,
 * so it is pruned to the frames the current state still maps once it
 * holds many more: a frame that comes back later gets a new token, which
 * is fine, since nobody can see it in between.
 */
#ifndef SHADOWPTD_TOKENMAP_H
#define SHADOWPTD_TOKENMAP_H

#include <stddef.h>
#include <stdint.h>

struct spt_state;

struct spt_tokenmap {
	uint64_t *keys; /* pfn, 0 = empty slot */
	uint64_t *vals;
	size_t cap, count; /* cap is a power of two */
	uint64_t next;
	int failed; /* allocation failed once: new pfns map to 0 */
};

void tokenmap_init(struct spt_tokenmap *m);
void tokenmap_free(struct spt_tokenmap *m);
/* The token of pfn, assigning the next one on first sight. */
uint64_t tokenmap_get(struct spt_tokenmap *m, uint64_t pfn);
/* spt_pfn_map_fn adaptor: ctx is a struct spt_tokenmap. */
uint64_t tokenmap_map_fn(void *ctx, uint64_t pfn);
/*
 * Drops the tokens of frames live no longer maps, if the map holds
 * more than twice as many as live has pages (plus some slack, so that
 * steady churn pays for the rebuild only now and then). Tokens of the
 * frames kept do not change. Returns how many tokens were dropped.
 */
size_t tokenmap_prune(struct spt_tokenmap *m, const struct spt_state *live);

#endif
