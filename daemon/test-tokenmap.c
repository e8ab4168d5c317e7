// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests: pfn tokens are stable, sequential, 0 stays 0; runs map to
 * token runs (one token for a stride-0 run, consecutive tokens for new
 * contiguous frames) that never depend on physical adjacency; "equal iff
 * same frame" holds over random runs; pruning keeps exactly the live
 * frames' tokens.
 */
#include <stdio.h>
#include <string.h>

#include "state.h"
#include "test-common.h"
#include "tokenmap.h"

#define PG 4096ull

/* Maps a whole run the way the encoders do, into per-page tokens. */
static void map_pages(struct spt_tokenmap *m, const struct spt_run *raw, uint64_t *tok,
		      size_t *pieces)
{
	struct spt_run rest = *raw;
	size_t k = 0;

	*pieces = 0;
	while (rest.npages) {
		struct spt_run piece = rest;

		tokenmap_map_run(m, &piece);
		for (uint64_t i = 0; i < piece.npages; i++)
			tok[k++] = piece.pfn + i * piece.stride;
		++*pieces;
		if (piece.npages == rest.npages)
			break;
		spt_run_skip(&rest, piece.npages);
	}
}

static void test_runs(void)
{
	struct spt_tokenmap m, s;
	struct spt_run r;
	uint64_t tok[600], tok2[600];
	size_t pieces;
	bool ok = true;

	tokenmap_init(&m);
	/* The zero page: one token for a 1 TiB run, and the same one later. */
	r = (struct spt_run){.vaddr = 0x10000, .npages = 1ull << 28, .pfn = 0x3b34, .flags = 7};
	tokenmap_map_run(&m, &r);
	EXPECT(r.pfn == 1 && r.npages == 1ull << 28 && r.stride == 0);
	EXPECT(tokenmap_get(&m, 0x3b34) == 1);
	/* A new THP: 512 consecutive tokens, one piece, one interval. */
	r = (struct spt_run){.vaddr = 0x200000, .npages = 512, .pfn = 512 * 1000, .stride = 1,
			     .flags = 7 | SPT_F_THP};
	map_pages(&m, &r, tok, &pieces);
	EXPECT(pieces == 1 && tok[0] == 2 && tok[511] == 513 && m.ivl.nruns == 2);
	map_pages(&m, &r, tok2, &pieces);
	EXPECT(pieces == 1 && !memcmp(tok, tok2, 512 * sizeof(*tok)));

	/*
	 * Physical adjacency does not show: 8 new contiguous frames and 8 new
	 * scattered frames at the same addresses get the same tokens.
	 */
	tokenmap_init(&s);
	tokenmap_get(&s, 0x3b34);
	for (int i = 0; i < 512; i++)
		tokenmap_get(&s, 77777 + 13 * (uint64_t)i); /* the same THP count, elsewhere */
	r = (struct spt_run){.vaddr = 0x400000, .npages = 8, .pfn = 9000, .stride = 1, .flags = 7};
	map_pages(&m, &r, tok, &pieces);
	for (int i = 0; i < 8; i++)
		tok2[i] = tokenmap_get(&s, 123456 + 1000 * (uint64_t)(i * 7 % 8));
	EXPECT(!memcmp(tok, tok2, 8 * sizeof(*tok)));

	/* Frames seen one by one before: the run reuses their tokens, in pieces. */
	EXPECT(tokenmap_get(&m, 20003) == 522);
	r = (struct spt_run){.vaddr = 0x500000, .npages = 8, .pfn = 20000, .stride = 1, .flags = 7};
	map_pages(&m, &r, tok, &pieces);
	EXPECT(pieces == 3 && tok[0] == 523 && tok[2] == 525 && tok[3] == 522 && tok[4] == 526 &&
	       tok[7] == 529);
	map_pages(&m, &r, tok2, &pieces);
	EXPECT(!memcmp(tok, tok2, 8 * sizeof(*tok)));
	/* pfn 0 in a stride-1 run stays 0; the frames after it are tokenized. */
	r = (struct spt_run){.vaddr = 0x600000, .npages = 3, .pfn = 0, .stride = 1, .flags = 7};
	map_pages(&m, &r, tok, &pieces);
	EXPECT(tok[0] == 0 && tok[1] == 530 && tok[2] == 531);
	/* Frames beyond the limit show no token rather than a wrong one. */
	EXPECT(tokenmap_get(&m, TOKENMAP_FRAME_LIMIT) == 0);
	EXPECT(tokenmap_get(&m, 1) == 530 && tokenmap_get(&m, 3) == 532);
	for (uint64_t i = 0; i < 8 && ok; i++)
		ok = tokenmap_get(&m, 9000 + i) == 514 + i;
	EXPECT(ok);
	tokenmap_free(&m);
	tokenmap_free(&s);
}

static uint64_t rnd_state = 88172645463325252ull;

static uint64_t rnd(uint64_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state % n;
}

