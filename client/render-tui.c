/* SPDX-License-Identifier: GPL-2.0-or-later */
/* ncursesw live page map; see render-tui.h. */
#include <inttypes.h>
#include <langinfo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curses.h>

#include "args.h"
#include "cause.h"
#include "format.h"
#include "render-text.h"
#include "render-tui.h"
#include "shadowpt-limits.h"
#include "tui-cells.h"
#include "tui-detail.h"
#include "tui-layout.h"
#include "tui-nav.h"

/* Unpopulated rows kept visible around a populated one. */
#define SCTL_TUI_CONTEXT_ROWS 1
#define HEADER_LINES	      3
#define FOOTER_LINES	      1
/* The detail pane: beside the map when the terminal is wide enough, else below. */
#define PANE_WIDTH	40
#define PANE_BESIDE_MIN 104
#define PANE_BELOW	7

static const unsigned zooms[] = {1, 8, 64, 512};
#define NZOOMS (sizeof(zooms) / sizeof(zooms[0]))

enum {
	PAIR_HEADER = 1,
	PAIR_ANON,
	PAIR_FILE,
	PAIR_SWAP,
	PAIR_THP,
	PAIR_ZERO,
	PAIR_VMA,
	PAIR_FOLD,
	PAIR_CURSOR,
	PAIR_ALERT,
};

struct sctl_tui {
	SCREEN *screen;
	bool utf8, color;
	struct sctl_keys keys;
	bool need_redraw;

	/* what the last draw showed: keys are resolved against it */
	const struct sctl_table *t;
	int64_t now_ms;
	int visibility;
	struct sctl_layout layout;
	bool rebuild;
	unsigned zoom; /* index into zooms */
	unsigned cols; /* cells per row */
	size_t body;   /* map rows on screen */
	uint64_t *resident; /* per VMA of t: pages mapped */
	size_t nresident;
	struct sctl_frames frames;

	size_t top; /* first layout row shown */
	uint64_t cursor;
	bool cursor_set;
	char note[160]; /* an answer to the last key, shown once */

	bool help;
	bool hex;
	uint64_t hex_vaddr;
	bool hex_ready;
	char *hex_text; /* the hexdump, lines split by '\n' */
	size_t hex_lines, hex_top;
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
	set_escdelay(25); /* Esc closes things: do not wait a second for more */
	curs_set(0);
	if (has_colors() && start_color() == OK) {
		use_default_colors();
		tui->color = true;
		init_pair(PAIR_HEADER, COLOR_BLACK, COLOR_CYAN);
		init_pair(PAIR_ANON, COLOR_GREEN, -1);
		init_pair(PAIR_FILE, COLOR_CYAN, -1);
		init_pair(PAIR_SWAP, COLOR_YELLOW, -1);
		init_pair(PAIR_THP, COLOR_MAGENTA, -1);
		init_pair(PAIR_ZERO, COLOR_BLUE, -1);
		init_pair(PAIR_VMA, COLOR_YELLOW, -1);
		init_pair(PAIR_FOLD, COLOR_BLUE, -1);
		init_pair(PAIR_CURSOR, COLOR_BLACK, COLOR_YELLOW);
		init_pair(PAIR_ALERT, COLOR_WHITE, COLOR_RED);
	}
	sctl_layout_init(&tui->layout);
	sctl_frames_init(&tui->frames);
	tui->need_redraw = tui->rebuild = true;
	return tui;
}

void sctl_tui_close(struct sctl_tui *tui)
{
	if (!tui)
		return;
	endwin();
	delscreen(tui->screen);
	sctl_layout_free(&tui->layout);
	sctl_frames_free(&tui->frames);
	free(tui->resident);
	free(tui->hex_text);
	free(tui);
}

void sctl_tui_set_replay(struct sctl_tui *tui, bool replay)
{
	tui->keys.replay = replay;
}

const char *sctl_tui_prompt_text(const struct sctl_tui *tui)
{
	return tui->keys.text;
}

