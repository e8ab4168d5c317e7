/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `shadowctl plot`: a recording drawn as a picture, SVG, PNG or PDF by
 * the output's name, with cairo (plot-draw.c) from the model plot-build.c
 * reduces the recording to. Input and output are opened and the fonts
 * loaded before the sandbox; afterwards the file is only read and the
 * picture only written.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>

#include "conn.h"
#include "plot-build.h"
#include "plot-draw.h"
#include "recfile.h"
#include "render-json.h"
#include "shadowctl.h"

/* Time columns (about one per 3.4 pixels) and the heat map's height. */
#define PLOT_COLUMNS 300u
#define PLOT_HEIGHT  420u

enum plot_format { PLOT_SVG, PLOT_PNG, PLOT_PDF };

struct plot_cmd {
	const char *in, *out;
	enum plot_format format;
	bool all_regions;
	bool json;
	int in_fd, out_fd;
	int write_errno;
};

static int format_of(const char *path, enum plot_format *f)
{
	const char *dot = strrchr(path, '.');

	if (!dot)
		return -1;
	if (!strcasecmp(dot, ".svg"))
		*f = PLOT_SVG;
	else if (!strcasecmp(dot, ".png"))
		*f = PLOT_PNG;
	else if (!strcasecmp(dot, ".pdf"))
		*f = PLOT_PDF;
	else
		return -1;
	return 0;
}

static int parse_args(struct plot_cmd *pc, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"all-regions", no_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, ":o:ajh", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			pc->out = optarg;
			break;
		case 'a':
			pc->all_regions = true;
			break;
		case 'j':
			pc->json = true;
			break;
		case 'h':
			sctl_help_plot();
			return -1;
		default:
			return sctl_option_error("plot", argc, argv, c);
		}
	}
	if (optind >= argc)
		return sctl_usage_error("plot", "missing FILE");
	if (optind + 1 < argc)
		return sctl_usage_error("plot", "unexpected argument '%s'", argv[optind + 1]);
	pc->in = argv[optind];
	if (!pc->out || !*pc->out)
		return sctl_usage_error("plot", "missing -o OUT.svg, OUT.png or OUT.pdf");
	if (format_of(pc->out, &pc->format) < 0)
		return sctl_usage_error("plot", "cannot tell the format of '%s': name it .svg, "
						".png or .pdf",
					pc->out);
	return 0;
}

static cairo_status_t write_out(void *ctx, const unsigned char *data, unsigned int len)
{
	struct plot_cmd *pc = ctx;

	while (len) {
		ssize_t n = write(pc->out_fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pc->write_errno = n < 0 ? errno : EIO;
			return CAIRO_STATUS_WRITE_ERROR;
		}
		data += n;
		len -= (unsigned)n;
	}
	return CAIRO_STATUS_SUCCESS;
}

/* The PDF's date and title from the recording, not from the clock. */
static void pdf_metadata(cairo_surface_t *s, const struct plot_model *m)
{
	time_t secs = (time_t)(m->start_realtime_ns / 1000000000u);
	char date[32], title[96];
	struct tm tm;

	if (m->start_realtime_ns && gmtime_r(&secs, &tm)) {
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
		cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, date);
	}
	snprintf(title, sizeof(title), "shadowpt recording of pid %" PRId32 " (%s)", m->pid,
		 m->comm);
	cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, title);
	cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATOR, "shadowctl plot");
}

/* Draws the model onto the output's kind of surface; 0 or an exit code. */
static int render(struct plot_cmd *pc, const struct plot_model *m, const struct plot_layout *l)
{
	cairo_surface_t *s;
	cairo_status_t st;
	cairo_t *cr;

	if (pc->format == PLOT_SVG) {
		s = cairo_svg_surface_create_for_stream(write_out, pc, l->width, l->height);
		/* pixels, as in the PNG: a browser shows it at the same size */
		cairo_svg_surface_set_document_unit(s, CAIRO_SVG_UNIT_PX);
	} else if (pc->format == PLOT_PDF) {
		s = cairo_pdf_surface_create_for_stream(write_out, pc, l->width, l->height);
	} else {
		s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, (int)l->width, (int)l->height);
	}
	if (pc->format == PLOT_PDF)
		pdf_metadata(s, m);
	cr = cairo_create(s);
	plot_draw(cr, m, l);
	st = cairo_status(cr);
	cairo_destroy(cr);
	if (!st && pc->format == PLOT_PNG)
		st = cairo_surface_write_to_png_stream(s, write_out, pc);
	cairo_surface_finish(s);
	if (!st)
		st = cairo_surface_status(s);
	cairo_surface_destroy(s);
	if (pc->write_errno)
		return sctl_fail(pc->json, m->pid, -1, SCTL_EXIT_RUNTIME, "cannot write %s: %s",
				 pc->out, strerror(pc->write_errno));
	if (st)
		return sctl_fail(pc->json, m->pid, -1, SCTL_EXIT_RUNTIME, "cannot draw %s: %s",
				 pc->out, cairo_status_to_string(st));
	return 0;
}

static void json_addr(uint64_t a)
{
	printf("\"0x%" PRIx64 "\"", a);
}

