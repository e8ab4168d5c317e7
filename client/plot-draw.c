/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The plot's drawing, one code for SVG, PNG and PDF; see plot-draw.h. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "plot-draw.h"
#include "plot-scale.h"
#include "shadowpt-limits.h"

#define FONT	  "DejaVu Sans"
#define FONT_MONO "DejaVu Sans Mono"

/* Geometry, in pixels. */
#define W	      1280.0
#define MARGIN_L      228.0
#define MARGIN_R      36.0
#define TITLE_H	      86.0
#define PANEL_GAP     62.0 /* between panels: axis labels, then the next title */
#define BAND_GAP      7.0
#define RES_H	      190.0
#define LIFE_ROW      13.0
#define LIFE_MAX_ROWS 48u
#define BOTTOM	      40.0

/* Colours: slate text, paper background, quiet grid. */
struct rgb {
	double r, g, b;
};
#define RGB(hex) {((hex) >> 16 & 255) / 255.0, ((hex) >> 8 & 255) / 255.0, ((hex)&255) / 255.0}

static const struct rgb c_text = RGB(0x1f2933), c_muted = RGB(0x616e7c),
			c_grid = RGB(0xd9dee5), c_paper = RGB(0xffffff),
			c_outside = RGB(0xf7f8fa), c_allocated = RGB(0xe4e9f0),
			c_mapped = RGB(0x8796aa);

/* The heat map's event classes, in enum plot_event order. */
static const struct rgb c_event[PLOT_EV_COUNT] = {
    RGB(0x1f77d0), /* read fault: blue */
    RGB(0x22a05a), /* write fault: green */
    RGB(0x13b5c4), /* mapped: cyan */
    RGB(0xff8c1a), /* new frame: orange */
    RGB(0xd62728), /* unmapped: red */
    RGB(0xd44fb6), /* zapped: magenta */
};
static const char *const event_names[PLOT_EV_COUNT] = {
    "mapped by a read fault", "mapped by a write fault", "mapped",
    "new frame (COW)",	      "unmapped",		 "zapped (madvise, reclaim)",
};

/* VMA kinds (state.h numbering). */
static const struct rgb c_kind[PLOT_KINDS] = {
    RGB(0x9aa5b1), RGB(0x4e79a7), RGB(0xb07aa1), RGB(0xe6a23c), RGB(0x9aa5b1),
};
static const char *const kind_names[PLOT_KINDS] = {
    "other", "anonymous", "shared anonymous", "file", "special",
};

static void set(cairo_t *cr, struct rgb c)
{
	cairo_set_source_rgb(cr, c.r, c.g, c.b);
}

static void set_a(cairo_t *cr, struct rgb c, double a)
{
	cairo_set_source_rgba(cr, c.r, c.g, c.b, a);
}

static void font(cairo_t *cr, const char *face, double size, bool bold)
{
	cairo_select_font_face(cr, face, CAIRO_FONT_SLANT_NORMAL,
			       bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
	cairo_set_font_size(cr, size);
}

/* Text with its left (align 0), centre (0.5) or right (1) at x, baseline y. */
static double text(cairo_t *cr, double x, double y, double align, const char *s)
{
	cairo_text_extents_t e;

	cairo_text_extents(cr, s, &e);
	cairo_move_to(cr, x - align * e.x_advance, y);
	cairo_show_text(cr, s);
	return e.x_advance;
}

/* Cuts s (UTF-8) at whole characters until it fits in width, with an ellipsis. */
static void fit(cairo_t *cr, char *s, double width)
{
	cairo_text_extents_t e;
	size_t n = strlen(s);

	cairo_text_extents(cr, s, &e);
	while (n > 1 && e.x_advance > width) {
		do
			n--;
		while (n > 1 && ((unsigned char)s[n] & 0xc0) == 0x80);
		memcpy(s + n, "\xe2\x80\xa6", 4);
		cairo_text_extents(cr, s, &e);
	}
}

int plot_fonts_load(void)
{
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 8, 8);
	cairo_t *cr = cairo_create(s);
	cairo_status_t st;

	/* Every face and weight the drawing uses, so fontconfig reads them now. */
	font(cr, FONT, 12, false);
	text(cr, 0, 0, 0, "0x");
	font(cr, FONT, 12, true);
	text(cr, 0, 0, 0, "0x");
	font(cr, FONT_MONO, 12, false);
	text(cr, 0, 0, 0, "0x");
	st = cairo_status(cr);
	cairo_destroy(cr);
	cairo_surface_destroy(s);
	return st == CAIRO_STATUS_SUCCESS ? 0 : -1;
}