/* Equal iff same frame, over random runs of a small frame universe. */
static void test_equal_iff_same_frame(void)
{
	enum { FRAMES = 5000 };
	static uint64_t tok_of[FRAMES], frame_of[FRAMES * 4];
	struct spt_tokenmap m;
	uint64_t tok[600];
	bool ok = true;
	size_t pieces;

	tokenmap_init(&m);
	for (int k = 0; k < 20000 && ok; k++) {
		uint64_t n = 1 + rnd(rnd(4) ? 8 : 512), f = 1 + rnd(FRAMES - 600);
		struct spt_run r = {.vaddr = 0x10000, .npages = n, .pfn = f, .stride = rnd(2),
				    .flags = 7};

		map_pages(&m, &r, tok, &pieces);
		for (uint64_t i = 0; i < n && ok; i++) {
			uint64_t fr = f + i * r.stride, t = tok[i];

			ok = t && t < FRAMES * 4 && (!tok_of[fr] || tok_of[fr] == t) &&
			     (!frame_of[t] || frame_of[t] == fr);
			tok_of[fr] = t;
			frame_of[t] = fr;
		}
	}
	CHECK(ok, "20000 random runs: one token per frame, one frame per token");
	CHECK(tokenmap_frames(&m) <= FRAMES && m.next <= FRAMES + 1,
	      "tokens handed out: %llu for %llu frames", (unsigned long long)m.next - 1,
	      (unsigned long long)tokenmap_frames(&m));
	tokenmap_free(&m);
}

/* A live state of n single frames base + 7 * i, the zero page twice, and one THP. */
static void live_state(struct spt_state *st, uint64_t n, uint64_t base)
{
	struct spt_run thp = {.vaddr = 0x40000000, .npages = 512, .pfn = 512 * 3000, .stride = 1,
			      .flags = 7 | SPT_F_THP};

	spt_state_clear(st);
	for (uint64_t i = 0; i < n; i++) {
		struct spt_page p = {.vaddr = 0x10000 + i * 4096, .pfn = base + 7 * i, .flags = 7};

		EXPECT(spt_state_append_page(st, &p) == 0);
	}
	for (uint64_t i = 0; i < 2; i++) {
		struct spt_page z = {.vaddr = 0x10000 + (n + i) * 4096, .pfn = 0x42, .flags = 7};

		EXPECT(spt_state_append_page(st, &z) == 0);
	}
	EXPECT(spt_state_append_run(st, &thp) == 0);
}

static void test_prune(void)
{
	struct spt_tokenmap m;
	struct spt_state st;
	struct spt_run thp = {.vaddr = 0, .npages = 512, .pfn = 512 * 3000, .stride = 1};
	uint64_t i, zero, t, thp_tok, ok = 1;

	tokenmap_init(&m);
	spt_state_init(&st);
	zero = tokenmap_get(&m, 0x42);
	tokenmap_map_run(&m, &thp);
	thp_tok = thp.pfn;
	/* A small map is left alone, whatever the state. */
	live_state(&st, 0, 0);
	for (i = 0; i < 1000; i++)
		tokenmap_get(&m, 0x100000 + 2 * i);
	EXPECT(tokenmap_prune(&m, &st) == 0 && tokenmap_frames(&m) == 1513);

	/* A target that went through 50k frames and maps 1000 of them now. */
	for (i = 0; i < 50000; i++)
		tokenmap_get(&m, 0x200000 + 7 * i);
	live_state(&st, 1000, 0x200000 + 7 * 20000);
	EXPECT(tokenmap_prune(&m, &st) == 51513 - 1513);
	EXPECT(tokenmap_frames(&m) == 1513 && m.ivl.nruns == 1002);
	for (i = 0; i < 1000; i++)
		ok &= tokenmap_get(&m, 0x200000 + 7 * (20000 + i)) == 1514 + 20000 + i;
	EXPECT(ok);
	EXPECT(tokenmap_get(&m, 0x42) == zero);
	thp = (struct spt_run){.vaddr = 0, .npages = 512, .pfn = 512 * 3000, .stride = 1};
	tokenmap_map_run(&m, &thp);
	EXPECT(thp.pfn == thp_tok && thp.npages == 512);
	/* A dropped frame comes back as a new token, never an old one. */
	t = tokenmap_get(&m, 0x100000);
	EXPECT(t == 51514 && tokenmap_frames(&m) == 1514);
	/* Pruning again right away does nothing. */
	EXPECT(tokenmap_prune(&m, &st) == 0);
	spt_state_free(&st);
	tokenmap_free(&m);
}

int main(void)
{
	struct spt_tokenmap m;
	struct spt_run r = {.npages = 1, .pfn = 0x999, .flags = 7};
	uint64_t i;

	tokenmap_init(&m);
	EXPECT(tokenmap_get(&m, 0) == 0);
	EXPECT(tokenmap_get(&m, 0x12345) == 1);
	EXPECT(tokenmap_get(&m, 0x999) == 2);
	EXPECT(tokenmap_get(&m, 0x12345) == 1);
	tokenmap_map_fn(&m, &r);
	EXPECT(r.pfn == 2);
	EXPECT(tokenmap_get(&m, 0) == 0);
	/* Many frames: every token stays what it was. */
	for (i = 1; i <= 100000; i++)
		tokenmap_get(&m, i * 7 + 0x100000);
	EXPECT(tokenmap_frames(&m) == 100002);
	for (i = 1; i <= 100000; i++)
		if (tokenmap_get(&m, i * 7 + 0x100000) != i + 2) {
			EXPECT(!"token changed");
			break;
		}
	EXPECT(tokenmap_get(&m, 0x12345) == 1);
	EXPECT(tokenmap_frames(&m) == 100002);
	tokenmap_free(&m);
	EXPECT(tokenmap_frames(&m) == 0 && tokenmap_get(&m, 5) == 1);
	tokenmap_free(&m);
	test_runs();
	test_equal_iff_same_frame();
	test_prune();
	return spt_test_done();
}