/* --json: where everything was drawn, for scripts and the tests. */
static void print_layout(const struct plot_cmd *pc, const struct plot_model *m,
			 const struct plot_layout *l)
{
	static const char *const fmt[] = {"svg", "png", "pdf"};
	static const char *const ev[PLOT_EV_COUNT] = {
	    "read_fault", "write_fault", "mapped", "new_frame", "unmapped", "zapped",
	};

	printf("{\"event\":\"plot\",\"pid\":%" PRId32 ",\"seq\":null,\"output\":", m->pid);
	sctl_json_string(stdout, pc->out);
	printf(",\"format\":\"%s\",\"width\":%g,\"height\":%g,\"duration_ns\":%" PRIu64
	       ",\"deltas\":%" PRIu64 ",\"damaged\":%s,\"causes\":%s",
	       fmt[pc->format], l->width, l->height, m->duration_ns, m->deltas,
	       m->damaged ? "true" : "false", m->causes ? "true" : "false");
	printf(",\"time_axis\":{\"x0\":%g,\"x1\":%g}", l->x0, l->x1);
	printf(",\"heat_map\":{\"y0\":%g,\"y1\":%g,\"regions\":[", l->heat_y0, l->heat_y1);
	for (size_t i = 0; i < l->nbands; i++) {
		const struct plot_band *b = &l->bands[i];
		const struct plot_region *r = &m->regions[b->region];

		printf("%s{\"start\":", i ? "," : "");
		json_addr(r->start);
		fputs(",\"end\":", stdout);
		json_addr(r->end);
		fputs(",\"label\":", stdout);
		sctl_json_string(stdout, r->label);
		printf(",\"y_top\":%g,\"y_bottom\":%g,\"rows\":%u}", b->y0, b->y1, r->rows);
	}
	printf("]},\"resident\":{\"y0\":%g,\"y1\":%g,\"peak_pages\":%" PRIu64 "}", l->res_y0,
	       l->res_y1, m->peak_resident);
	printf(",\"vmas\":{\"y0\":%g,\"y1\":%g,\"count\":%zu,\"shown\":%zu}", l->life_y0,
	       l->life_y1, m->nvmas, l->nlife);
	fputs(",\"page_events\":{", stdout);
	for (int e = 0; e < PLOT_EV_COUNT; e++)
		printf("%s\"%s\":%" PRIu64, e ? "," : "", ev[e], m->event_totals[e]);
	fputs("}}\n", stdout);
}

/* Sandboxed from here: read, reduce, draw, write. */
static int run(struct plot_cmd *pc)
{
	struct plot_options o = {PLOT_COLUMNS, PLOT_HEIGHT, pc->all_regions};
	struct sctl_rec_reader rd;
	struct plot_model m;
	struct plot_layout l;
	char why[384];
	int r;

	plot_model_init(&m);
	if (sctl_rec_open_fd(&rd, pc->in_fd) < 0) {
		r = sctl_fail(pc->json, -1, -1,
			      rd.status == SCTL_REC_IO ? SCTL_EXIT_RUNTIME : SCTL_EXIT_RECORDING,
			      "%s: %s", pc->in, rd.why);
		sctl_rec_close(&rd);
		return r;
	}
	if (plot_build(&m, &rd, &o, why, sizeof(why)) < 0 || plot_layout(&l, &m) < 0) {
		r = sctl_fail(pc->json, m.pid, -1, SCTL_EXIT_RUNTIME, "%s: %s", pc->in,
			      why[0] ? why : "out of memory");
		goto out;
	}
	r = render(pc, &m, &l);
	if (!r && pc->json)
		print_layout(pc, &m, &l);
	if (!r && m.damaged)
		r = sctl_fail(pc->json, m.pid, -1, SCTL_EXIT_RECORDING,
			      "%s: %s; %s shows the %" PRIu64 " frames before", pc->in, why,
			      pc->out, m.frames);
	plot_layout_free(&l);
out:
	plot_model_free(&m);
	sctl_rec_close(&rd);
	return r;
}

int sctl_cmd_plot(const struct sctl_global *g, int argc, char **argv)
{
	struct plot_cmd pc = {.json = g->json, .in_fd = -1, .out_fd = -1};
	time_t now = time(NULL);
	struct tm tm;
	int r = parse_args(&pc, argc, argv);

	if (r)
		return r < 0 ? SCTL_EXIT_OK : r;
	pc.in_fd = open(pc.in, O_RDONLY | O_CLOEXEC);
	if (pc.in_fd < 0)
		return sctl_fail(pc.json, -1, -1, SCTL_EXIT_RUNTIME, "cannot open %s: %s", pc.in,
				 strerror(errno));
	pc.out_fd = open(pc.out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (pc.out_fd < 0) {
		r = sctl_fail(pc.json, -1, -1, SCTL_EXIT_RUNTIME, "cannot create %s: %s", pc.out,
			      strerror(errno));
		close(pc.in_fd);
		return r;
	}
	/*
	 * What would open files later: fontconfig and the fonts, and the time
	 * zone (cairo dates PDFs with localtime). Loaded now, then sandboxed.
	 */
	localtime_r(&now, &tm);
	if (plot_fonts_load() < 0)
		r = sctl_fail(pc.json, -1, -1, SCTL_EXIT_RUNTIME,
			      "cannot load the fonts (DejaVu Sans, from fonts-dejavu-core)");
	if (!r)
		r = sctl_enter_sandbox(g);
	if (!r)
		r = run(&pc);
	if (close(pc.out_fd) < 0 && !r)
		r = sctl_fail(pc.json, -1, -1, SCTL_EXIT_RUNTIME, "cannot write %s: %s", pc.out,
			      strerror(errno));
	close(pc.in_fd);
	return r;
}