/* --- layout ------------------------------------------------------------- */

double plot_x_of(const struct plot_layout *l, const struct plot_model *m, double t_ns)
{
	double d = m->duration_ns ? (double)m->duration_ns : 1;

	return l->x0 + (l->x1 - l->x0) * t_ns / d;
}

double plot_y_of(const struct plot_band *b, const struct plot_region *r, double addr)
{
	double f = (addr - (double)r->start) / (double)(r->end - r->start);

	return b->y1 - f * (b->y1 - b->y0);
}

/* Which VMA lives to show: those that came or went first, then by address. */
static int pick_lives(struct plot_layout *l, const struct plot_model *m)
{
	size_t n = 0;

	l->life = calloc(m->nvmas + 1, sizeof(*l->life));
	if (!l->life)
		return -1;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < m->nvmas && n < LIFE_MAX_ROWS; i++) {
			const struct plot_vma_life *v = &m->vmas[i];
			bool changed = !v->at_start || v->died_ns != UINT64_MAX;

			if (changed == (pass == 0))
				l->life[n++] = i;
		}
	l->nlife = n;
	l->life_hidden = m->nvmas - n;
	/* Top to bottom by falling address, like the heat map. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && m->vmas[l->life[j]].start > m->vmas[l->life[j - 1]].start;
		     j--) {
			size_t t = l->life[j];

			l->life[j] = l->life[j - 1];
			l->life[j - 1] = t;
		}
	return 0;
}

int plot_layout(struct plot_layout *l, const struct plot_model *m)
{
	double y = TITLE_H + 34;

	memset(l, 0, sizeof(*l));
	l->width = W;
	l->x0 = MARGIN_L;
	l->x1 = W - MARGIN_R;
	l->bands = calloc(m->nregions + 1, sizeof(*l->bands));
	if (!l->bands)
		return -1;
	l->heat_y0 = y;
	/* High addresses on top, as memory is drawn in textbooks. */
	for (size_t i = m->nregions; i-- > 0;) {
		const struct plot_region *r = &m->regions[i];
		struct plot_band *b;

		if (!r->rows)
			continue;
		b = &l->bands[l->nbands++];
		b->region = i;
		b->y0 = y;
		b->y1 = y + r->height;
		y = b->y1 + BAND_GAP;
	}
	l->heat_y1 = y - BAND_GAP;
	l->res_y0 = l->heat_y1 + PANEL_GAP + 24;
	l->res_y1 = l->res_y0 + RES_H;
	if (pick_lives(l, m) < 0)
		return -1;
	l->life_row = LIFE_ROW;
	l->life_y0 = l->res_y1 + PANEL_GAP + 24;
	l->life_y1 = l->life_y0 + (l->nlife ? l->nlife : 1) * LIFE_ROW;
	l->height = l->life_y1 + BOTTOM + (l->life_hidden ? 14 : 0);
	return 0;
}

void plot_layout_free(struct plot_layout *l)
{
	free(l->bands);
	free(l->life);
	memset(l, 0, sizeof(*l));
}

/* --- pieces --------------------------------------------------------------- */