bool sctl_tui_needs_redraw(const struct sctl_tui *tui)
{
	return tui->need_redraw;
}

static uint64_t cell_pages(const struct sctl_tui *tui)
{
	return zooms[tui->zoom];
}

static struct sctl_nav nav(const struct sctl_tui *tui)
{
	return (struct sctl_nav){&tui->layout, cell_pages(tui), tui->body > 1 ? tui->body - 1 : 1};
}

/* --- the hex view ----------------------------------------------------------- */

uint64_t sctl_tui_hex_vaddr(const struct sctl_tui *tui)
{
	return tui->hex_vaddr;
}

bool sctl_tui_hex_pending(const struct sctl_tui *tui, uint64_t vaddr)
{
	return tui->hex && !tui->hex_ready && tui->hex_vaddr == vaddr;
}

static void hex_set(struct sctl_tui *tui, char *text)
{
	free(tui->hex_text);
	tui->hex_text = text;
	tui->hex_lines = 0;
	tui->hex_top = 0;
	tui->hex_ready = true;
	for (const char *p = text; p && *p; p++)
		tui->hex_lines += *p == '\n';
	tui->need_redraw = true;
}

void sctl_tui_hex_data(struct sctl_tui *tui, uint64_t vaddr, const uint8_t *data, size_t len)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f;

	if (!sctl_tui_hex_pending(tui, vaddr))
		return;
	f = open_memstream(&text, &size);
	if (!f) {
		sctl_tui_hex_error(tui, vaddr, "out of memory");
		return;
	}
	sctl_text_hexdump(f, vaddr, data, len);
	fclose(f);
	hex_set(tui, text);
}

void sctl_tui_hex_error(struct sctl_tui *tui, uint64_t vaddr, const char *why)
{
	char *text;
	size_t n;

	if (!sctl_tui_hex_pending(tui, vaddr))
		return;
	n = strlen(why) + 64;
	text = malloc(n);
	if (text)
		snprintf(text, n, "no bytes to show: %s\n", why);
	hex_set(tui, text);
}

static void hex_open(struct sctl_tui *tui)
{
	tui->hex = true;
	tui->hex_ready = false;
	tui->hex_vaddr = tui->cursor & ~(SPT_PAGE_SIZE - 1);
	free(tui->hex_text);
	tui->hex_text = NULL;
	tui->hex_lines = tui->hex_top = 0;
}

/* Keys while the hex view is open: scrolling, and closing it. */
static void hex_key(struct sctl_tui *tui, enum sctl_key_action a)
{
	size_t page = tui->body > 2 ? tui->body - 2 : 1;
	size_t max = tui->hex_lines > page ? tui->hex_lines - page : 0;

	switch (a) {
	case SCTL_KEY_UP:
		if (tui->hex_top)
			tui->hex_top--;
		break;
	case SCTL_KEY_DOWN:
		tui->hex_top++;
		break;
	case SCTL_KEY_PAGE_UP:
		tui->hex_top = tui->hex_top > page ? tui->hex_top - page : 0;
		break;
	case SCTL_KEY_PAGE_DOWN:
		tui->hex_top += page;
		break;
	case SCTL_KEY_HOME:
		tui->hex_top = 0;
		break;
	case SCTL_KEY_END:
		tui->hex_top = max;
		break;
	case SCTL_KEY_ESCAPE:
	case SCTL_KEY_HEX:
	case SCTL_KEY_QUIT:
		tui->hex = false;
		break;
	default:
		break;
	}
	if (tui->hex_top > max)
		tui->hex_top = max;
}

/* --- keys ----------------------------------------------------------------- */

