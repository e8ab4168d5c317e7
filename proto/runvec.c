// SPDX-License-Identifier: GPL-2.0-or-later
/* The chunked sorted array of runs; see runvec.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runvec.h"
#include "spt-assert.h"

#define BLK SPT_RUNVEC_BLOCK
#define MIN_FILL (BLK / 4)
#define VPN_BITS 40
#define VPN_MASK ((1ull << VPN_BITS) - 1)
#define W 3 /* 64-bit words per packed run */

/*
 * A packed run: w0 = pfn; w1 = page number (40 bits) | npages bits 0-23;
 * w2 = flags (32 bits) | npages bits 24-35 | stride (bit 44).
 */
struct spt_runvec_block {
	uint32_t n;
	uint64_t w[W * BLK];
};

static void pack(uint64_t *w, const struct spt_run *r)
{
	uint64_t vpn = r->vaddr / SPT_PAGE_SIZE, n = r->npages;

	spt_assert(vpn <= VPN_MASK && n && n <= SPT_RUNVEC_LEN_MAX && r->stride <= 1);
	w[0] = r->pfn;
	w[1] = vpn | n << VPN_BITS;
	w[2] = (uint64_t)r->flags | (n >> 24) << 32 | (uint64_t)r->stride << 44;
}

static void unpack(const uint64_t *w, struct spt_run *r)
{
	r->pfn = w[0];
	r->vaddr = (w[1] & VPN_MASK) * SPT_PAGE_SIZE;
	r->npages = w[1] >> VPN_BITS | ((w[2] >> 32) & 0xfff) << 24;
	r->flags = (uint32_t)w[2];
	r->stride = (uint8_t)((w[2] >> 44) & 1);
	r->cause = 0;
}

static uint64_t slot_vpn(const struct spt_runvec_block *b, size_t i)
{
	return b->w[W * i + 1] & VPN_MASK;
}

static uint64_t slot_npages(const struct spt_runvec_block *b, size_t i)
{
	return b->w[W * i + 1] >> VPN_BITS | ((b->w[W * i + 2] >> 32) & 0xfff) << 24;
}

void spt_runvec_init(struct spt_runvec *rv)
{
	memset(rv, 0, sizeof(*rv));
}

void spt_runvec_clear(struct spt_runvec *rv)
{
	for (size_t b = 0; b < rv->nblocks; b++)
		free(rv->blocks[b]);
	free(rv->blocks);
	spt_runvec_init(rv);
}

void spt_runvec_free(struct spt_runvec *rv)
{
	spt_runvec_clear(rv);
}

size_t spt_runvec_memory(const struct spt_runvec *rv)
{
	return rv->nblocks * sizeof(struct spt_runvec_block) + rv->blocks_cap * sizeof(*rv->blocks);
}

struct spt_runpos spt_runvec_next(const struct spt_runvec *rv, struct spt_runpos p)
{
	if (p.i + 1 < rv->blocks[p.b]->n)
		return (struct spt_runpos){p.b, p.i + 1};
	return (struct spt_runpos){p.b + 1, 0};
}

struct spt_runpos spt_runvec_prev(const struct spt_runvec *rv, struct spt_runpos p)
{
	if (p.b < rv->nblocks && p.i > 0)
		return (struct spt_runpos){p.b, p.i - 1};
	spt_assert(p.b > 0);
	return (struct spt_runpos){p.b - 1, rv->blocks[p.b - 1]->n - 1};
}

void spt_runvec_get(const struct spt_runvec *rv, struct spt_runpos p, struct spt_run *out)
{
	spt_assert(p.b < rv->nblocks && p.i < rv->blocks[p.b]->n);
	unpack(&rv->blocks[p.b]->w[W * p.i], out);
}

void spt_runvec_last(const struct spt_runvec *rv, struct spt_run *out)
{
	const struct spt_runvec_block *b;

	spt_assert(rv->nblocks);
	b = rv->blocks[rv->nblocks - 1];
	unpack(&b->w[W * (b->n - 1)], out);
}

