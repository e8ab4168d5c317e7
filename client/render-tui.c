/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ncursesw live page map; see render-tui.h. */
#include <inttypes.h>
#include <langinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curses.h>

#include "format.h"
#include "shadowpt-limits.h"
#include "render-tui.h"
#include "tui-layout.h"

/* Unpopulated rows kept visible around a populated one. */
#define SCTL_TUI_CONTEXT_ROWS 1
#define SCTL_TUI_HEADER_LINES 3

enum {
	PAIR_HEADER = 1,
	PAIR_ANON,
	PAIR_FILE,
	PAIR_SWAP,
	PAIR_THP,
	PAIR_VMA,
	PAIR_FOLD,
};

struct sctl_tui {
	SCREEN *screen;
	struct sctl_layout layout;
	unsigned cols; /* page cells per row of the current layout */
	size_t top;    /* first layout row shown */
	bool layout_valid;
	bool need_redraw;
	bool utf8;
	bool color;
	struct sctl_keys keys;
};

struct sctl_tui *sctl_tui_open(void)
{
	struct sctl_tui *tui;
	const char *term = getenv("TERM");

	if (!term || !*term || !strcmp(term, "dumb"))
		return NULL;
	tui = calloc(1, sizeof(*tui));
	if (!tui)
		return NULL;
	tui->screen = newterm(NULL, stdout, stdin);
	if (!tui->screen) {
		free(tui);
		return NULL;
	}
	set_term(tui->screen);
	tui->utf8 = !strcmp(nl_langinfo(CODESET), "UTF-8");
	cbreak(); /* keep ISIG: Ctrl-C stays SIGINT, handled by the watch loop */
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	curs_set(0);
	if (has_colors() && start_color() == OK) {
		use_default_colors();
		tui->color = true;
		init_pair(PAIR_HEADER, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_ANON, COLOR_GREEN, -1);
		init_pair(PAIR_FILE, COLOR_CYAN, -1);
		init_pair(PAIR_SWAP, COLOR_YELLOW, -1);
		init_pair(PAIR_THP, COLOR_MAGENTA, -1);
		init_pair(PAIR_VMA, COLOR_YELLOW, -1);
		init_pair(PAIR_FOLD, COLOR_BLUE, -1);
	}
	sctl_layout_init(&tui->layout);
	tui->need_redraw = true;
	return tui;
}

void sctl_tui_close(struct sctl_tui *tui)
{
	if (!tui)
		return;
	endwin();
	delscreen(tui->screen);
	sctl_layout_free(&tui->layout);
	free(tui);
}

static size_t body_lines(void)
{
	return LINES > SCTL_TUI_HEADER_LINES ? (size_t)(LINES - SCTL_TUI_HEADER_LINES) : 0;
}

static size_t max_top(const struct sctl_tui *tui)
{
	size_t body = body_lines();

	return tui->layout.nrows > body ? tui->layout.nrows - body : 0;
}

void sctl_tui_set_replay(struct sctl_tui *tui, bool replay)
{
	tui->keys.replay = replay;
}

const char *sctl_tui_prompt_text(const struct sctl_tui *tui)
{
	return tui->keys.text;
}

enum sctl_key_action sctl_tui_handle_keys(struct sctl_tui *tui)
{
	size_t body = body_lines(), page = body > 1 ? body - 1 : 1;
	enum sctl_key_action a = SCTL_KEY_NONE;
	int ch;

	while (a == SCTL_KEY_NONE && (ch = getch()) != ERR) {
		switch (a = sctl_keys_feed(&tui->keys, ch)) {
		case SCTL_KEY_UP:
			if (tui->top)
				tui->top--;
			break;
		case SCTL_KEY_DOWN:
			tui->top++;
			break;
		case SCTL_KEY_PAGE_UP:
			tui->top = tui->top > page ? tui->top - page : 0;
			break;
		case SCTL_KEY_PAGE_DOWN:
			tui->top += page;
			break;
		case SCTL_KEY_HOME:
			tui->top = 0;
			break;
		case SCTL_KEY_END:
			tui->top = SIZE_MAX;
			break;
		case SCTL_KEY_RESIZE:
			tui->layout_valid = false;
			break;
		case SCTL_KEY_PROMPT:
			break;
		case SCTL_KEY_NONE:
			continue;
		default:
			tui->need_redraw = true;
			return a; /* the caller's */
		}
		a = SCTL_KEY_NONE;
		tui->need_redraw = true;
	}
	if (tui->top > max_top(tui) && tui->layout_valid)
		tui->top = max_top(tui);
	return SCTL_KEY_NONE;
}