static void go_to(struct sctl_tui *tui, const char *text)
{
	const struct spt_state *st = tui->t ? &tui->t->st : NULL;
	char hex[48];
	const char *why;
	uint64_t a;

	/* the prompt asks for hex: 0x is optional */
	snprintf(hex, sizeof(hex), "%s%s", strncmp(text, "0x", 2) ? "0x" : "", text);
	if (sctl_parse_addr(hex, &a, &why) < 0) {
		snprintf(tui->note, sizeof(tui->note), "not an address: %s (%s)", text, why);
		return;
	}
	a &= ~(SPT_PAGE_SIZE - 1);
	if (st && !spt_state_find_vma(st, a))
		snprintf(tui->note, sizeof(tui->note),
			 "0x%" PRIx64 " is in no VMA: showing the next one", a);
	tui->cursor = a;
	tui->cursor_set = true;
	tui->rebuild = true;
}

static void next_changed(struct sctl_tui *tui, bool backwards)
{
	uint64_t found;

	if (!tui->t || !sctl_recent_find(&tui->t->recent, tui->cursor, backwards, tui->now_ms,
					 &found)) {
		snprintf(tui->note, sizeof(tui->note), "no page %s changed in the last 2 s",
			 backwards ? "before the cursor" : "after the cursor");
		return;
	}
	tui->cursor = found;
	tui->rebuild = true;
}

static void zoom(struct sctl_tui *tui, int step)
{
	if ((step < 0 && tui->zoom == 0) || (step > 0 && tui->zoom + 1 == NZOOMS))
		return;
	tui->zoom = (unsigned)((int)tui->zoom + step);
	tui->rebuild = true;
}

enum sctl_key_action sctl_tui_handle_keys(struct sctl_tui *tui)
{
	int ch;

	while ((ch = getch()) != ERR) {
		enum sctl_key_action a = sctl_keys_feed(&tui->keys, ch);

		if (a == SCTL_KEY_NONE)
			continue;
		tui->need_redraw = true;
		if (a == SCTL_KEY_RESIZE) {
			tui->rebuild = true;
			continue;
		}
		if (tui->help) {
			/* any key closes the help; the quit key only closes it */
			if (a != SCTL_KEY_PROMPT)
				tui->help = false;
			continue;
		}
		if (tui->hex && a != SCTL_KEY_PAUSE && a != SCTL_KEY_STEP && a != SCTL_KEY_SEEK &&
		    a != SCTL_KEY_FASTER && a != SCTL_KEY_SLOWER && a != SCTL_KEY_PROMPT) {
			hex_key(tui, a);
			continue;
		}
		tui->note[0] = '\0';
		switch (a) {
		case SCTL_KEY_UP:
		case SCTL_KEY_DOWN:
		case SCTL_KEY_LEFT:
		case SCTL_KEY_RIGHT:
		case SCTL_KEY_PAGE_UP:
		case SCTL_KEY_PAGE_DOWN:
		case SCTL_KEY_HOME:
		case SCTL_KEY_END:
		case SCTL_KEY_NEXT_VMA:
		case SCTL_KEY_PREV_VMA: {
			struct sctl_nav n = nav(tui);

			tui->cursor = sctl_nav_move(&n, tui->cursor, a);
			tui->rebuild = true;
			break;
		}
		case SCTL_KEY_NEXT_CHANGED:
		case SCTL_KEY_PREV_CHANGED:
			next_changed(tui, a == SCTL_KEY_PREV_CHANGED);
			break;
		case SCTL_KEY_ZOOM_IN:
			zoom(tui, -1);
			break;
		case SCTL_KEY_ZOOM_OUT:
			zoom(tui, 1);
			break;
		case SCTL_KEY_GOTO:
			go_to(tui, tui->keys.text);
			break;
		case SCTL_KEY_HELP:
			tui->help = true;
			break;
		case SCTL_KEY_HEX:
			hex_open(tui);
			return a; /* the caller fetches the bytes */
		case SCTL_KEY_PROMPT:
		case SCTL_KEY_ESCAPE:
			break;
		default:
			return a; /* quit, pause, step, seek, speed */
		}
	}
	return SCTL_KEY_NONE;
}

/* --- layout ----------------------------------------------------------------- */

