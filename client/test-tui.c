/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the live view's parts without a terminal: cell glyphs at
 * each zoom (tui-cells.c), shared frames and the zero page, cursor moves
 * (tui-nav.c), the detail pane (tui-detail.c) and name escaping.
 */
#include <string.h>

#include "format.h"
#include "test-common.h"
#include "tui-cells.h"
#include "tui-detail.h"
#include "tui-nav.h"

#define PG 4096ull
#define A  0x10000000ull /* an anonymous VMA of 64 pages */
#define F  0x20000000ull /* a file VMA of 16 pages */

static void add_vma(struct spt_state *st, uint64_t start, uint64_t pages, enum spt_vma_kind kind,
		    const char *name)
{
	struct spt_vma v = {.start = start, .end = start + pages * PG, .prot = 3, .kind = kind,
			    .name = (char *)name};

	if (spt_state_append_vma(st, &v))
		abort();
}

static void add_run(struct spt_state *st, uint64_t vaddr, uint64_t n, uint32_t flags, uint64_t pfn,
		    uint8_t stride)
{
	struct spt_run r = {.vaddr = vaddr, .npages = n, .flags = flags, .pfn = pfn, .stride = stride};

	if (spt_state_append_run(st, &r))
		abort();
}

#define ANON (SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED)

/*
 * A: pages 0-3 read (the zero page, one run), 8-15 written (own frames),
 * 20 swapped; page 30 maps the frame of page 8 (a shared frame).
 * F: pages 0-7 mapped.
 */
static void make_state(struct spt_state *st)
{
	spt_state_init(st);
	add_vma(st, A, 64, SPT_VMA_ANON, "[anon:\x1b[31mred]");
	add_vma(st, F, 16, SPT_VMA_FILE, "/lib/libc.so.6");
	add_run(st, A, 4, ANON, 0x3b34, 0);
	add_run(st, A + 8 * PG, 8, ANON | SPT_F_EXCLUSIVE, 1000, 1);
	add_run(st, A + 20 * PG, 1, SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_SWAPPED, 0, 0);
	add_run(st, A + 30 * PG, 1, ANON, 1000, 0);
	add_run(st, F, 8, SPT_F_ALLOCATED | SPT_F_MAPPED | SPT_F_FILE, 5000, 1);
}

static char glyph(const struct spt_state *st, uint64_t vaddr, uint64_t pages,
		  const struct sctl_frames *fr)
{
	struct sctl_cell c;
	struct spt_page p;

	sctl_cell_sum(st, spt_state_find_vma(st, vaddr), vaddr, pages, &c);
	if (pages == 1 && fr && spt_state_get_page(st, vaddr, &p) && (p.flags & SPT_F_MAPPED))
		c.shared = sctl_frames_users(fr, p.pfn, &c.zero) > 1;
	return sctl_cell_glyph(&c);
}

static void test_cells(void)
{
	struct spt_state st;
	struct sctl_frames fr;

	make_state(&st);
	sctl_frames_init(&fr);
	sctl_frames_add(&fr, 0x3b34);
	sctl_frames_add(&fr, 1000);
	sctl_frames_add(&fr, 1001);
	sctl_frames_add(&fr, 5000);
	sctl_frames_count(&fr, &st);

	CHECK(glyph(&st, A, 1, &fr) == '0', "a zero-page read: '0'");
	CHECK(glyph(&st, A + 4 * PG, 1, &fr) == '.', "allocated, not mapped: '.'");
	CHECK(glyph(&st, A + 8 * PG, 1, &fr) == '=', "a frame page 30 maps too: '='");
	CHECK(glyph(&st, A + 30 * PG, 1, &fr) == '=', "... and page 30 itself");
	CHECK(glyph(&st, A + 9 * PG, 1, &fr) == 'a', "an own frame: 'a'");
	CHECK(glyph(&st, A + 20 * PG, 1, &fr) == 's', "swapped: 's'");
	CHECK(glyph(&st, F, 1, &fr) == 'f', "a file page: 'f'");
	CHECK(glyph(&st, A - PG, 1, &fr) == ' ', "outside every VMA: ' '");
	CHECK(glyph(&st, A + 8 * PG, 8, NULL) == '#', "8 pages, all mapped: '#'");
	CHECK(glyph(&st, A, 8, NULL) == ':', "8 pages, 4 mapped: ':'");
	CHECK(glyph(&st, A + 16 * PG, 8, NULL) == 's', "8 pages, one swapped, none mapped: 's'");
	CHECK(glyph(&st, A + 40 * PG, 8, NULL) == '.', "8 pages, none mapped: '.'");
	CHECK(glyph(&st, A + 56 * PG, 64, NULL) == '.',
	      "a cell past its VMA's end counts only the VMA's pages");
	CHECK(sctl_glyph_legend(1)[5].glyph == '0' && sctl_glyph_legend(64)[1].glyph == ':',
	      "the legends list the glyphs");
	sctl_frames_free(&fr);
	spt_state_free(&st);
}