bool sctl_tui_needs_redraw(const struct sctl_tui *tui)
{
	return tui->need_redraw;
}

static void put_counter(const char *name, uint64_t v)
{
	printw("%s ", name);
	attron(A_BOLD);
	printw("%" PRIu64, v);
	attroff(A_BOLD);
	addstr("  ");
}

static void draw_header(const struct sctl_tui *tui, const struct sctl_tui_header *h,
			const struct sctl_table *t)
{
	const Shadowpt__WatchStarted *ws = h->ws;
	struct sctl_table_stats s;
	char text[128];

	sctl_table_stats(&t->st, &s);
	move(0, 0);
	if (tui->color)
		attron(COLOR_PAIR(PAIR_HEADER));
	attron(A_BOLD);
	printw(" shadowctl  pid %" PRId32, h->pid);
	if (ws && ws->comm) {
		sctl_printable(text, sizeof(text), ws->comm);
		printw(" (%s)", text);
	}
	/* Most useful first: a long backend reason may be cut at the edge. */
	if (t->valid)
		printw("  seq %" PRIu64, t->seq);
	else
		addstr("  waiting for snapshot");
	if (ws) {
		printw("  pfn %s",
		       sctl_visibility_name(ws->has_pfn_visibility
						? (int)ws->pfn_visibility
						: SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN));
		if (ws->range && !(ws->range->start == 0 && ws->range->end >= SPT_USER_ADDR_MAX))
			printw("  range %" PRIx64 "-%" PRIx64, ws->range->start, ws->range->end);
		printw("  backend %s", spt_backend_name((int)ws->backend));
		if (ws->backend_reason && *ws->backend_reason) {
			sctl_printable(text, sizeof(text), ws->backend_reason);
			printw(" [%s]", text);
		}
	}
	clrtoeol();
	attroff(A_BOLD);
	if (tui->color)
		attroff(COLOR_PAIR(PAIR_HEADER));
	else
		mvchgat(0, 0, -1, A_REVERSE, 0, NULL);

	move(1, 0);
	put_counter("VMAs", s.vmas);
	put_counter("allocated", s.allocated);
	put_counter("mapped", s.mapped);
	put_counter("anonymous", s.anonymous);
	if (s.swapped)
		put_counter("swapped", s.swapped);
	printw("deltas/s %.1f", h->deltas_per_sec);
	if (t->resyncs)
		printw("  resyncs %" PRIu64, t->resyncs);
	clrtoeol();

	move(2, 0);
	if (sctl_keys_prompt_label(&tui->keys)) {
		attron(A_BOLD);
		printw("%s%s", sctl_keys_prompt_label(&tui->keys), tui->keys.text);
		attroff(A_BOLD);
		clrtoeol();
		return;
	}
	if (h->message) {
		attron(A_BOLD);
		printw("%s", h->message);
		attroff(A_BOLD);
		addstr("  ");
	}
	addstr(". alloc  a anon  f file/shm  H thp  s swap  ");
	attron(A_REVERSE);
	addstr("x");
	attroff(A_REVERSE);
	addstr(" changed  arrows/PgUp/PgDn/Home/End  q quit");
	clrtoeol();
}

static attr_t glyph_attr(const struct sctl_tui *tui, char g)
{
	if (!tui->color)
		return g == 'H' || g == 's' ? A_BOLD : A_NORMAL;
	switch (g) {
	case 'a':
		return COLOR_PAIR(PAIR_ANON);
	case 'f':
		return COLOR_PAIR(PAIR_FILE);
	case 's':
		return COLOR_PAIR(PAIR_SWAP) | A_BOLD;
	case 'H':
		return COLOR_PAIR(PAIR_THP) | A_BOLD;
	default:
		return A_DIM;
	}
}