static void count_resident(struct sctl_tui *tui, const struct spt_state *st)
{
	uint64_t *r = realloc(tui->resident, (st->nvmas + 1) * sizeof(*r));

	if (!r)
		return;
	tui->resident = r;
	tui->nresident = st->nvmas;
	for (size_t i = 0; i < st->nvmas; i++) {
		struct sctl_cell c;
		const struct spt_vma *v = &st->vmas[i];

		sctl_cell_sum(st, v, v->start, (v->end - v->start) / SPT_PAGE_SIZE, &c);
		r[i] = c.mapped;
	}
}

static void keep_cursor_visible(struct sctl_tui *tui)
{
	size_t ci = sctl_layout_find(&tui->layout, tui->cursor), n = tui->layout.nrows;

	if (ci < n) {
		/* its VMA's heading too, when it is the row above */
		size_t want = ci > 0 && tui->layout.rows[ci - 1].kind == SCTL_ROW_VMA ? ci - 1 : ci;

		if (want < tui->top)
			tui->top = want;
		if (ci >= tui->top + tui->body)
			tui->top = ci - tui->body + 1;
	}
	if (tui->top + tui->body > n)
		tui->top = n > tui->body ? n - tui->body : 0;
}

static void relayout(struct sctl_tui *tui, const struct sctl_table *t, bool table_changed)
{
	uint64_t row_pages = (uint64_t)tui->cols * cell_pages(tui);
	struct sctl_nav n;

	if (table_changed || !tui->resident)
		count_resident(tui, &t->st);
	if (sctl_layout_build(&tui->layout, &t->st, row_pages, SCTL_TUI_CONTEXT_ROWS) < 0)
		tui->layout.nrows = 0;
	n = nav(tui);
	if (!tui->cursor_set && tui->layout.nrows) {
		tui->cursor = sctl_nav_move(&n, 0, SCTL_KEY_HOME);
		tui->cursor_set = true;
	}
	tui->cursor = sctl_nav_clamp(&n, tui->cursor);
	if (sctl_layout_keep(&tui->layout, tui->cursor, row_pages) < 0)
		tui->layout.nrows = 0;
	tui->rebuild = false;
	keep_cursor_visible(tui);
}

/* The frames of the pages on screen and the cursor's, and who maps them. */
static void census(struct sctl_tui *tui, const struct spt_state *st)
{
	struct spt_page p;

	sctl_frames_clear(&tui->frames);
	if (tui->visibility == SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN)
		return;
	if (spt_state_get_page(st, tui->cursor, &p) && (p.flags & SPT_F_MAPPED))
		(void)sctl_frames_add(&tui->frames, p.pfn);
	for (size_t i = 0; cell_pages(tui) == 1 && i < tui->body; i++) {
		const struct sctl_row *r;
		struct spt_run_iter it;
		struct spt_run run;

		if (tui->top + i >= tui->layout.nrows)
			break;
		r = &tui->layout.rows[tui->top + i];
		if (r->kind != SCTL_ROW_PAGES)
			continue;
		spt_run_iter_init(&it, st, r->vaddr, r->vaddr + r->npages * SPT_PAGE_SIZE);
		while (spt_run_iter_next(&it, &run)) {
			if (!(run.flags & SPT_F_MAPPED))
				continue;
			for (uint64_t k = 0; k < (run.stride ? run.npages : 1); k++)
				(void)sctl_frames_add(&tui->frames, run.pfn + k);
		}
	}
	sctl_frames_count(&tui->frames, st);
}

/* --- drawing ---------------------------------------------------------------- */

/* Text at (y, x), cut at the right edge xmax (exclusive); never wraps. */
static void put(int y, int x, int xmax, const char *s)
{
	if (x < xmax)
		mvaddnstr(y, x, s, xmax - x);
}

static attr_t kind_attr(const struct sctl_tui *tui, bool anon)
{
	return tui->color ? COLOR_PAIR(anon ? PAIR_ANON : PAIR_FILE) : A_NORMAL;
}