static void panel_title(cairo_t *cr, double y, const char *title, const char *note)
{
	double w;

	set(cr, c_text);
	font(cr, FONT, 15, true);
	w = text(cr, MARGIN_L, y, 0, title);
	if (note) {
		set(cr, c_muted);
		font(cr, FONT, 11.5, false);
		text(cr, MARGIN_L + w + 12, y, 0, note);
	}
}

/* Vertical time grid lines over [y0, y1], and second labels below when asked. */
static void time_axis(cairo_t *cr, const struct plot_layout *l, const struct plot_model *m,
		      double y0, double y1, bool labels)
{
	double dur = (double)m->duration_ns / 1e9, step = plot_nice_step(dur, 10);
	char s[32];

	cairo_set_line_width(cr, 1);
	for (double t = 0; t <= dur + step * 1e-6; t += step) {
		double x = round(plot_x_of(l, m, t * 1e9)) + 0.5;

		set(cr, c_grid);
		cairo_move_to(cr, x, y0);
		cairo_line_to(cr, x, y1 + (labels ? 5 : 0));
		cairo_stroke(cr);
		if (labels) {
			set(cr, c_muted);
			font(cr, FONT, 11, false);
			plot_seconds_label(s, sizeof(s), t, step);
			text(cr, x, y1 + 18, 0.5, s);
		}
	}
	if (labels) {
		set(cr, c_muted);
		font(cr, FONT, 11, false);
		text(cr, l->x1, y1 + 34, 1, "time since the recording started (s)");
	}
}

