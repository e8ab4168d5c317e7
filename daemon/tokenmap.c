// SPDX-License-Identifier: GPL-2.0-or-later
/* frame -> token map: sorted frame intervals with consecutive tokens. */
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "state.h"
#include "tokenmap.h"

/* Below this many intervals a map is never pruned. */
#define TOKENMAP_PRUNE_SLACK 4096

void tokenmap_init(struct spt_tokenmap *m)
{
	*m = (struct spt_tokenmap){.next = 1};
	spt_runvec_init(&m->ivl);
}

void tokenmap_free(struct spt_tokenmap *m)
{
	spt_runvec_free(&m->ivl);
	tokenmap_init(m);
}

static uint64_t ivl_first(const struct spt_run *iv)
{
	return iv->vaddr / SPT_PAGE_SIZE;
}

static uint64_t ivl_end(const struct spt_run *iv)
{
	return ivl_first(iv) + iv->npages;
}

static void note_failure(struct spt_tokenmap *m)
{
	if (!m->failed)
		log_err("out of memory growing a pfn token map; new frames show no token");
	m->failed = 1;
}

/*
 * The tokens of frames [f, f + *n): the first token, with *n cut to how
 * many frames from f have consecutive tokens (at least 1). New frames
 * get the next tokens. 0 if the frame cannot be tokenized.
 */
static uint64_t lookup(struct spt_tokenmap *m, uint64_t f, uint64_t *n)
{
	struct spt_runpos pos;
	struct spt_run iv, fresh;
	uint64_t gap_end = UINT64_MAX, tok;

	if (f >= TOKENMAP_FRAME_LIMIT) { /* beyond 52-bit physical addresses */
		*n = 1;
		return 0;
	}
	if (*n > TOKENMAP_FRAME_LIMIT - f)
		*n = TOKENMAP_FRAME_LIMIT - f;
	if (*n > SPT_RUNVEC_LEN_MAX)
		*n = SPT_RUNVEC_LEN_MAX;
	pos = spt_runvec_seek(&m->ivl, f * SPT_PAGE_SIZE);
	if (!spt_runvec_is_end(&m->ivl, pos)) {
		spt_runvec_get(&m->ivl, pos, &iv);
		if (ivl_first(&iv) <= f) {
			if (ivl_end(&iv) - f < *n)
				*n = ivl_end(&iv) - f;
			return iv.pfn + (f - ivl_first(&iv));
		}
		gap_end = ivl_first(&iv);
	}
	/* First sight: the frames up to the next known one get new tokens. */
	if (m->failed) {
		*n = 1;
		return 0;
	}
	if (gap_end - f < *n)
		*n = gap_end - f;
	tok = m->next;
	fresh = (struct spt_run){.vaddr = f * SPT_PAGE_SIZE, .npages = *n, .pfn = tok, .flags = 1,
				 .stride = 1};
	if (pos.b || pos.i) {
		struct spt_runpos prev = spt_runvec_prev(&m->ivl, pos);

		spt_runvec_get(&m->ivl, prev, &iv);
		if (ivl_end(&iv) == f && iv.pfn + iv.npages == tok &&
		    iv.npages + *n <= SPT_RUNVEC_LEN_MAX) {
			iv.npages += *n; /* the same run of first sightings goes on */
			spt_runvec_set(&m->ivl, prev, &iv);
			m->next += *n;
			return tok;
		}
	}
	if (spt_runvec_splice(&m->ivl, pos, pos, &fresh, 1)) {
		note_failure(m);
		*n = 1;
		return 0;
	}
	m->next += *n;
	return tok;
}

uint64_t tokenmap_get(struct spt_tokenmap *m, uint64_t pfn)
{
	uint64_t n = 1;

	return pfn ? lookup(m, pfn, &n) : 0;
}

void tokenmap_map_run(struct spt_tokenmap *m, struct spt_run *r)
{
	uint64_t n = r->npages;

	if (!r->stride || r->npages == 1) {
		r->pfn = tokenmap_get(m, r->pfn);
		r->stride = 0;
		return;
	}
	if (!r->pfn) { /* frame 0 is "no frame"; the rest are real */
		r->npages = 1;
		r->stride = 0;
		return;
	}
	r->pfn = lookup(m, r->pfn, &n);
	r->npages = n;
	r->stride = n > 1 && r->pfn;
}

void tokenmap_map_fn(void *ctx, struct spt_run *r)
{
	tokenmap_map_run(ctx, r);
}

struct frange {
	uint64_t start, end;
};

static int cmp_frange(const void *a, const void *b)
{
	const struct frange *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* The frames live maps, sorted and merged. */
static struct frange *live_frames(const struct spt_state *live, size_t *count)
{
	struct frange *fr = malloc((spt_state_nruns(live) + 1) * sizeof(*fr));
	struct spt_run_iter it;
	struct spt_run r;
	size_t n = 0, w = 0;

	if (!fr)
		return NULL;
	spt_run_iter_all(&it, live);
	while (spt_run_iter_next(&it, &r)) {
		uint64_t first = r.pfn, end = r.pfn + (r.stride ? r.npages : 1);

		if (!first)
			first = 1;
		if (first < end)
			fr[n++] = (struct frange){first, end};
	}
	qsort(fr, n, sizeof(*fr), cmp_frange);
	for (size_t i = 0; i < n; i++) {
		if (w && fr[i].start <= fr[w - 1].end) {
			if (fr[i].end > fr[w - 1].end)
				fr[w - 1].end = fr[i].end;
		} else {
			fr[w++] = fr[i];
		}
	}
	*count = w;
	return fr;
}

size_t tokenmap_prune(struct spt_tokenmap *m, const struct spt_state *live)
{
	struct spt_runvec kept;
	struct spt_runpos p;
	struct frange *fr;
	uint64_t before = m->ivl.npages;
	size_t nfr, k = 0;
	int ret = 0;

	if (m->ivl.nruns <= 2 * spt_state_nruns(live) + TOKENMAP_PRUNE_SLACK)
		return 0;
	fr = live_frames(live, &nfr);
	if (!fr)
		return 0; /* keep the big map; try again next time */
	spt_runvec_init(&kept);
	/* Intersect the intervals with the live frames; tokens keep their values. */
	for (p = spt_runvec_begin(&m->ivl); !ret && !spt_runvec_is_end(&m->ivl, p);
	     p = spt_runvec_next(&m->ivl, p)) {
		struct spt_run iv;
		uint64_t a, b;

		spt_runvec_get(&m->ivl, p, &iv);
		a = ivl_first(&iv);
		b = ivl_end(&iv);
		while (k < nfr && fr[k].end <= a)
			k++;
		for (size_t j = k; !ret && j < nfr && fr[j].start < b; j++) {
			uint64_t lo = fr[j].start > a ? fr[j].start : a;
			uint64_t hi = fr[j].end < b ? fr[j].end : b;
			struct spt_run part = {.vaddr = lo * SPT_PAGE_SIZE, .npages = hi - lo,
					       .pfn = iv.pfn + (lo - a), .flags = 1, .stride = 1};

			ret = spt_runvec_push(&kept, &part);
		}
	}
	free(fr);
	if (ret) {
		spt_runvec_free(&kept);
		return 0;
	}
	spt_runvec_free(&m->ivl);
	m->ivl = kept;
	return (size_t)(before - m->ivl.npages);
}