static attr_t glyph_attr(const struct sctl_tui *tui, char g, const struct sctl_cell *c)
{
	if (!tui->color)
		return strchr("Hs0=#", g) ? A_BOLD : g == '.' ? A_DIM : A_NORMAL;
	switch (g) {
	case 'a':
	case 'f':
		return kind_attr(tui, c->anon);
	case '=':
		return kind_attr(tui, c->anon) | A_BOLD;
	case ':':
	case '#':
		return c->thp ? COLOR_PAIR(PAIR_THP) : kind_attr(tui, c->anon);
	case 's':
		return COLOR_PAIR(PAIR_SWAP) | A_BOLD;
	case 'H':
		return COLOR_PAIR(PAIR_THP) | A_BOLD;
	case '0':
		return COLOR_PAIR(PAIR_ZERO) | A_BOLD;
	default:
		return A_DIM;
	}
}

static attr_t cursor_attr(const struct sctl_tui *tui)
{
	return tui->color ? COLOR_PAIR(PAIR_CURSOR) | A_BOLD : A_REVERSE | A_UNDERLINE | A_BOLD;
}

static void draw_cells(struct sctl_tui *tui, int y, int xmax, const struct sctl_row *r,
		       const struct sctl_table *t)
{
	const struct spt_state *st = &t->st;
	const struct spt_vma *v = &st->vmas[r->vma];
	uint64_t per = cell_pages(tui), cells = (r->npages + per - 1) / per;
	char addr[24];

	snprintf(addr, sizeof(addr), "%012" PRIx64 " ", r->vaddr);
	put(y, 0, xmax, addr);
	for (uint64_t i = 0; i < cells && SCTL_LAYOUT_ADDR_WIDTH + (int)i < xmax; i++) {
		uint64_t va = r->vaddr + i * per * SPT_PAGE_SIZE;
		uint64_t n = r->npages - i * per < per ? r->npages - i * per : per;
		struct sctl_cell c;
		struct spt_page p;
		attr_t a;
		char g;

		sctl_cell_sum(st, v, va, n, &c);
		if (per == 1 && c.mapped && spt_state_get_page(st, va, &p)) {
			uint64_t users = sctl_frames_users(&tui->frames, p.pfn, &c.zero);

			c.shared = users > 1;
		}
		g = sctl_cell_glyph(&c);
		a = glyph_attr(tui, g, &c);
		if (sctl_recent_in(&t->recent, va, va + n * SPT_PAGE_SIZE, tui->now_ms))
			a = (a & ~A_DIM) | A_REVERSE | A_BOLD;
		if (tui->cursor >= va && tui->cursor < va + n * SPT_PAGE_SIZE)
			a = cursor_attr(tui);
		attrset(a);
		mvaddch(y, SCTL_LAYOUT_ADDR_WIDTH + (int)i, (chtype)(unsigned char)(g == ' ' ? ' ' : g));
	}
	attrset(A_NORMAL);
}

static void draw_vma_row(const struct sctl_tui *tui, int y, int xmax, const struct sctl_row *r,
			 const struct spt_state *st)
{
	const struct spt_vma *v = &st->vmas[r->vma];
	char head[160], name[512], perms[5];
	uint64_t resident = r->vma < tui->nresident ? tui->resident[r->vma] : 0;
	int x;

	sctl_perms(perms, v->prot, v->shared);
	snprintf(head, sizeof(head), "%012" PRIx64 "-%012" PRIx64 " %s %-11s %" PRIu64 "/%" PRIu64
				     " resident ",
		 v->start, v->end, perms, sctl_kind_name(v->kind), resident, r->npages);
	attrset(A_BOLD | (tui->color ? COLOR_PAIR(PAIR_VMA) : 0));
	put(y, 0, xmax, head);
	x = (int)strlen(head);
	/* any byte may be in a name: escaped as the text output does, cut to fit */
	if (x < xmax) {
		sctl_name_escape(name, sizeof(name), v->name, (size_t)(xmax - x));
		mvaddstr(y, x, name);
	}
	attrset(A_NORMAL);
}