static void test_nav(void)
{
	struct spt_state st;
	struct sctl_layout l;
	struct sctl_nav n = {.l = &l, .cell_pages = 1, .screen_rows = 4};
	uint64_t c;

	make_state(&st);
	sctl_layout_init(&l);
	/* rows of 16 pages: A has 4 rows, F one */
	if (sctl_layout_build(&l, &st, 16, 1))
		abort();
	c = sctl_nav_move(&n, 0, SCTL_KEY_HOME);
	CHECK(c == A, "Home: the first page");
	CHECK(sctl_nav_move(&n, c, SCTL_KEY_RIGHT) == A + PG, "right: the next cell");
	CHECK(sctl_nav_move(&n, c, SCTL_KEY_LEFT) == A, "left at the very start stays");
	CHECK(sctl_nav_move(&n, A + 3 * PG, SCTL_KEY_DOWN) == A + 19 * PG, "down keeps the column");
	CHECK(sctl_nav_move(&n, A + 15 * PG, SCTL_KEY_RIGHT) == A + 16 * PG,
	      "right at a row's end: the next row");
	CHECK(sctl_nav_move(&n, A + 16 * PG, SCTL_KEY_LEFT) == A + 15 * PG,
	      "left at a row's start: the row before's end");
	CHECK(sctl_nav_move(&n, A + 5 * PG, SCTL_KEY_NEXT_VMA) == F, "n: the next VMA");
	CHECK(sctl_nav_move(&n, F + 3 * PG, SCTL_KEY_PREV_VMA) == F, "N: this VMA's start first");
	CHECK(sctl_nav_move(&n, F, SCTL_KEY_PREV_VMA) == A, "N again: the VMA before");
	CHECK(sctl_nav_move(&n, A, SCTL_KEY_END) == F + 15 * PG, "End: the last page");
	CHECK(sctl_nav_clamp(&n, A - 5 * PG) == A, "outside every VMA: the next row");
	CHECK(sctl_nav_clamp(&n, F + 100 * PG) == F + 15 * PG, "past the end: the last page");
	n.cell_pages = 8;
	if (sctl_layout_build(&l, &st, 16 * 8, 1))
		abort();
	CHECK(sctl_nav_clamp(&n, A + 13 * PG) == A + 8 * PG, "zoomed: a cell's first page");
	CHECK(sctl_nav_move(&n, A, SCTL_KEY_RIGHT) == A + 8 * PG, "zoomed: right by 8 pages");
	sctl_layout_free(&l);
	spt_state_free(&st);
}

static bool has_line(const struct sctl_detail *d, const char *want)
{
	for (size_t i = 0; i < d->n; i++)
		if (strstr(d->line[i], want))
			return true;
	return false;
}

