/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the page-map layout (folding of unpopulated runs). */
#include <string.h>

#include "test-common.h"
#include "tui-layout.h"

#define PG 4096ull

static void add_vma(struct spt_state *st, uint64_t start, uint64_t end, enum spt_vma_kind kind)
{
	struct spt_vma v = {
	    .start = start, .end = end, .prot = 3, .kind = kind, .name = (char *)""};

	if (spt_state_append_vma(st, &v))
		abort();
}

static void add_page(struct spt_state *st, uint64_t vaddr)
{
	struct spt_page p = {.vaddr = vaddr, .pfn = 1, .flags = 7};

	if (spt_state_append_page(st, &p))
		abort();
}

/* Rows of each VMA cover it exactly once, in order, without overlap. */
static int covers_exactly(const struct sctl_layout *l, const struct spt_state *st)
{
	size_t i = 0;
	uint32_t vi;

	for (vi = 0; vi < st->nvmas; vi++) {
		uint64_t next = st->vmas[vi].start;

		if (i >= l->nrows || l->rows[i].kind != SCTL_ROW_VMA || l->rows[i].vma != vi)
			return 0;
		for (i++; i < l->nrows && l->rows[i].kind != SCTL_ROW_VMA; i++) {
			if (l->rows[i].vma != vi || l->rows[i].vaddr != next || !l->rows[i].npages)
				return 0;
			next += l->rows[i].npages * PG;
		}
		if (next != st->vmas[vi].end)
			return 0;
	}
	return i == l->nrows;
}

/*
 * No populated page is hidden in an unpopulated fold, a run fold lies
 * inside one run, and folds are at least 2 rows.
 */
static int folds_are_empty(const struct sctl_layout *l, const struct spt_state *st, unsigned cols)
{
	for (size_t i = 0; i < l->nrows; i++) {
		const struct sctl_row *r = &l->rows[i];
		uint64_t end = r->vaddr + r->npages * PG;
		struct spt_run_iter it;
		struct spt_run run;

		if (r->kind != SCTL_ROW_FOLD && r->kind != SCTL_ROW_RUN)
			continue;
		if (r->npages <= cols)
			return 0;
		spt_run_iter_init(&it, st, r->vaddr, end);
		if (r->kind == SCTL_ROW_FOLD && spt_run_iter_next(&it, &run))
			return 0;
		if (r->kind == SCTL_ROW_RUN && !(spt_state_get_run(st, r->vaddr, &run) &&
						  spt_run_end(&run) >= end))
			return 0;
	}
	return 1;
}

static void add_run(struct spt_state *st, uint64_t vaddr, uint64_t n, uint64_t pfn)
{
	struct spt_run r = {.vaddr = vaddr, .npages = n, .pfn = pfn, .flags = 7};

	if (spt_state_append_run(st, &r))
		abort();
}

static size_t count_kind(const struct sctl_layout *l, enum sctl_row_kind k)
{
	size_t i, n = 0;

	for (i = 0; i < l->nrows; i++)
		n += l->rows[i].kind == k;
	return n;
}

static void test_small_vma(void)
{
	struct spt_state st;
	struct sctl_layout l;

	spt_state_init(&st);
	sctl_layout_init(&l);
	add_vma(&st, 0x10000, 0x10000 + 10 * PG, SPT_VMA_ANON);
	CHECK(sctl_layout_build(&l, &st, 64, 1) == 0, "build");
	CHECK(l.nrows == 2 && l.rows[0].kind == SCTL_ROW_VMA && l.rows[1].kind == SCTL_ROW_PAGES &&
		  l.rows[1].npages == 10,
	      "one-row VMA shown whole");
	CHECK(covers_exactly(&l, &st), "coverage");
	sctl_layout_free(&l);
	spt_state_free(&st);
}

