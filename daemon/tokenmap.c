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

/* The slot holding key, or the empty one where it would go. */
static size_t probe(const uint64_t *keys, size_t cap, uint64_t key)
{
	size_t s;

	for (s = slot_of(key, cap); keys[s] && keys[s] != key; s = (s + 1) & (cap - 1))
		;
	return s;
}

/* An empty map with cap slots that continues m's token numbering. */
static int tokenmap_alloc(struct spt_tokenmap *n, const struct spt_tokenmap *m, size_t cap)
{
	*n = (struct spt_tokenmap){.cap = cap, .next = m->next, .failed = m->failed};
	n->keys = calloc(cap, sizeof(*n->keys));
	n->vals = calloc(cap, sizeof(*n->vals));
	if (n->keys && n->vals)
		return 0;
	free(n->keys);
	free(n->vals);
	return -1;
}

/* Adds key with token val to a map known not to hold it. */
static void tokenmap_put(struct spt_tokenmap *m, uint64_t key, uint64_t val)
{
	size_t s = probe(m->keys, m->cap, key);

	m->keys[s] = key;
	m->vals[s] = val;
	m->count++;
}

/* Replaces m by n (which holds what m should keep). */
static void tokenmap_replace(struct spt_tokenmap *m, struct spt_tokenmap *n)
{
	free(m->keys);
	free(m->vals);
	*m = *n;
}

static int tokenmap_grow(struct spt_tokenmap *m)
{
	struct spt_tokenmap n;

	if (tokenmap_alloc(&n, m, m->cap ? m->cap * 2 : 1024) < 0)
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			tokenmap_put(&n, m->keys[i], m->vals[i]);
	tokenmap_replace(m, &n);
	return 0;
}

uint64_t tokenmap_get(struct spt_tokenmap *m, uint64_t pfn)
{
	size_t s;

	if (pfn == 0)
		return 0;
	if (m->cap && m->keys[s = probe(m->keys, m->cap, pfn)])
		return m->vals[s];
	if ((m->count + 1) * 2 > m->cap && tokenmap_grow(m) < 0) {
		if (!m->failed)
			log_err("out of memory growing a pfn token map; new frames show no token");
		m->failed = 1;
		return 0;
	}
	tokenmap_put(m, pfn, m->next);
	return m->next++;
}

uint64_t tokenmap_map_fn(void *ctx, uint64_t pfn)
{
	return tokenmap_get(ctx, pfn);
}

size_t tokenmap_prune(struct spt_tokenmap *m, const struct spt_state *live)
{
	size_t before = m->count, cap = 1024, o;
	struct spt_tokenmap n;

	if (m->count <= 2 * live->npages + TOKENMAP_PRUNE_SLACK)
		return 0;
	while (cap < 2 * (live->npages + 1))
		cap *= 2;
	if (tokenmap_alloc(&n, m, cap) < 0)
		return 0; /* keep the big map; try again next time */
	for (size_t i = 0; i < live->npages; i++) {
		uint64_t pfn = live->pages[i].pfn;

		/* Skip untokenized frames and ones already kept (zero page). */
		if (!pfn || !m->keys[o = probe(m->keys, m->cap, pfn)] ||
		    n.keys[probe(n.keys, n.cap, pfn)])
			continue;
		tokenmap_put(&n, pfn, m->vals[o]);
	}
	tokenmap_replace(m, &n);
	return before - m->count;
}