static void test_detail(void)
{
	struct sctl_table t;
	struct sctl_frames fr;
	struct sctl_detail d;
	struct sctl_detail_in in = {.t = &t, .cell_pages = 1, .now_ms = 5000, .frames = &fr,
				    .visibility = SHADOWPT__PFN_VISIBILITY__PFN_RAW, .width = 38};
	struct spt_delta dl;
	struct spt_run r = {.vaddr = A + 9 * PG, .npages = 1, .flags = ANON, .pfn = 1001,
			    .cause = SHADOWPT__CAUSE__CAUSE_WRITE_FAULT};

	sctl_table_init(&t);
	spt_state_free(&t.st);
	make_state(&t.st);
	t.valid = true;
	spt_delta_init(&dl);
	spt_delta_add_run(&dl, &r);
	sctl_recent_mark_delta(&t.changes, &dl, 3800);
	spt_delta_free(&dl);
	sctl_frames_init(&fr);
	sctl_frames_add(&fr, 1000);
	sctl_frames_add(&fr, 0x3b34);
	sctl_frames_count(&fr, &t.st);

	in.vaddr = A + 8 * PG;
	sctl_detail_build(&d, &in);
	CHECK(has_line(&d, "page   000010008000"), "the page's address");
	CHECK(has_line(&d, "flags  allocated,anonymous,mapped,") && has_line(&d, "       exclusive"),
	      "its flags, wrapped at a comma");
	CHECK(has_line(&d, "frame  pfn 0x3e8"), "its frame");
	CHECK(has_line(&d, "shared: 2 pages map it"), "who else maps it");
	CHECK(has_line(&d, "vma    000010000000-000010040000"), "its VMA");
	CHECK(has_line(&d, "rw-p anon offset 0x0"), "perms, kind, offset");
	CHECK(has_line(&d, "[anon:\\x1b[31mred]"), "the name, escape sequence escaped");
	CHECK(has_line(&d, "13 of 64 pages resident"), "resident pages of the VMA");
	CHECK(has_line(&d, "change none since the snapshot"), "never changed");
	for (size_t i = 0; i < d.n; i++)
		if (strlen(d.line[i]) > 38)
			CHECK(0, "line %zu is wider than the pane: %s", i, d.line[i]);

	in.vaddr = A + 9 * PG;
	sctl_detail_build(&d, &in);
	CHECK(has_line(&d, "change 1.2 s ago") && has_line(&d, "write-fault"),
	      "when and why it last changed");
	in.vaddr = A;
	sctl_detail_build(&d, &in);
	CHECK(has_line(&d, "the shared zero page"), "the zero page");
	in.visibility = SHADOWPT__PFN_VISIBILITY__PFN_TOKEN;
	sctl_detail_build(&d, &in);
	CHECK(has_line(&d, "frame  token 15156"), "a token, not a pfn");
	in.visibility = SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN;
	sctl_detail_build(&d, &in);
	CHECK(has_line(&d, "frame  hidden by the daemon"), "hidden frames");
	in.vaddr = A + 8 * PG;
	in.cell_pages = 8;
	sctl_detail_build(&d, &in);
	CHECK(has_line(&d, "cell   8 pages, 8 mapped"), "zoomed: the cell's pages");
	in.vaddr = A - PG;
	sctl_detail_build(&d, &in);
	CHECK(has_line(&d, "vma    none"), "outside every VMA");
	sctl_frames_free(&fr);
	sctl_table_free(&t);
}

static void test_escape(void)
{
	char out[64];

	CHECK(sctl_name_escape(out, sizeof(out), "a\xc2\x9b" "b\x1b[0m\\", 0) == 21 &&
		  !strcmp(out, "a\\xc2\\x9bb\\x1b[0m\\x5c"),
	      "C1, C0 and backslash escaped: %s", out);
	sctl_name_escape(out, sizeof(out), "/usr/lib/very/long/name", 10);
	CHECK(!strcmp(out, "/usr/lib/v"), "cut to the width: %s", out);
	sctl_name_escape(out, sizeof(out), "ab\x01", 4);
	CHECK(!strcmp(out, "ab"), "an escape that does not fit is left out: %s", out);
	sctl_name_escape(out, 8, "0123456789", 0);
	CHECK(!strcmp(out, "0123456"), "cut to the buffer: %s", out);
}

int main(void)
{
	test_cells();
	test_nav();
	test_detail();
	test_escape();
	return spt_test_done();
}