void spt_runvec_set(struct spt_runvec *rv, struct spt_runpos p, const struct spt_run *r)
{
	uint64_t *w;

	spt_assert(p.b < rv->nblocks && p.i < rv->blocks[p.b]->n);
	w = &rv->blocks[p.b]->w[W * p.i];
	rv->npages -= slot_npages(rv->blocks[p.b], p.i);
	pack(w, r);
	rv->npages += r->npages;
}

struct spt_runpos spt_runvec_seek(const struct spt_runvec *rv, uint64_t vaddr)
{
	uint64_t vpn = vaddr / SPT_PAGE_SIZE;
	const struct spt_runvec_block *blk;
	size_t lo = 0, hi = rv->nblocks, b;

	if (!rv->nblocks)
		return (struct spt_runpos){0, 0};
	/* The last block starting at or below vpn (or the first block). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (slot_vpn(rv->blocks[mid], 0) <= vpn)
			lo = mid + 1;
		else
			hi = mid;
	}
	b = lo ? lo - 1 : 0;
	blk = rv->blocks[b];
	lo = 0;
	hi = blk->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (slot_vpn(blk, mid) <= vpn)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return (struct spt_runpos){b, 0};
	if (slot_vpn(blk, lo - 1) + slot_npages(blk, lo - 1) > vpn)
		return (struct spt_runpos){b, lo - 1};
	return spt_runvec_next(rv, (struct spt_runpos){b, lo - 1});
}

size_t spt_runvec_distance(const struct spt_runvec *rv, struct spt_runpos a, struct spt_runpos b,
			   size_t limit)
{
	size_t n;

	if (a.b == b.b)
		return b.i - a.i;
	n = rv->blocks[a.b]->n - a.i;
	for (size_t k = a.b + 1; k < b.b && n <= limit; k++)
		n += rv->blocks[k]->n;
	if (n > limit)
		return limit + 1;
	return n + (b.b < rv->nblocks ? b.i : 0);
}

static int reserve_blocks(struct spt_runvec *rv, size_t need)
{
	size_t cap = rv->blocks_cap ? rv->blocks_cap : 16;
	void *p;

	if (need <= rv->blocks_cap)
		return 0;
	while (cap < need) {
		if (cap > SIZE_MAX / 2 / sizeof(*rv->blocks))
			return -ENOMEM;
		cap *= 2;
	}
	p = realloc(rv->blocks, cap * sizeof(*rv->blocks));
	if (!p)
		return -ENOMEM;
	rv->blocks = p;
	rv->blocks_cap = cap;
	return 0;
}

int spt_runvec_push(struct spt_runvec *rv, const struct spt_run *r)
{
	struct spt_runvec_block *last = rv->nblocks ? rv->blocks[rv->nblocks - 1] : NULL;

	if (!last || last->n == BLK) {
		if (reserve_blocks(rv, rv->nblocks + 1))
			return -ENOMEM;
		last = malloc(sizeof(*last));
		if (!last)
			return -ENOMEM;
		last->n = 0;
		rv->blocks[rv->nblocks++] = last;
	}
	pack(&last->w[W * last->n++], r);
	rv->nruns++;
	rv->npages += r->npages;
	return 0;
}

/* Moves the runs [from, from + n) of block s to slot to of block d. */
static void move_slots(struct spt_runvec_block *d, size_t to, const struct spt_runvec_block *s,
		       size_t from, size_t n)
{
	memmove(&d->w[W * to], &s->w[W * from], n * W * sizeof(uint64_t));
}

static void remove_block_entry(struct spt_runvec *rv, size_t b)
{
	memmove(&rv->blocks[b], &rv->blocks[b + 1], (rv->nblocks - b - 1) * sizeof(*rv->blocks));
	rv->nblocks--;
}

/* Keeps block b at least MIN_FILL full by merging or evening out with a neighbour. */
static void rebalance(struct spt_runvec *rv, size_t b)
{
	struct spt_runvec_block *l, *r;
	size_t lb, total;

	if (b >= rv->nblocks || rv->nblocks < 2 || rv->blocks[b]->n >= MIN_FILL)
		return;
	/* (Appends leave the last block short; that one block costs little.) */
	lb = b + 1 < rv->nblocks ? b : b - 1;
	l = rv->blocks[lb];
	r = rv->blocks[lb + 1];
	total = l->n + r->n;
	if (total <= BLK) {
		move_slots(l, l->n, r, 0, r->n);
		l->n = (uint32_t)total;
		free(r);
		remove_block_entry(rv, lb + 1);
	} else if (l->n < total / 2) {
		size_t k = total / 2 - l->n;

		move_slots(l, l->n, r, 0, k);
		move_slots(r, 0, r, k, r->n - k);
		l->n += (uint32_t)k;
		r->n -= (uint32_t)k;
	} else {
		size_t k = l->n - total / 2;

		move_slots(r, k, r, 0, r->n);
		move_slots(r, 0, l, l->n - k, k);
		l->n -= (uint32_t)k;
		r->n += (uint32_t)k;
	}
}

/* Splice into an empty container. */
static int fill_empty(struct spt_runvec *rv, const struct spt_run *src, size_t n)
{
	size_t nb = (n + BLK - 1) / BLK, e = 0;

	if (!n)
		return 0;
	if (reserve_blocks(rv, nb))
		return -ENOMEM;
	for (size_t j = 0; j < nb; j++) {
		rv->blocks[j] = malloc(sizeof(**rv->blocks));
		if (!rv->blocks[j]) {
			while (j--)
				free(rv->blocks[j]);
			return -ENOMEM;
		}
	}
	for (size_t j = 0; j < nb; j++) {
		size_t c = n / nb + (j < n % nb);

		rv->blocks[j]->n = (uint32_t)c;
		for (size_t k = 0; k < c; k++, e++) {
			pack(&rv->blocks[j]->w[W * k], &src[e]);
			rv->npages += src[e].npages;
		}
	}
	rv->nblocks = nb;
	rv->nruns = n;
	return 0;
}

int spt_runvec_splice(struct spt_runvec *rv, struct spt_runpos from, struct spt_runpos to,
		      const struct spt_run *src, size_t n)
{
	uint64_t rtmp[W * BLK], removed_pages = 0;
	struct spt_runvec_block *fb, **fresh = NULL;
	size_t removed = 0, l, r, m, nb, ob, e;

	if (!rv->nblocks)
		return fill_empty(rv, src, n);
	/* Positions at the end become "after the last run of the last block". */
	if (from.b >= rv->nblocks)
		from = (struct spt_runpos){rv->nblocks - 1, rv->blocks[rv->nblocks - 1]->n};
	if (to.b >= rv->nblocks)
		to = (struct spt_runpos){rv->nblocks - 1, rv->blocks[rv->nblocks - 1]->n};
	spt_assert(from.b < to.b || (from.b == to.b && from.i <= to.i));
	for (struct spt_runpos p = from; p.b < to.b || (p.b == to.b && p.i < to.i);) {
		const struct spt_runvec_block *blk = rv->blocks[p.b];

		if (p.i >= blk->n) {
			p = (struct spt_runpos){p.b + 1, 0};
			continue;
		}
		removed_pages += slot_npages(blk, p.i);
		removed++;
		p.i++;
	}
	fb = rv->blocks[from.b];
	l = from.i;
	r = rv->blocks[to.b]->n - to.i;
	m = l + n + r;
	nb = (m + BLK - 1) / BLK;
	ob = to.b - from.b + 1;

	/* Everything that can fail comes first. */
	if (nb > 1) {
		if (reserve_blocks(rv, rv->nblocks - ob + nb))
			return -ENOMEM;
		fresh = calloc(nb - 1, sizeof(*fresh));
		if (!fresh)
			return -ENOMEM;
		for (size_t j = 0; j < nb - 1; j++) {
			fresh[j] = malloc(sizeof(**fresh));
			if (!fresh[j]) {
				while (j--)
					free(fresh[j]);
				free(fresh);
				return -ENOMEM;
			}
		}
	}
	memcpy(rtmp, &rv->blocks[to.b]->w[W * to.i], r * W * sizeof(uint64_t));

	/*
	 * Lay L (fb's first l runs, in place) ++ src ++ R out evenly over fb
	 * and the fresh blocks. fb's slots past its new count are only read.
	 */
	e = 0;
	for (size_t j = 0; j < nb; j++) {
		struct spt_runvec_block *d = j ? fresh[j - 1] : fb;
		size_t c = m / nb + (j < m % nb);

		for (size_t k = 0; k < c; k++, e++) {
			uint64_t *w = &d->w[W * k];

			if (e < l) {
				if (j)
					memcpy(w, &fb->w[W * e], W * sizeof(uint64_t));
			} else if (e < l + n) {
				pack(w, &src[e - l]);
			} else {
				memcpy(w, &rtmp[W * (e - l - n)], W * sizeof(uint64_t));
			}
		}
		d->n = (uint32_t)c;
	}
	/* Blocks after fb in the old region go; the fresh ones take their place. */
	for (size_t b = from.b + 1; b <= to.b; b++)
		free(rv->blocks[b]);
	if (nb == 0)
		free(fb); /* and its entry goes with the others */
	memmove(&rv->blocks[from.b + nb], &rv->blocks[to.b + 1],
		(rv->nblocks - (to.b + 1)) * sizeof(*rv->blocks));
	for (size_t j = 0; j + 1 < nb; j++)
		rv->blocks[from.b + 1 + j] = fresh[j];
	rv->nblocks = rv->nblocks - ob + nb;
	free(fresh);
	rv->nruns = rv->nruns - removed + n;
	rv->npages -= removed_pages;
	for (size_t k = 0; k < n; k++)
		rv->npages += src[k].npages;
	if (nb == 1)
		rebalance(rv, from.b);
	return 0;
}

int spt_runvec_copy(struct spt_runvec *dst, const struct spt_runvec *src)
{
	spt_runvec_clear(dst);
	if (!src->nblocks)
		return 0;
	if (reserve_blocks(dst, src->nblocks))
		return -ENOMEM;
	for (size_t b = 0; b < src->nblocks; b++) {
		dst->blocks[b] = malloc(sizeof(**dst->blocks));
		if (!dst->blocks[b]) {
			dst->nblocks = b;
			spt_runvec_clear(dst);
			return -ENOMEM;
		}
		memcpy(dst->blocks[b], src->blocks[b],
		       offsetof(struct spt_runvec_block, w) + src->blocks[b]->n * W * sizeof(uint64_t));
	}
	dst->nblocks = src->nblocks;
	dst->nruns = src->nruns;
	dst->npages = src->npages;
	return 0;
}

bool spt_runvec_check(const struct spt_runvec *rv)
{
	uint64_t pages = 0, end = 0;
	size_t runs = 0;

	if (rv->nblocks > rv->blocks_cap && rv->nblocks)
		return false;
	for (size_t b = 0; b < rv->nblocks; b++) {
		const struct spt_runvec_block *blk = rv->blocks[b];

		if (!blk->n || blk->n > BLK || (b + 1 < rv->nblocks && blk->n < MIN_FILL))
			return false;
		for (size_t i = 0; i < blk->n; i++) {
			uint64_t v = slot_vpn(blk, i), np = slot_npages(blk, i);

			if ((runs && v < end) || !np)
				return false;
			end = v + np;
			pages += np;
			runs++;
		}
	}
	return runs == rv->nruns && pages == rv->npages;
}