static void test_huge_reservation(void)
{
	const uint64_t base = 0x7f0000000000ull, size = 32ull << 30; /* 32 GiB */
	const uint64_t pages = size / PG;
	struct spt_state st;
	struct sctl_layout l;
	size_t i;

	spt_state_init(&st);
	sctl_layout_init(&l);
	add_vma(&st, base, base + size, SPT_VMA_ANON);
	CHECK(sctl_layout_build(&l, &st, 64, 1) == 0, "build empty 32 GiB");
	CHECK(l.nrows == 2 && l.rows[1].kind == SCTL_ROW_FOLD && l.rows[1].npages == pages,
	      "unpopulated 32 GiB folds into one row (%zu rows)", l.nrows);

	/* One page in the middle: fold, 3 rows (context 1), fold. */
	add_page(&st, base + size / 2 + 5 * PG);
	CHECK(sctl_layout_build(&l, &st, 64, 1) == 0, "build");
	CHECK(l.nrows == 6, "fold / 3 rows / fold (%zu rows)", l.nrows);
	CHECK(l.rows[1].kind == SCTL_ROW_FOLD && l.rows[2].kind == SCTL_ROW_PAGES &&
		  l.rows[3].kind == SCTL_ROW_PAGES && l.rows[4].kind == SCTL_ROW_PAGES &&
		  l.rows[5].kind == SCTL_ROW_FOLD,
	      "row kinds");
	CHECK(l.rows[3].vaddr == base + size / 2 && l.rows[3].npages == 64,
	      "populated row aligned to the VMA start");
	CHECK(l.rows[1].npages == pages / 2 - 64 && l.rows[5].npages == pages / 2 - 128,
	      "fold counts (%llu, %llu)", (unsigned long long)l.rows[1].npages,
	      (unsigned long long)l.rows[5].npages);
	CHECK(covers_exactly(&l, &st) && folds_are_empty(&l, &st, 64), "coverage");

	/* 1000 scattered pages: rows scale with them, not with 8M pages. */
	spt_state_clear(&st);
	add_vma(&st, base, base + size, SPT_VMA_ANON);
	for (i = 0; i < 1000; i++)
		add_page(&st, base + i * (size / 1000 / PG) * PG);
	CHECK(sctl_layout_build(&l, &st, 64, 1) == 0, "build scattered");
	CHECK(l.nrows <= 1 + 1000 * 4 + 1, "bounded rows (%zu)", l.nrows);
	CHECK(count_kind(&l, SCTL_ROW_FOLD) == 1000, "a fold between each (%zu)",
	      count_kind(&l, SCTL_ROW_FOLD));
	CHECK(covers_exactly(&l, &st) && folds_are_empty(&l, &st, 64), "coverage scattered");
	sctl_layout_free(&l);
	spt_state_free(&st);
}

static void test_edges_and_merging(void)
{
	const uint64_t base = 0x400000;
	struct spt_state st;
	struct sctl_layout l;

	spt_state_init(&st);
	sctl_layout_init(&l);
	/* 20 rows of 8 cells plus a partial row of 3. */
	add_vma(&st, base, base + (20 * 8 + 3) * PG, SPT_VMA_FILE);
	add_page(&st, base);		  /* row 0 */
	add_page(&st, base + 3 * 8 * PG); /* row 3: gap row 2 alone -> shown */
	add_page(&st, base + 162 * PG);	  /* last, partial row 20 */
	CHECK(sctl_layout_build(&l, &st, 8, 1) == 0, "build");
	CHECK(l.rows[1].kind == SCTL_ROW_PAGES && l.rows[1].vaddr == base, "no fold before row 0");
	CHECK(l.rows[2].kind == SCTL_ROW_PAGES && l.rows[3].kind == SCTL_ROW_PAGES &&
		  l.rows[4].kind == SCTL_ROW_PAGES && l.rows[5].kind == SCTL_ROW_PAGES,
	      "rows 0-4 shown (single-row gap not folded)");
	CHECK(l.rows[6].kind == SCTL_ROW_FOLD && l.rows[6].vaddr == base + 5 * 8 * PG &&
		  l.rows[6].npages == 14 * 8,
	      "rows 5-18 folded (%llu pages)", (unsigned long long)l.rows[6].npages);
	CHECK(l.nrows == 9 && l.rows[8].npages == 3, "rows 19 and partial 20");
	CHECK(covers_exactly(&l, &st) && folds_are_empty(&l, &st, 8), "coverage");

	/* Several VMAs, pages only in the second. */
	spt_state_clear(&st);
	add_vma(&st, base, base + 100 * PG, SPT_VMA_ANON);
	add_vma(&st, base + 200 * PG, base + 300 * PG, SPT_VMA_ANON);
	add_page(&st, base + 250 * PG);
	CHECK(sctl_layout_build(&l, &st, 16, 0) == 0, "build two VMAs");
	CHECK(covers_exactly(&l, &st) && folds_are_empty(&l, &st, 16), "coverage two VMAs");
	CHECK(l.rows[0].kind == SCTL_ROW_VMA && l.rows[1].kind == SCTL_ROW_FOLD &&
		  l.rows[1].npages == 100,
	      "first VMA folded");
	sctl_layout_free(&l);
	spt_state_free(&st);
}