static void draw_fold_row(const struct sctl_tui *tui, int y, int xmax, const struct sctl_row *r)
{
	const char *ell = tui->utf8 ? "\xe2\x80\xa6" : "...";
	char s[128];

	snprintf(s, sizeof(s), "%*s%s %" PRIu64 " pages %s %s", SCTL_LAYOUT_ADDR_WIDTH, "", ell,
		 r->npages, r->kind == SCTL_ROW_RUN ? "like the row above" : "unpopulated", ell);
	attrset(A_DIM | (tui->color ? COLOR_PAIR(PAIR_FOLD) : 0));
	put(y, 0, xmax, s);
	attrset(A_NORMAL);
}

static void draw_map(struct sctl_tui *tui, const struct sctl_table *t, int xmax)
{
	for (size_t i = 0; i < tui->body && tui->top + i < tui->layout.nrows; i++) {
		const struct sctl_row *r = &tui->layout.rows[tui->top + i];
		int y = HEADER_LINES + (int)i;

		switch (r->kind) {
		case SCTL_ROW_VMA:
			draw_vma_row(tui, y, xmax, r, &t->st);
			break;
		case SCTL_ROW_PAGES:
			draw_cells(tui, y, xmax, r, t);
			break;
		case SCTL_ROW_FOLD:
		case SCTL_ROW_RUN:
			draw_fold_row(tui, y, xmax, r);
			break;
		}
	}
	if (!t->valid)
		put(HEADER_LINES, 0, xmax,
		    t->assembling ? "receiving the snapshot ... (keys work meanwhile; ? help)"
				  : "waiting for the snapshot ...");
	else if (!tui->layout.nrows)
		put(HEADER_LINES, 0, xmax, "(no VMAs in the watched range)");
}

static void draw_detail(struct sctl_tui *tui, const struct sctl_table *t, int y, int x,
			int width, int lines)
{
	struct sctl_detail d;
	struct sctl_detail_in in = {
	    .t = t,
	    .vaddr = tui->cursor,
	    .cell_pages = cell_pages(tui),
	    .visibility = tui->visibility,
	    .now_ms = tui->now_ms,
	    .frames = &tui->frames,
	    .width = (size_t)width,
	};

	if (!t->valid || !tui->layout.nrows || lines <= 0)
		return;
	sctl_detail_build(&d, &in);
	for (size_t i = 0; i < d.n && (int)i < lines; i++)
		put(y + (int)i, x, x + width, d.line[i]);
}

static void draw_hex(const struct sctl_tui *tui, int xmax)
{
	char title[128];
	const char *p = tui->hex_text;
	size_t line = 0;
	int y = HEADER_LINES + 1;

	snprintf(title, sizeof(title), "page %012" PRIx64 " through peek  %s", tui->hex_vaddr,
		 tui->hex_ready ? "(up/down scroll, Esc or x closes)" : "reading ...");
	attrset(A_BOLD);
	put(HEADER_LINES, 0, xmax, title);
	attrset(A_NORMAL);
	while (p && *p && y < LINES - FOOTER_LINES) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (line++ >= tui->hex_top) {
			mvaddnstr(y, 0, p, (int)n < xmax ? (int)n : xmax);
			y++;
		}
		p += n + (nl ? 1 : 0);
	}
}

