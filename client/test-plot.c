/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the plot: axis steps and labels (plot-scale.c), the
 * model's rows and lookups (plot-model.c), and a drawing of a made-up
 * model (plot-draw.c) whose pixels are where the layout says.
 */
#include <math.h>
#include <string.h>

#include <fontconfig/fontconfig.h>

#include "plot-draw.h"
#include "plot-scale.h"
#include "test-common.h"

static void test_scale(void)
{
	char s[32];

	CHECK(plot_nice_step(10, 10) == 1, "10 s in 10 ticks: 1");
	CHECK(plot_nice_step(3, 10) == 0.5, "3 s: 0.5 (got %g)", plot_nice_step(3, 10));
	CHECK(plot_nice_step(700, 4) == 200, "700 in 4: 200 (got %g)", plot_nice_step(700, 4));
	CHECK(plot_nice_step(0, 4) == 1, "an empty range still steps");
	plot_seconds_label(s, sizeof(s), 2.5, 0.5);
	CHECK(!strcmp(s, "2.5"), "2.5 s at step 0.5: %s", s);
	plot_seconds_label(s, sizeof(s), 4, 2);
	CHECK(!strcmp(s, "4"), "4 s at step 2: %s", s);
	plot_seconds_label(s, sizeof(s), 0.04, 0.02);
	CHECK(!strcmp(s, "0.04"), "0.04 s at step 0.02: %s", s);
	plot_count_label(s, sizeof(s), 25000);
	CHECK(!strcmp(s, "25k"), "25000: %s", s);
	plot_count_label(s, sizeof(s), 1500000);
	CHECK(!strcmp(s, "1.5M"), "1.5M: %s", s);
	plot_size_label(s, sizeof(s), 135168);
	CHECK(!strcmp(s, "132 KiB"), "132 KiB: %s", s);
	plot_size_label(s, sizeof(s), 16ull << 30);
	CHECK(!strcmp(s, "16 GiB"), "16 GiB: %s", s);
	plot_size_label(s, sizeof(s), 1572864);
	CHECK(!strcmp(s, "1.5 MiB"), "1.5 MiB: %s", s);
}

/* Two regions: a 64-page one where pages 0-31 were written at column 10. */
static void make_model(struct plot_model *m)
{
	plot_model_init(m);
	m->pid = 42;
	strcpy(m->comm, "target");
	m->duration_ns = 10000000000ull;
	m->ncols = 100;
	m->nregions = 2;
	m->regions = calloc(2, sizeof(*m->regions));
	m->regions[0] = (struct plot_region){.start = 0x10000, .end = 0x50000, .active = true};
	strcpy(m->regions[0].label, "anon");
	m->regions[1] = (struct plot_region){.start = 0x7f0000000000, .end = 0x7f0000200000};
	strcpy(m->regions[1].label, "libc.so.6");
}

static void test_model(void)
{
	struct plot_model m;

	make_model(&m);
	CHECK(plot_model_layout(&m, 400, 30, true) == 0, "layout");
	CHECK(m.regions[0].rows == 64 && m.regions[0].pages_per_row == 1 &&
		  m.regions[0].height >= 30,
	      "64 pages: 64 rows of one page (%u rows, %u px)", m.regions[0].rows,
	      m.regions[0].height);
	CHECK(m.regions[1].rows == 0, "a quiet region gets no rows when only active ones show");
	CHECK(plot_model_layout(&m, 400, 30, false) == 0 && m.regions[1].rows > 0 &&
		  m.regions[1].rows <= m.regions[1].height,
	      "with every region: rows up to its height (%u)", m.regions[1].rows);
	CHECK(plot_model_region(&m, 0x10000) == &m.regions[0], "lookup, first page");
	CHECK(plot_model_region(&m, 0x4f000) == &m.regions[0], "lookup, last page");
	CHECK(plot_model_region(&m, 0x50000) == NULL, "lookup, just after");
	CHECK(plot_model_region(&m, 0x7f0000100000) == &m.regions[1], "lookup, second region");
	CHECK(plot_region_row(&m.regions[0], 0x10000 + 63 * 4096) == 63, "row of the last page");
	CHECK(plot_model_col(&m, 0) == 0 && plot_model_col(&m, 9999999999ull) == 99 &&
		  plot_model_col(&m, 20000000000ull) == 99,
	      "columns");
	plot_model_free(&m);
}

static void test_draw(void)
{
	struct plot_model m;
	struct plot_layout l;
	struct plot_region *r;
	cairo_surface_t *s;
	cairo_t *cr;
	uint32_t *px;
	int stride, x, y, xb;
	unsigned char red, green, blue;

	make_model(&m);
	plot_model_layout(&m, 400, 30, true);
	r = &m.regions[0];
	for (unsigned row = 0; row < 32; row++) {
		r->events[PLOT_EV_WRITE_FAULT][row * m.ncols + 10] = 1;
		for (unsigned c = 0; c < m.ncols; c++) {
			r->allocated[row * m.ncols + c] = 1;
			r->mapped[row * m.ncols + c] = c >= 10;
		}
	}
	m.event_totals[PLOT_EV_WRITE_FAULT] = 32;
	CHECK(plot_fonts_load() == 0, "fonts load");
	CHECK(plot_layout(&l, &m) == 0 && l.nbands == 1, "one band");
	s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)l.width, (int)l.height);
	cr = cairo_create(s);
	plot_draw(cr, &m, &l);
	CHECK(cairo_status(cr) == CAIRO_STATUS_SUCCESS, "drawn without a cairo error");
	cairo_surface_flush(s);
	px = (uint32_t *)cairo_image_surface_get_data(s);
	stride = cairo_image_surface_get_stride(s) / 4;
	/* page 16 (written) at column 10: the write fault's green */
	x = (int)plot_x_of(&l, &m, 10.5e8);
	y = (int)plot_y_of(&l.bands[0], r, 0x10000 + 16.5 * 4096);
	red = px[y * stride + x] >> 16 & 255;
	green = px[y * stride + x] >> 8 & 255;
	blue = px[y * stride + x] & 255;
	CHECK(green > red + 60 && green > blue + 30, "the write fault is green at (%d, %d): %02x%02x%02x",
	      x, y, red, green, blue);
	/* page 48 (never written) later on: pale, unmarked */
	xb = (int)plot_x_of(&l, &m, 50e8);
	y = (int)plot_y_of(&l.bands[0], r, 0x10000 + 48.5 * 4096);
	red = px[y * stride + xb] >> 16 & 255;
	CHECK(red > 200, "an allocated page stays pale (%02x)", red);
	/* page 16 later: resident grey, darker */
	y = (int)plot_y_of(&l.bands[0], r, 0x10000 + 16.5 * 4096);
	red = px[y * stride + xb] >> 16 & 255;
	CHECK(red < 180, "a resident page is grey (%02x)", red);
	cairo_destroy(cr);
	cairo_surface_destroy(s);
	plot_layout_free(&l);
	plot_model_free(&m);
}

int main(void)
{
	test_scale();
	test_model();
	test_draw();
	/* cairo's and fontconfig's caches, so that the leak checker sees only ours */
	cairo_debug_reset_static_data();
	FcFini();
	return spt_test_done();
}