/* A 1 TiB zero-page run costs a few rows, and so do runs next to each other. */
static void test_runs(void)
{
	const uint64_t base = 0x100000000000ull, size = 1ull << 40, pages = size / PG;
	struct spt_state st;
	struct sctl_layout l;

	spt_state_init(&st);
	sctl_layout_init(&l);
	add_vma(&st, base, base + size, SPT_VMA_ANON);
	add_run(&st, base, pages, 0x3b34);
	CHECK(sctl_layout_build(&l, &st, 64, 1) == 0, "build 1 TiB run");
	CHECK(l.nrows == 6 && l.rows[3].kind == SCTL_ROW_RUN &&
		      l.rows[3].npages == pages - 4 * 64,
	      "first rows, a run fold, last rows (%zu rows)", l.nrows);
	CHECK(covers_exactly(&l, &st) && folds_are_empty(&l, &st, 64), "coverage 1 TiB run");

	/* A run in the middle of the VMA: unpopulated, run, unpopulated. */
	spt_state_clear(&st);
	add_vma(&st, base, base + size, SPT_VMA_ANON);
	add_run(&st, base + size / 4, pages / 2, 0x3b34);
	add_run(&st, base + size / 4 * 3 + 64 * 100 * PG, 1, 5);
	CHECK(sctl_layout_build(&l, &st, 64, 1) == 0, "build");
	CHECK(count_kind(&l, SCTL_ROW_RUN) == 1 && count_kind(&l, SCTL_ROW_FOLD) == 3 &&
		      l.nrows < 20,
	      "two runs: %zu rows", l.nrows);
	CHECK(covers_exactly(&l, &st) && folds_are_empty(&l, &st, 64), "coverage");
	sctl_layout_free(&l);
	spt_state_free(&st);
}

static void test_cols(void)
{
	CHECK(sctl_layout_cols(80) == 64, "80 columns -> 64 cells");
	CHECK(sctl_layout_cols(10) == 8, "tiny terminal -> 8 cells");
	CHECK(sctl_layout_cols(200) == 184, "200 columns -> 184 cells");
}

/* The cursor's row never folds; find() gives the row of any address. */
static void test_keep_and_find(void)
{
	struct spt_state st;
	struct sctl_layout l;
	uint64_t base = 0x10000000, cursor = base + 5000 * PG + 3 * PG;
	size_t i;

	spt_state_init(&st);
	add_vma(&st, base, base + 10000 * PG, SPT_VMA_ANON);
	add_page(&st, base);
	sctl_layout_init(&l);
	CHECK(sctl_layout_build(&l, &st, 64, 1) == 0, "build");
	i = sctl_layout_find(&l, cursor);
	CHECK(i < l.nrows && l.rows[i].kind == SCTL_ROW_FOLD, "the cursor lies in a fold");
	CHECK(sctl_layout_keep(&l, cursor, 64) == 0, "keep");
	i = sctl_layout_find(&l, cursor);
	CHECK(i < l.nrows && l.rows[i].kind == SCTL_ROW_PAGES &&
		  l.rows[i].vaddr == base + 4992 * PG && l.rows[i].npages == 64,
	      "its row is unfolded, aligned to the VMA's rows");
	CHECK(i > 0 && l.rows[i - 1].kind == SCTL_ROW_FOLD && i + 1 < l.nrows &&
		  l.rows[i + 1].kind == SCTL_ROW_FOLD,
	      "folds on both sides");
	CHECK(covers_exactly(&l, &st), "still covers the VMA once");
	CHECK(sctl_layout_find(&l, base - PG) == l.nrows, "before every VMA: no row");
	CHECK(sctl_layout_find(&l, base + 10000 * PG) == l.nrows, "after it: no row");
	CHECK(l.rows[sctl_layout_find(&l, base)].kind == SCTL_ROW_PAGES, "the first page's row");
	CHECK(sctl_layout_keep(&l, base, 64) == 0 && covers_exactly(&l, &st),
	      "keeping a row that shows changes nothing");
	/* near the fold's ends: the rest is one row, shown, not folded */
	CHECK(sctl_layout_build(&l, &st, 64, 1) == 0 &&
		  sctl_layout_keep(&l, base + 9999 * PG, 64) == 0 && covers_exactly(&l, &st),
	      "keep the last row");
	sctl_layout_free(&l);
	spt_state_free(&st);
}

int main(void)
{
	test_small_vma();
	test_huge_reservation();
	test_edges_and_merging();
	test_runs();
	test_cols();
	test_keep_and_find();
	return spt_test_done();
}
