// SPDX-License-Identifier: GPL-2.0-or-later
/* pfn -> token map: open addressing, linear probing, grows at 50% load. */
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "state.h"
#include "tokenmap.h"

/* Below this many tokens a map is never pruned. */
#define TOKENMAP_PRUNE_SLACK 4096

void tokenmap_init(struct spt_tokenmap *m)
{
	*m = (struct spt_tokenmap){.next = 1};
}

void tokenmap_free(struct spt_tokenmap *m)
{
	free(m->keys);
	free(m->vals);
	tokenmap_init(m);
}

static size_t slot_of(uint64_t key, size_t cap)
{
	/* Fibonacci hashing: pfns are dense, spread them. */
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 20) & (cap - 1);
}

static int tokenmap_rehash(struct spt_tokenmap *m, size_t ncap)
{
	uint64_t *nkeys = calloc(ncap, sizeof(*nkeys));
	uint64_t *nvals = calloc(ncap, sizeof(*nvals));

	if (!nkeys || !nvals) {
		free(nkeys);
		free(nvals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t s;

		if (!m->keys[i])
			continue;
		for (s = slot_of(m->keys[i], ncap); nkeys[s]; s = (s + 1) & (ncap - 1))
			;
		nkeys[s] = m->keys[i];
		nvals[s] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = nkeys;
	m->vals = nvals;
	m->cap = ncap;
	return 0;
}

static int tokenmap_grow(struct spt_tokenmap *m)
{
	return tokenmap_rehash(m, m->cap ? m->cap * 2 : 1024);
}

static size_t tokenmap_find(const struct spt_tokenmap *m, uint64_t pfn)
{
	size_t s;

	for (s = slot_of(pfn, m->cap); m->keys[s]; s = (s + 1) & (m->cap - 1))
		if (m->keys[s] == pfn)
			return s;
	return SIZE_MAX;
}

uint64_t tokenmap_get(struct spt_tokenmap *m, uint64_t pfn)
{
	size_t s;

	if (pfn == 0)
		return 0;
	if (m->cap && (s = tokenmap_find(m, pfn)) != SIZE_MAX)
		return m->vals[s];
	if ((m->count + 1) * 2 > m->cap && tokenmap_grow(m) < 0) {
		if (!m->failed)
			log_err("out of memory growing a pfn token map; new frames show no token");
		m->failed = 1;
		return 0;
	}
	for (s = slot_of(pfn, m->cap); m->keys[s]; s = (s + 1) & (m->cap - 1))
		;
	m->keys[s] = pfn;
	m->vals[s] = m->next++;
	m->count++;
	return m->vals[s];
}

uint64_t tokenmap_map_fn(void *ctx, uint64_t pfn)
{
	return tokenmap_get(ctx, pfn);
}

size_t tokenmap_prune(struct spt_tokenmap *m, const struct spt_state *live)
{
	struct spt_tokenmap n = {.cap = 1024, .next = m->next};
	size_t before = m->count, i, s, o;

	if (m->count <= 2 * live->npages + TOKENMAP_PRUNE_SLACK)
		return 0;
	while (n.cap < 2 * (live->npages + 1))
		n.cap *= 2;
	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return 0; /* keep the big map; try again next time */
	}
	for (i = 0; i < live->npages; i++) {
		uint64_t pfn = live->pages[i].pfn;

		/* Skip untokenized frames and ones already kept (zero page). */
		if (!pfn || (o = tokenmap_find(m, pfn)) == SIZE_MAX ||
		    tokenmap_find(&n, pfn) != SIZE_MAX)
			continue;
		for (s = slot_of(pfn, n.cap); n.keys[s]; s = (s + 1) & (n.cap - 1))
			;
		n.keys[s] = pfn;
		n.vals[s] = m->vals[o];
		n.count++;
	}
	free(m->keys);
	free(m->vals);
	*m = n;
	return before - m->count;
}