static void draw_pages_row(const struct sctl_tui *tui, int y, const struct sctl_row *r,
			   const struct sctl_table *t, int64_t now_ms)
{
	const struct spt_state *st = &t->st;
	uint32_t vma_flags = spt_vma_flags(&st->vmas[r->vma]);
	struct spt_run_iter it;
	struct spt_run run;
	bool have;
	uint64_t i;

	spt_run_iter_init(&it, st, r->vaddr, r->vaddr + r->npages * SPT_PAGE_SIZE);
	have = spt_run_iter_next(&it, &run);
	mvprintw(y, 0, "%012" PRIx64 " ", r->vaddr);
	for (i = 0; i < r->npages; i++) {
		uint64_t va = r->vaddr + i * SPT_PAGE_SIZE;
		uint32_t flags = vma_flags;
		char g;
		attr_t a;

		if (have && spt_run_end(&run) <= va)
			have = spt_run_iter_next(&it, &run);
		if (have && run.vaddr <= va)
			flags = run.flags;
		g = sctl_page_glyph(flags);
		a = glyph_attr(tui, g);
		if (sctl_table_recent(t, va, now_ms))
			a = (a & ~A_DIM) | A_REVERSE | A_BOLD;
		attrset(a);
		addch((chtype)(unsigned char)g);
	}
	attrset(A_NORMAL);
	clrtoeol();
}

static void draw_vma_row(const struct sctl_tui *tui, int y, const struct sctl_row *r,
			 const struct spt_state *st)
{
	const struct spt_vma *v = &st->vmas[r->vma];
	char perms[5], name[512];

	sctl_perms(perms, v->prot, v->shared);
	move(y, 0);
	attrset(A_BOLD | (tui->color ? COLOR_PAIR(PAIR_VMA) : 0));
	printw("%012" PRIx64 "-%012" PRIx64 " %s %-11s %" PRIu64 " pages ", v->start, v->end, perms,
	       sctl_kind_name(v->kind), r->npages);
	/* Names can hold any byte: only printable, valid UTF-8 reaches the terminal. */
	sctl_printable(name, sizeof(name), v->name);
	if (getcurx(stdscr) < COLS - 1)
		addnstr(name, -1);
	attrset(A_NORMAL);
	clrtoeol();
}

static void draw_fold_row(const struct sctl_tui *tui, int y, const struct sctl_row *r)
{
	const char *ell = tui->utf8 ? "\xe2\x80\xa6" : "...";

	move(y, 0);
	attrset(A_DIM | (tui->color ? COLOR_PAIR(PAIR_FOLD) : 0));
	printw("%*s%s %" PRIu64 " pages %s %s", SCTL_LAYOUT_ADDR_WIDTH, "", ell, r->npages,
	       r->kind == SCTL_ROW_RUN ? "like the row above" : "unpopulated", ell);
	attrset(A_NORMAL);
	clrtoeol();
}

void sctl_tui_draw(struct sctl_tui *tui, const struct sctl_tui_header *h,
		   const struct sctl_table *t, bool table_changed, int64_t now_ms)
{
	unsigned cols = sctl_layout_cols(COLS);
	size_t body = body_lines(), i;

	if (cols != tui->cols || table_changed || !tui->layout_valid) {
		/* Keep the first visible address in place across rebuilds. */
		bool anchored = tui->layout_valid && tui->top > 0 && tui->top != SIZE_MAX &&
				tui->top < tui->layout.nrows;
		uint64_t anchor = anchored ? tui->layout.rows[tui->top].vaddr : 0;

		tui->cols = cols;
		if (sctl_layout_build(&tui->layout, &t->st, cols, SCTL_TUI_CONTEXT_ROWS) < 0)
			tui->layout.nrows = 0;
		tui->layout_valid = true;
		if (anchored) {
			size_t j = 0;

			while (j < tui->layout.nrows && tui->layout.rows[j].vaddr < anchor)
				j++;
			tui->top = j;
		}
	}
	if (tui->top > max_top(tui))
		tui->top = max_top(tui);

	erase();
	draw_header(tui, h, t);
	for (i = 0; i < body && tui->top + i < tui->layout.nrows; i++) {
		const struct sctl_row *r = &tui->layout.rows[tui->top + i];
		int y = SCTL_TUI_HEADER_LINES + (int)i;

		switch (r->kind) {
		case SCTL_ROW_VMA:
			draw_vma_row(tui, y, r, &t->st);
			break;
		case SCTL_ROW_PAGES:
			draw_pages_row(tui, y, r, t, now_ms);
			break;
		case SCTL_ROW_FOLD:
		case SCTL_ROW_RUN:
			draw_fold_row(tui, y, r);
			break;
		}
	}
	if (!tui->layout.nrows && t->valid)
		mvaddstr(SCTL_TUI_HEADER_LINES, 0, "(no VMAs in the watched range)");
	refresh();
	tui->need_redraw = false;
}