static void draw_help(const struct sctl_tui *tui, int xmax)
{
	int y = HEADER_LINES;
	char s[160];

	attrset(A_BOLD);
	put(y++, 0, xmax, "Keys (any key closes this help)");
	attrset(A_NORMAL);
	for (const struct sctl_key_help *k = sctl_key_help; k->keys && y < LINES - 4; k++) {
		if (k->replay_only && !tui->keys.replay)
			continue;
		snprintf(s, sizeof(s), "  %-20s %s", k->keys, k->what);
		put(y++, 0, xmax, s);
	}
	y++;
	for (unsigned z = 0; z < 2 && y < LINES - 2; z++) {
		const struct sctl_glyph_help *g = sctl_glyph_legend(z ? 8 : 1);
		int x;

		snprintf(s, sizeof(s), "%s", z ? "Cells of several pages: " : "Cells of one page: ");
		put(y, 0, xmax, s);
		x = (int)strlen(s);
		for (; g->glyph && x < xmax; g++) {
			snprintf(s, sizeof(s), "%c %s  ", g->glyph, g->what);
			put(y, x, xmax, s);
			x += (int)strlen(s);
		}
		y++;
	}
	put(y, 0, xmax, "Highlighted: changed in the last 2 s. The cursor is the cell in colour.");
}

static void put_counter(const char *name, uint64_t v)
{
	printw("%s ", name);
	attron(A_BOLD);
	printw("%" PRIu64, v);
	attroff(A_BOLD);
	addstr("  ");
}

static void draw_header(struct sctl_tui *tui, const struct sctl_tui_header *h,
			const struct sctl_table *t)
{
	const Shadowpt__WatchStarted *ws = h->ws;
	struct sctl_table_stats s;
	char text[512], esc[256];
	int n;

	sctl_table_stats(&t->st, &s);
	attrset(A_BOLD | (tui->color ? COLOR_PAIR(PAIR_HEADER) : A_REVERSE));
	n = snprintf(text, sizeof(text), " shadowctl  pid %" PRId32, h->pid);
	if (ws && ws->comm) {
		sctl_name_escape(esc, sizeof(esc), ws->comm, 32);
		n += snprintf(text + n, sizeof(text) - (size_t)n, " (%s)", esc);
	}
	/* Most useful first: a long backend reason may be cut at the edge. */
	if (t->valid)
		n += snprintf(text + n, sizeof(text) - (size_t)n, "  seq %" PRIu64, t->seq);
	if (ws) {
		const char *mode = sctl_mode_name(ws->has_mode ? (int)ws->mode : 0);

		n += snprintf(text + n, sizeof(text) - (size_t)n, "  pfn %s  backend %s",
			      sctl_visibility_name(tui->visibility),
			      spt_backend_name((int)ws->backend));
		if (mode)
			n += snprintf(text + n, sizeof(text) - (size_t)n, "  %s", mode);
		if (ws->range && !(ws->range->start == 0 && ws->range->end >= SPT_USER_ADDR_MAX))
			n += snprintf(text + n, sizeof(text) - (size_t)n,
				      "  range %" PRIx64 "-%" PRIx64, ws->range->start,
				      ws->range->end);
	}
	mvhline(0, 0, ' ', COLS);
	put(0, 0, COLS, text);
	attrset(A_NORMAL);

	move(1, 0);
	put_counter("VMAs", s.vmas);
	put_counter("allocated", s.allocated);
	put_counter("mapped", s.mapped);
	if (s.swapped)
		put_counter("swapped", s.swapped);
	printw("deltas/s %.1f  zoom %u page%s/cell", h->deltas_per_sec, zooms[tui->zoom],
	       tui->zoom ? "s" : "");
	if (t->resyncs)
		printw("  resyncs %" PRIu64, t->resyncs);
	if (h->watch_state == SHADOWPT__WATCH_STATE__WATCH_STATE_STALLED ||
	    h->watch_state == SHADOWPT__WATCH_STATE__WATCH_STATE_FAILING) {
		addstr("  ");
		attrset(A_BOLD | (tui->color ? COLOR_PAIR(PAIR_ALERT) : A_REVERSE));
		printw(" %s: %s ", sctl_watch_state_name(h->watch_state),
		       h->watch_message && *h->watch_message ? h->watch_message : "");
		attrset(A_NORMAL);
	}

	move(2, 0);
	if (sctl_keys_prompt_label(&tui->keys)) {
		attron(A_BOLD);
		printw("%s%s", sctl_keys_prompt_label(&tui->keys), tui->keys.text);
		attroff(A_BOLD);
		return;
	}
	attron(A_BOLD);
	if (tui->note[0])
		printw("%s  ", tui->note);
	if (h->paused)
		printw("PAUSED (%" PRIu64 " deltas since; p resumes)  ", h->behind);
	if (h->message)
		printw("%s  ", h->message);
	if (h->status)
		printw("%s  ", h->status);
	attroff(A_BOLD);
	if (t->deltas) {
		const struct sctl_delta_info *in = &t->delta_info;

		printw("last delta: seq %" PRIu64, in->seq);
		if (in->cause)
			printw(" %s", spt_cause_name(in->cause));
		if (in->cause_vaddr)
			printw(" at %" PRIx64, in->cause_vaddr);
		if (in->cause_tid > 0)
			printw(" tid %" PRId32, in->cause_tid);
		if (in->events > 1)
			printw(" (%" PRIu32 " events)", in->events);
	}
}