static void title(cairo_t *cr, const struct plot_model *m)
{
	char line[256], when[64] = "";
	time_t secs = (time_t)(m->start_realtime_ns / 1000000000u);
	struct tm tm;

	if (m->start_realtime_ns && gmtime_r(&secs, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	set(cr, c_text);
	font(cr, FONT, 21, true);
	snprintf(line, sizeof(line), "pid %" PRId32 " (%s)", m->pid, m->comm);
	text(cr, 28, 40, 0, line);
	set(cr, c_muted);
	font(cr, FONT, 12.5, false);
	snprintf(line, sizeof(line),
		 "%.1f s recorded%s%s%s  \xc2\xb7  %" PRIu64 " deltas  \xc2\xb7  %s backend, "
		 "pfn %s%s",
		 (double)m->duration_ns / 1e9, m->host[0] ? " on " : "", m->host,
		 when[0] ? "" : "", m->deltas, m->backend, m->visibility,
		 m->damaged ? "  \xc2\xb7  DAMAGED: drawn up to the damage" : "");
	text(cr, 28, 62, 0, line);
	if (when[0])
		text(cr, W - MARGIN_R, 40, 1, when);
}

/* One legend entry: a swatch and its name; returns the x after it. */
static double legend_item(cairo_t *cr, double x, double y, struct rgb c, double alpha,
			  const char *name)
{
	set_a(cr, c, alpha);
	cairo_rectangle(cr, x, y - 9, 12, 12);
	cairo_fill_preserve(cr);
	set_a(cr, c_muted, 0.5);
	cairo_set_line_width(cr, 0.8);
	cairo_stroke(cr);
	set(cr, c_text);
	font(cr, FONT, 11.5, false);
	return x + 18 + text(cr, x + 18, y + 1, 0, name) + 18;
}

/* The colour of a heat map cell: state underneath, the strongest event on top. */
static void cell_colour(const struct plot_region *r, size_t cell, uint32_t peak, struct rgb *out)
{
	double a = r->allocated[cell], mp = r->mapped[cell];
	struct rgb c = c_outside;
	uint32_t best = 0;
	int ev = -1;

	if (a > 0) {
		c.r = c_outside.r + (c_allocated.r - c_outside.r) * a;
		c.g = c_outside.g + (c_allocated.g - c_outside.g) * a;
		c.b = c_outside.b + (c_allocated.b - c_outside.b) * a;
	}
	if (mp > 0) {
		double f = 0.25 + 0.75 * mp;

		c.r += (c_mapped.r - c.r) * f;
		c.g += (c_mapped.g - c.g) * f;
		c.b += (c_mapped.b - c.b) * f;
	}
	for (int e = 0; e < PLOT_EV_COUNT; e++)
		if (r->events[e][cell] > best) {
			best = r->events[e][cell];
			ev = e;
		}
	if (ev >= 0) {
		/* log scale: one page already shows, the busiest cell is solid */
		double k = 0.55 + 0.45 * log1p(best) / log1p(peak ? peak : 1);

		c.r += (c_event[ev].r - c.r) * k;
		c.g += (c_event[ev].g - c.g) * k;
		c.b += (c_event[ev].b - c.b) * k;
	}
	*out = c;
}

static uint32_t peak_events(const struct plot_model *m)
{
	uint32_t peak = 0;

	for (size_t i = 0; i < m->nregions; i++) {
		const struct plot_region *r = &m->regions[i];
		size_t cells = (size_t)r->rows * m->ncols;

		for (int e = 0; e < PLOT_EV_COUNT; e++)
			for (size_t c = 0; c < cells; c++)
				if (r->events[e][c] > peak)
					peak = r->events[e][c];
	}
	return peak;
}

static void band_label(cairo_t *cr, const struct plot_band *b, const struct plot_region *r)
{
	char s[96], size[32];
	double mid = (b->y0 + b->y1) / 2;

	snprintf(s, sizeof(s), "%s", r->label);
	set(cr, c_text);
	font(cr, FONT, 11.5, true);
	fit(cr, s, MARGIN_L - 48);
	text(cr, MARGIN_L - 12, mid - 2, 1, s);
	set(cr, c_muted);
	font(cr, FONT_MONO, 10, false);
	plot_size_label(size, sizeof(size), r->end - r->start);
	snprintf(s, sizeof(s), "%" PRIx64 " %s", r->start, size);
	text(cr, MARGIN_L - 12, mid + 11, 1, s);
}

static bool same_rgb(struct rgb a, struct rgb b)
{
	return a.r == b.r && a.g == b.g && a.b == b.b;
}

/*
 * One row of a band: runs of cells of one colour as one rectangle, edges
 * on whole pixels (no seams in the PNG, few elements in the SVG).
 */
static void heat_row(cairo_t *cr, const struct plot_model *m, const struct plot_layout *l,
		     const struct plot_region *r, unsigned row, double y0, double y1, uint32_t peak)
{
	double colw = (l->x1 - l->x0) / (m->ncols ? m->ncols : 1);
	unsigned c = 0;

	while (c < m->ncols) {
		struct rgb colour, next;
		unsigned end = c + 1;
		double xa, xb;

		cell_colour(r, (size_t)row * m->ncols + c, peak, &colour);
		while (end < m->ncols) {
			cell_colour(r, (size_t)row * m->ncols + end, peak, &next);
			if (!same_rgb(next, colour))
				break;
			end++;
		}
		xa = round(l->x0 + c * colw);
		xb = round(l->x0 + end * colw);
		set(cr, colour);
		cairo_rectangle(cr, xa, y0, xb - xa, y1 - y0);
		cairo_fill(cr);
		c = end;
	}
}

static void heat_map(cairo_t *cr, const struct plot_model *m, const struct plot_layout *l)
{
	uint32_t peak = peak_events(m);
	char note[128];

	snprintf(note, sizeof(note), "%s",
		 m->causes ? "faults by cause" : "this daemon sent no causes");
	panel_title(cr, l->heat_y0 - 34, "Pages mapped and unmapped, by address and time", note);
	for (size_t i = 0; i < l->nbands; i++) {
		const struct plot_band *b = &l->bands[i];
		const struct plot_region *r = &m->regions[b->region];
		double rowh = (b->y1 - b->y0) / r->rows;

		for (unsigned row = 0; row < r->rows; row++)
			heat_row(cr, m, l, r, row, round(b->y1 - (row + 1) * rowh),
				 round(b->y1 - row * rowh), peak);
		set(cr, c_grid);
		cairo_set_line_width(cr, 1);
		cairo_rectangle(cr, l->x0 - 0.5, b->y0 - 0.5, l->x1 - l->x0 + 1, b->y1 - b->y0 + 1);
		cairo_stroke(cr);
		band_label(cr, b, r);
	}
	set(cr, c_muted);
	font(cr, FONT, 11, false);
	cairo_save(cr);
	cairo_translate(cr, 18, (l->heat_y0 + l->heat_y1) / 2);
	cairo_rotate(cr, -M_PI / 2);
	text(cr, 0, 0, 0.5, "virtual address (hex), higher on top");
	cairo_restore(cr);
	time_axis(cr, l, m, l->heat_y1 + 2, l->heat_y1 + 2, true);
}

static void resident_chart(cairo_t *cr, const struct plot_model *m, const struct plot_layout *l)
{
	double top = (double)(m->peak_resident ? m->peak_resident : 1);
	double step = fmax(1, plot_nice_step(top, 4)), h = l->res_y1 - l->res_y0;
	double colw = (l->x1 - l->x0) / (m->ncols ? m->ncols : 1);
	double *base = calloc(m->ncols + 1, sizeof(double));
	char s[32];

	panel_title(cr, l->res_y0 - 34, "Resident pages by VMA kind", "stacked; 1 page = 4 KiB");
	if (!base)
		return;
	top = ceil(top / step) * step;
	time_axis(cr, l, m, l->res_y0, l->res_y1, true);
	/* value grid and labels */
	font(cr, FONT, 11, false);
	for (double v = 0; v <= top + step * 1e-6; v += step) {
		double y = round(l->res_y1 - v / top * h) + 0.5;

		set(cr, c_grid);
		cairo_move_to(cr, l->x0, y);
		cairo_line_to(cr, l->x1, y);
		cairo_stroke(cr);
		set(cr, c_muted);
		plot_count_label(s, sizeof(s), v);
		text(cr, l->x0 - 8, y + 4, 1, s);
	}
	set(cr, c_muted);
	cairo_save(cr);
	cairo_translate(cr, l->x0 - 58, (l->res_y0 + l->res_y1) / 2);
	cairo_rotate(cr, -M_PI / 2);
	text(cr, 0, 0, 0.5, "resident pages");
	cairo_restore(cr);
	/* one stacked area per kind */
	for (int k = 1; k < PLOT_KINDS; k++) {
		bool any = false;

		for (unsigned c = 0; c < m->ncols && !any; c++)
			any = m->resident[k][c] != 0;
		if (!any)
			continue;
		cairo_move_to(cr, l->x0, l->res_y1 - base[0] / top * h);
		for (unsigned c = 0; c < m->ncols; c++) {
			double y = l->res_y1 - (base[c] + (double)m->resident[k][c]) / top * h;

			cairo_line_to(cr, l->x0 + c * colw, y);
			cairo_line_to(cr, l->x0 + (c + 1) * colw, y);
		}
		for (unsigned c = m->ncols; c-- > 0;) {
			double y = l->res_y1 - base[c] / top * h;

			cairo_line_to(cr, l->x0 + (c + 1) * colw, y);
			cairo_line_to(cr, l->x0 + c * colw, y);
		}
		cairo_close_path(cr);
		set_a(cr, c_kind[k], 0.85);
		cairo_fill(cr);
		for (unsigned c = 0; c < m->ncols; c++)
			base[c] += (double)m->resident[k][c];
	}
	free(base);
	set(cr, c_muted);
	cairo_set_line_width(cr, 1);
	cairo_move_to(cr, l->x0, l->res_y1 + 0.5);
	cairo_line_to(cr, l->x1, l->res_y1 + 0.5);
	cairo_stroke(cr);
}

static void lives(cairo_t *cr, const struct plot_model *m, const struct plot_layout *l)
{
	char s[128], note[64];

	snprintf(note, sizeof(note), "%zu VMAs; \xe2\x97\x8f appeared, \xc3\x97 went", m->nvmas);
	panel_title(cr, l->life_y0 - 34, "VMAs appearing and disappearing", note);
	time_axis(cr, l, m, l->life_y0 - 4, l->life_y1 + 2, true);
	for (size_t i = 0; i < l->nlife; i++) {
		const struct plot_vma_life *v = &m->vmas[l->life[i]];
		double y = l->life_y0 + i * l->life_row, mid = y + l->life_row / 2;
		double xa = plot_x_of(l, m, (double)v->born_ns);
		double xb = plot_x_of(l, m, v->died_ns == UINT64_MAX ? (double)m->duration_ns
								       : (double)v->died_ns);
		struct rgb c = c_kind[v->kind > 0 && v->kind < PLOT_KINDS ? v->kind : 0];

		if (xb < xa + 2)
			xb = xa + 2;
		set_a(cr, c, 0.85);
		cairo_rectangle(cr, xa, y + 2.5, xb - xa, l->life_row - 5);
		cairo_fill(cr);
		if (!v->at_start) {
			set(cr, c_text);
			cairo_arc(cr, xa, mid, 3.2, 0, 2 * M_PI);
			cairo_fill(cr);
		}
		if (v->died_ns != UINT64_MAX) {
			set(cr, c_event[PLOT_EV_UNMAPPED]);
			cairo_set_line_width(cr, 1.6);
			cairo_move_to(cr, xb - 3, mid - 3);
			cairo_line_to(cr, xb + 3, mid + 3);
			cairo_move_to(cr, xb - 3, mid + 3);
			cairo_line_to(cr, xb + 3, mid - 3);
			cairo_stroke(cr);
		}
		set(cr, c_muted);
		font(cr, FONT_MONO, 9.5, false);
		snprintf(s, sizeof(s), "%" PRIx64 " %s", v->start, v->name[0] ? v->name : "anon");
		fit(cr, s, MARGIN_L - 24);
		text(cr, MARGIN_L - 12, mid + 3.5, 1, s);
	}
	if (l->life_hidden) {
		set(cr, c_muted);
		font(cr, FONT, 11, false);
		snprintf(s, sizeof(s), "+ %zu more VMAs present throughout, not shown",
			 l->life_hidden);
		text(cr, l->x0, l->life_y1 + 44, 0, s);
	}
}

static void legend(cairo_t *cr, const struct plot_model *m, const struct plot_layout *l)
{
	double x = MARGIN_L, y = l->heat_y0 - 12;

	x = legend_item(cr, x, y, c_allocated, 1, "allocated");
	x = legend_item(cr, x, y, c_mapped, 1, "resident");
	for (int e = 0; e < PLOT_EV_COUNT; e++)
		if (m->event_totals[e])
			x = legend_item(cr, x, y, c_event[e], 1, event_names[e]);
	x = MARGIN_L;
	y = l->res_y0 - 12;
	for (int k = 1; k < PLOT_KINDS; k++) {
		bool any = false;

		for (unsigned c = 0; c < m->ncols && !any; c++)
			any = m->resident[k][c] != 0;
		if (any)
			x = legend_item(cr, x, y, c_kind[k], 0.85, kind_names[k]);
	}
	(void)x;
}

void plot_draw(cairo_t *cr, const struct plot_model *m, const struct plot_layout *l)
{
	set(cr, c_paper);
	cairo_paint(cr);
	title(cr, m);
	heat_map(cr, m, l);
	resident_chart(cr, m, l);
	lives(cr, m, l);
	legend(cr, m, l);
}