static void draw_legend(const struct sctl_tui *tui)
{
	const struct sctl_glyph_help *g = sctl_glyph_legend(zooms[tui->zoom]);
	struct sctl_cell c = {.pages = zooms[tui->zoom], .anon = true};
	char s[64];
	int y = LINES - 1;

	move(y, 0);
	for (; g->glyph; g++) {
		attrset(glyph_attr(tui, g->glyph, &c));
		addch((chtype)(unsigned char)g->glyph);
		attrset(A_NORMAL);
		snprintf(s, sizeof(s), " %s  ", g->what);
		addnstr(s, COLS - getcurx(stdscr) - 1 > 0 ? COLS - getcurx(stdscr) - 1 : 0);
	}
	attrset(A_REVERSE | A_BOLD);
	addnstr("x", COLS - getcurx(stdscr) - 1 > 0 ? 1 : 0);
	attrset(A_NORMAL);
	addnstr(" changed  ", COLS - getcurx(stdscr) - 1 > 0 ? COLS - getcurx(stdscr) - 1 : 0);
	attrset(cursor_attr(tui));
	addnstr("x", COLS - getcurx(stdscr) - 1 > 0 ? 1 : 0);
	attrset(A_NORMAL);
	addnstr(" cursor  ? help  q quit",
		COLS - getcurx(stdscr) - 1 > 0 ? COLS - getcurx(stdscr) - 1 : 0);
}

void sctl_tui_draw(struct sctl_tui *tui, const struct sctl_tui_header *h,
		   const struct sctl_table *t, bool table_changed, int64_t now_ms)
{
	bool beside = COLS >= PANE_BESIDE_MIN;
	int map_w = beside ? COLS - PANE_WIDTH - 1 : COLS;
	int below = beside ? 0 : PANE_BELOW;
	int body = LINES - HEADER_LINES - FOOTER_LINES - below;
	unsigned cols = sctl_layout_cols(map_w);

	tui->visibility = h->ws && h->ws->has_pfn_visibility
			      ? (int)h->ws->pfn_visibility
			      : SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN;
	if (t != tui->t)
		table_changed = true;
	tui->t = t;
	tui->now_ms = now_ms;
	tui->body = body > 0 ? (size_t)body : 0;
	if (cols != tui->cols || table_changed)
		tui->rebuild = true;
	tui->cols = cols;
	if (tui->rebuild && t->valid)
		relayout(tui, t, table_changed);
	if (t->valid)
		census(tui, &t->st);

	erase();
	draw_header(tui, h, t);
	if (tui->help) {
		draw_help(tui, COLS);
	} else if (tui->hex) {
		draw_hex(tui, COLS);
	} else {
		draw_map(tui, t, map_w);
		if (beside)
			draw_detail(tui, t, HEADER_LINES, map_w + 1, PANE_WIDTH, body);
		else
			draw_detail(tui, t, HEADER_LINES + body, 0, COLS, below);
	}
	draw_legend(tui);
	refresh();
	tui->need_redraw = false;
}
