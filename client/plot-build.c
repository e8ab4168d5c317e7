/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Recording -> plot model, in two passes; see plot-build.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "plot-build.h"
#include "table.h"

/* Gathered ranges are merged once they are this many. */
#define SCTL_PLOT_RANGES_COMPACT 65536u

/* Address ranges, gathered then sorted and merged. */
struct ranges {
	struct spt_range *r;
	size_t n, cap;
	size_t floor; /* ranges below it are kept as they are (see forget_exit) */
};

static int ranges_add(struct ranges *s, uint64_t start, uint64_t end)
{
	if (s->n > s->floor && s->r[s->n - 1].end == start) {
		s->r[s->n - 1].end = end; /* the common case: ascending runs */
		return 0;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		struct spt_range *n = realloc(s->r, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		s->r = n;
		s->cap = cap;
	}
	s->r[s->n++] = (struct spt_range){start, end};
	return 0;
}

static int range_cmp(const void *a, const void *b)
{
	const struct spt_range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sorts and merges overlapping or touching ranges. */
static void ranges_merge(struct ranges *s)
{
	size_t out = 0;

	if (!s->n)
		return;
	qsort(s->r, s->n, sizeof(*s->r), range_cmp);
	for (size_t i = 1; i < s->n; i++) {
		if (s->r[i].start <= s->r[out].end) {
			if (s->r[i].end > s->r[out].end)
				s->r[out].end = s->r[i].end;
		} else {
			s->r[++out] = s->r[i];
		}
	}
	s->n = out + 1;
}

static bool ranges_overlap(const struct ranges *s, uint64_t start, uint64_t end)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->r[mid].end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->n && s->r[lo].start < end;
}

/* What both passes share: reading frames into a table, and the clock. */
struct pass {
	struct plot_model *m;
	struct sctl_rec_reader *r;
	const SctlRecHeader *h;
	struct sctl_table t;
	char *why;
	size_t why_size;
	bool damaged;
	uint64_t frames; /* frames applied */
	/* pass 1 */
	struct ranges touched;
	size_t *open; /* indexes of the VMA lives not yet over */
	size_t nopen, open_cap;
	size_t *ended; /* lives the last delta ended */
	size_t nended, ended_cap;
	bool seen_snapshot;
	bool oom;
	/* pass 2 */
	unsigned col;	/* the first column not sampled yet */
	bool sampled;	/* a column was sampled */
	bool changed;	/* the table changed since the last sample */
	int (*before)(struct pass *, const SptFrame *, uint64_t);
};

/* A frame's time since the start: the event's own, else the daemon's sample, else arrival. */
static uint64_t frame_time(const struct pass *p, const SptFrame *f, uint64_t recv_ns)
{
	uint64_t t0 = p->h->start_monotonic_ns, t = 0;

	if (f->msg_case == SHADOWPT__FRAME__MSG_DELTA) {
		const Shadowpt__Delta *d = f->delta;

		t = d->has_event_time_ns && d->event_time_ns ? d->event_time_ns : d->timestamp_ns;
	}
	if (!t || !t0)
		return recv_ns;
	t = t > t0 ? t - t0 : 0;
	return t < recv_ns ? t : recv_ns; /* never after it arrived */
}

static char *basename_of(char *out, size_t size, const char *name)
{
	const char *slash = strrchr(name, '/');
	char raw[256];

	snprintf(raw, sizeof(raw), "%s", slash && slash[1] ? slash + 1 : name);
	sctl_printable(out, size, raw[0] ? raw : "anon");
	return out;
}

/* --- pass 1: lives, regions, activity ------------------------------------- */

static int life_begin(struct pass *p, uint64_t start, uint64_t end, int kind, const char *name,
		      uint64_t t, bool at_start)
{
	struct plot_model *m = p->m;
	struct plot_vma_life *v;

	if (!(m->nvmas & (m->nvmas + 1))) { /* grow at 0, 1, 3, 7, ... */
		struct plot_vma_life *n = realloc(m->vmas, (m->nvmas * 2 + 2) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		m->vmas = n;
	}
	if (p->nopen == p->open_cap) {
		size_t cap = p->open_cap ? p->open_cap * 2 : 64;
		size_t *n = realloc(p->open, cap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->open = n;
		p->open_cap = cap;
	}
	v = &m->vmas[m->nvmas];
	memset(v, 0, sizeof(*v));
	v->start = start;
	v->end = end;
	v->born_ns = t;
	v->died_ns = UINT64_MAX;
	v->at_start = at_start;
	v->kind = kind;
	basename_of(v->name, sizeof(v->name), name ? name : "");
	if (!name || !*name)
		v->name[0] = '\0';
	p->open[p->nopen++] = m->nvmas++;
	return 0;
}

/* Ends the open life of exactly [start, end); false if there is none. */
static bool life_end(struct pass *p, uint64_t start, uint64_t end, uint64_t t)
{
	for (size_t i = 0; i < p->nopen; i++) {
		struct plot_vma_life *v = &p->m->vmas[p->open[i]];

		if (v->start == start && v->end == end) {
			if (p->nended == p->ended_cap) {
				size_t cap = p->ended_cap ? p->ended_cap * 2 : 64;
				size_t *n = realloc(p->ended, cap * sizeof(*n));

				if (!n)
					return false;
				p->ended = n;
				p->ended_cap = cap;
			}
			p->ended[p->nended++] = p->open[i];
			v->died_ns = t;
			p->open[i] = p->open[--p->nopen];
			return true;
		}
	}
	return false;
}

/*
 * The target exited: the delta before it removed everything. That is not
 * activity to draw a region for, nor deaths to mark: the lives run to the
 * end of the recording.
 */
static void forget_exit(struct pass *p)
{
	p->touched.n = p->touched.floor;
	for (size_t i = 0; i < p->nended; i++)
		p->m->vmas[p->ended[i]].died_ns = UINT64_MAX;
	p->nended = 0;
}

static bool open_life(const struct pass *p, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < p->nopen; i++) {
		const struct plot_vma_life *v = &p->m->vmas[p->open[i]];

		if (v->start == start && v->end == end)
			return true;
	}
	return false;
}

/* A complete snapshot: the first starts every life; a resync reconciles. */
static int lives_snapshot(struct pass *p, uint64_t t)
{
	const struct spt_state *st = &p->t.st;
	bool first = !p->seen_snapshot;

	p->seen_snapshot = true;
	for (size_t i = 0; i < p->nopen;) {
		const struct plot_vma_life *v = &p->m->vmas[p->open[i]];
		const struct spt_vma *now = spt_state_find_vma(st, v->start);

		if (now && now->start == v->start && now->end == v->end)
			i++;
		else
			life_end(p, v->start, v->end, t); /* swaps the last into i */
	}
	for (size_t i = 0; i < st->nvmas; i++) {
		const struct spt_vma *v = &st->vmas[i];

		if (!open_life(p, v->start, v->end) &&
		    life_begin(p, v->start, v->end, v->kind, v->name, first ? 0 : t, first) < 0)
			return -ENOMEM;
	}
	return 0;
}

static bool added_again(const Shadowpt__Delta *d, const Shadowpt__Range *rm)
{
	for (size_t i = 0; i < d->n_vmas_added; i++)
		if (d->vmas_added[i]->start == rm->start && d->vmas_added[i]->end == rm->end)
			return true;
	return false;
}

/*
 * A delta's VMA changes (a VMA changed in place lives on); the pages it
 * maps, unmaps or moves to other frames were noted before it applied.
 */
static int pass1_delta(struct pass *p, const Shadowpt__Delta *d, uint64_t t)
{
	int r = 0;

	p->nended = 0;
	if (d->has_cause && d->cause)
		p->m->causes = true;
	for (size_t i = 0; i < d->n_vmas_removed && !r; i++) {
		const Shadowpt__Range *rm = d->vmas_removed[i];

		r = ranges_add(&p->touched, rm->start, rm->end);
		if (!added_again(d, rm))
			life_end(p, rm->start, rm->end, t);
	}
	for (size_t i = 0; i < d->n_vmas_added && !r; i++) {
		const Shadowpt__Vma *v = d->vmas_added[i];

		r = ranges_add(&p->touched, v->start, v->end);
		if (!r && !open_life(p, v->start, v->end))
			r = life_begin(p, v->start, v->end, (int)v->kind, v->name, t, false);
	}
	for (size_t i = 0; i < d->n_runs; i++)
		if (d->runs[i]->has_cause && d->runs[i]->cause)
			p->m->causes = true;
	return r;
}

static int life_cmp(const void *a, const void *b)
{
	const struct plot_vma_life *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static const char *life_label(const struct plot_vma_life *v)
{
	return v->name[0] ? v->name : "anon";
}

/*
 * The regions: the address ranges VMAs covered over the recording. Lives
 * that overlap (one range mapped at different times) are one region;
 * touching ones only when they share a name (a library's segments), so
 * an anonymous mapping next to a library stays apart. Named after the
 * biggest VMA in them.
 */
static int make_regions(struct pass *p)
{
	struct plot_model *m = p->m;
	struct plot_vma_life *sorted = malloc((m->nvmas + 1) * sizeof(*sorted));
	uint64_t biggest = 0;

	ranges_merge(&p->touched);
	m->regions = calloc(m->nvmas + 1, sizeof(*m->regions));
	if (!sorted || !m->regions) {
		free(sorted);
		return -ENOMEM;
	}
	if (m->nvmas)
		memcpy(sorted, m->vmas, m->nvmas * sizeof(*sorted));
	qsort(sorted, m->nvmas, sizeof(*sorted), life_cmp);
	for (size_t i = 0; i < m->nvmas; i++) {
		const struct plot_vma_life *v = &sorted[i];
		struct plot_region *g = m->nregions ? &m->regions[m->nregions - 1] : NULL;

		if (!g || v->start > g->end ||
		    (v->start == g->end && strcmp(life_label(v), life_label(&sorted[i - 1])))) {
			g = &m->regions[m->nregions++];
			g->start = v->start;
			g->end = v->end;
			biggest = 0;
		} else if (v->end > g->end) {
			g->end = v->end;
		}
		if (v->end - v->start > biggest) {
			biggest = v->end - v->start;
			g->kind = v->kind;
			snprintf(g->label, sizeof(g->label), "%s", life_label(v));
		}
	}
	for (size_t i = 0; i < m->nregions; i++)
		m->regions[i].active =
		    ranges_overlap(&p->touched, m->regions[i].start, m->regions[i].end);
	free(sorted);
	return 0;
}

/* --- the frames ---------------------------------------------------------- */

/* The file is damaged here: the model keeps what came before. */
static int damaged(struct pass *p, const char *what)
{
	snprintf(p->why, p->why_size, "%s", what);
	p->damaged = true;
	return 0;
}

/*
 * Reads every frame into a fresh table (left in p->t), calling
 * before(p, frame, t) first and each(p, frame, t, done) for those that
 * apply. Stops at damage (p->damaged, p->why). Returns 0 or -ENOMEM.
 */
static int read_frames(struct pass *p, const struct sctl_rec_mark *start,
		       int (*each)(struct pass *, const SptFrame *, uint64_t, int))
{
	struct sctl_rec_mark at;
	const SptFrame *f;
	uint64_t recv;
	int k;

	if (sctl_rec_rewind(p->r, start) < 0)
		return damaged(p, p->r->why);
	sctl_table_free(&p->t);
	sctl_table_init(&p->t);
	p->frames = 0;
	for (;;) {
		const char *why = NULL;
		int done = 0, e;
		uint64_t t;

		sctl_rec_tell(p->r, &at);
		k = sctl_rec_next(p->r, &recv, &f);
		if (k <= 0)
			break;
		t = frame_time(p, f, recv);
		if (recv > p->m->duration_ns)
			p->m->duration_ns = recv;
		if (p->before && p->before(p, f, t) < 0)
			return -ENOMEM;
		if (f->msg_case == SHADOWPT__FRAME__MSG_SNAPSHOT)
			done = sctl_table_snapshot(&p->t, f->snapshot, (int64_t)(t / 1000000), &why);
		else if (f->msg_case == SHADOWPT__FRAME__MSG_DELTA)
			done = sctl_table_delta(&p->t, f->delta, (int64_t)(t / 1000000), &why);
		if (done < 0) {
			char what[320];

			snprintf(what, sizeof(what), "damaged: frame record at offset %" PRIu64 ": %s",
				 at.off, why);
			return damaged(p, what);
		}
		p->frames++;
		e = each(p, f, t, done);
		if (e < 0)
			return e;
	}
	if (k < 0)
		damaged(p, p->r->why);
	return 0;
}

static int pass1_frame(struct pass *p, const SptFrame *f, uint64_t t, int done)
{
	if (f->msg_case == SHADOWPT__FRAME__MSG_SNAPSHOT && done == SCTL_TABLE_COMPLETE)
		return lives_snapshot(p, t);
	if (f->msg_case == SHADOWPT__FRAME__MSG_DELTA && done == SCTL_TABLE_COMPLETE) {
		p->m->deltas++;
		return pass1_delta(p, f->delta, t);
	}
	if (f->msg_case == SHADOWPT__FRAME__MSG_TARGET_EXITED)
		forget_exit(p);
	return 0;
}

static void describe(struct plot_model *m, const SctlRecHeader *h)
{
	const Shadowpt__WatchStarted *ws = h->started;

	m->pid = ws->pid;
	sctl_printable(m->comm, sizeof(m->comm), ws->comm ? ws->comm : "?");
	sctl_printable(m->host, sizeof(m->host), h->hostname ? h->hostname : "");
	snprintf(m->backend, sizeof(m->backend), "%s", spt_backend_name((int)ws->backend));
	snprintf(m->visibility, sizeof(m->visibility), "%s",
		 sctl_visibility_name(ws->has_pfn_visibility ? (int)ws->pfn_visibility : 0));
	m->start_realtime_ns = h->start_realtime_ns;
}

/* --- model access: the only code that reads pages out of the state ----- */

/* Pages mapped in [start, end): O(log n + runs in it). */
static uint64_t mapped_in(const struct spt_state *st, uint64_t start, uint64_t end)
{
	struct spt_run_iter it;
	struct spt_run r;
	uint64_t n = 0;

	spt_run_iter_init(&it, st, start, end);
	while (spt_run_iter_next(&it, &r))
		if (r.flags & SPT_F_MAPPED)
			n += r.npages;
	return n;
}

/* Of m pages, those whose frames a + j * sa and b + j * sb differ (strides 0 or 1). */
static uint64_t strided_differ(uint64_t m, uint64_t a, uint32_t sa, uint64_t b, uint32_t sb)
{
	uint64_t j;

	if (sa == sb)
		return a == b ? 0 : m;
	/* one constant, one counting up: they meet on page j at most */
	if (sa == 0)
		j = a - b; /* a == b + j */
	else
		j = b - a;
	return (sa == 0 ? a >= b : b >= a) && j < m ? m - 1 : m;
}

/* Pages of [vaddr, +n) mapped now to another frame than pfn + i * stride. */
static uint64_t frames_differ(const struct spt_state *st, uint64_t vaddr, uint64_t n,
			      uint64_t pfn, uint32_t stride)
{
	struct spt_run_iter it;
	struct spt_run r;
	uint64_t k = 0;

	spt_run_iter_init(&it, st, vaddr, vaddr + n * SPT_PAGE_SIZE);
	while (spt_run_iter_next(&it, &r))
		if (r.flags & SPT_F_MAPPED)
			k += strided_differ(r.npages, r.pfn, r.stride,
					    pfn + (r.vaddr - vaddr) / SPT_PAGE_SIZE * stride, stride);
	return k;
}

/* --- pass 2: the grids ------------------------------------------------------ */

/* Pages of [start, end) inside some VMA. */
static uint64_t allocated_in(const struct spt_state *st, uint64_t start, uint64_t end)
{
	uint64_t n = 0;

	for (size_t i = 0; i < st->nvmas; i++) {
		const struct spt_vma *v = &st->vmas[i];
		uint64_t a = v->start > start ? v->start : start, b = v->end < end ? v->end : end;

		if (a < b)
			n += (b - a) / SPT_PAGE_SIZE;
	}
	return n;
}

/* The state at the end of column col: the rows' fractions, resident per kind. */
static void sample(struct pass *p, unsigned col)
{
	struct plot_model *m = p->m;
	const struct spt_state *st = &p->t.st;
	uint64_t total = 0;

	if (!p->t.valid)
		return;
	for (size_t i = 0; i < m->nregions; i++) {
		struct plot_region *r = &m->regions[i];

		for (unsigned row = 0; row < r->rows; row++) {
			uint64_t a = r->start + (uint64_t)row * r->pages_per_row * SPT_PAGE_SIZE;
			uint64_t b = a + r->pages_per_row * SPT_PAGE_SIZE;
			size_t cell = (size_t)row * m->ncols + col;

			if (b > r->end)
				b = r->end;
			r->allocated[cell] = (float)allocated_in(st, a, b) /
					     (float)((b - a) / SPT_PAGE_SIZE);
			r->mapped[cell] = (float)mapped_in(st, a, b) / (float)((b - a) / SPT_PAGE_SIZE);
		}
	}
	for (size_t i = 0; i < st->nvmas; i++) {
		const struct spt_vma *v = &st->vmas[i];
		uint64_t n = mapped_in(st, v->start, v->end);

		m->resident[v->kind < PLOT_KINDS ? v->kind : 0][col] += n;
		total += n;
	}
	if (total > m->peak_resident)
		m->peak_resident = total;
}

/* Copies column from into column to (nothing changed in between). */
static void sample_copy(struct plot_model *m, unsigned from, unsigned to)
{
	for (size_t i = 0; i < m->nregions; i++) {
		struct plot_region *r = &m->regions[i];

		for (unsigned row = 0; row < r->rows; row++) {
			r->allocated[(size_t)row * m->ncols + to] =
			    r->allocated[(size_t)row * m->ncols + from];
			r->mapped[(size_t)row * m->ncols + to] = r->mapped[(size_t)row * m->ncols + from];
		}
	}
	for (int k = 0; k < PLOT_KINDS; k++)
		m->resident[k][to] = m->resident[k][from];
}

/* Samples every column before the one t falls in (the state held over them). */
static void sample_until(struct pass *p, unsigned col)
{
	while (p->col < col) {
		if (p->sampled && !p->changed)
			sample_copy(p->m, p->col - 1, p->col);
		else
			sample(p, p->col);
		p->sampled = true;
		p->changed = false;
		p->col++;
	}
}

static bool in_removed_vma(const Shadowpt__Delta *d, uint64_t vaddr)
{
	for (size_t i = 0; i < d->n_vmas_removed; i++)
		if (vaddr >= d->vmas_removed[i]->start && vaddr < d->vmas_removed[i]->end) {
			for (size_t k = 0; k < d->n_vmas_added; k++)
				if (vaddr >= d->vmas_added[k]->start && vaddr < d->vmas_added[k]->end)
					return false;
			return true;
		}
	return false;
}

/* The class of pages that went from mapped to not (cause, else a guess). */
static enum plot_event unmapped_class(const Shadowpt__Delta *d, unsigned cause, uint64_t vaddr)
{
	switch (cause) {
	case SHADOWPT__CAUSE__CAUSE_MADVISE:
	case SHADOWPT__CAUSE__CAUSE_RECLAIM:
	case SHADOWPT__CAUSE__CAUSE_ZAP:
	case SHADOWPT__CAUSE__CAUSE_MIGRATION:
		return PLOT_EV_ZAPPED;
	case SHADOWPT__CAUSE__CAUSE_UNSPECIFIED:
	case SHADOWPT__CAUSE__CAUSE_MULTIPLE:
	case SHADOWPT__CAUSE__CAUSE_RECONCILE:
	case SHADOWPT__CAUSE__CAUSE_POLL:
		/* no cause: gone with its VMA (munmap) or zapped in place */
		return in_removed_vma(d, vaddr) ? PLOT_EV_UNMAPPED : PLOT_EV_ZAPPED;
	default:
		return PLOT_EV_UNMAPPED;
	}
}

static enum plot_event mapped_class(unsigned cause)
{
	switch (cause) {
	case SHADOWPT__CAUSE__CAUSE_READ_FAULT:
		return PLOT_EV_READ_FAULT;
	case SHADOWPT__CAUSE__CAUSE_WRITE_FAULT:
		return PLOT_EV_WRITE_FAULT;
	case SHADOWPT__CAUSE__CAUSE_COW:
		return PLOT_EV_NEW_FRAME;
	default:
		return PLOT_EV_MAPPED;
	}
}

static void count(struct plot_model *m, struct plot_region *r, unsigned row, unsigned col,
		  enum plot_event e, uint64_t n)
{
	size_t cell = (size_t)row * m->ncols + col;

	if (!n)
		return;
	r->events[e][cell] = r->events[e][cell] + n > UINT32_MAX ? UINT32_MAX
								 : r->events[e][cell] + (uint32_t)n;
	m->event_totals[e] += n;
}

/*
 * One change of a delta: n pages from vaddr now with flags and frames
 * pfn + i * stride, against the state before it. Counted per row of the
 * region it falls in.
 */
static void change(struct pass *p, const Shadowpt__Delta *d, unsigned col, uint64_t vaddr,
		   uint64_t n, uint32_t flags, uint64_t pfn, uint32_t stride, unsigned cause)
{
	struct plot_model *m = p->m;
	const struct spt_state *st = &p->t.st;
	uint64_t end = vaddr + n * SPT_PAGE_SIZE;

	while (vaddr < end) {
		struct plot_region *r = plot_model_region(m, vaddr);
		uint64_t a, b, pages, was;
		unsigned row;

		if (!r) /* outside every region: nothing to draw */
			return;
		if (!r->rows) {
			vaddr = r->end;
			continue;
		}
		row = plot_region_row(r, vaddr);
		a = vaddr;
		b = r->start + ((uint64_t)row + 1) * r->pages_per_row * SPT_PAGE_SIZE;
		if (b > end)
			b = end;
		if (b > r->end)
			b = r->end;
		pages = (b - a) / SPT_PAGE_SIZE;
		was = mapped_in(st, a, b);
		if (flags & SPT_F_MAPPED) {
			enum plot_event e = mapped_class(cause);

			count(m, r, row, col, e == PLOT_EV_NEW_FRAME ? PLOT_EV_MAPPED : e, pages - was);
			count(m, r, row, col, PLOT_EV_NEW_FRAME,
			      frames_differ(st, a, pages, pfn + (a - vaddr) / SPT_PAGE_SIZE * stride,
					    stride));
		} else {
			count(m, r, row, col, unmapped_class(d, cause, a), was);
		}
		vaddr = b;
	}
}

typedef void (*change_fn)(struct pass *p, const Shadowpt__Delta *d, unsigned col, uint64_t vaddr,
			  uint64_t n, uint32_t flags, uint64_t pfn, uint32_t stride,
			  unsigned cause);

/* Calls fn for each change of d, pages (protocol 1) or runs (protocol 2). */
static void each_change(struct pass *p, const Shadowpt__Delta *d, unsigned col, change_fn fn)
{
	unsigned cause = d->has_cause ? d->cause : 0;

	for (size_t i = 0; i < d->n_pages; i++) {
		const Shadowpt__Page *pg = d->pages[i];

		fn(p, d, col, pg->vaddr, 1, pg->flags, pg->pfn, 0, cause);
	}
	for (size_t i = 0; i < d->n_runs; i++) {
		const Shadowpt__PageRun *run = d->runs[i];
		uint64_t n = run->has_count ? run->count : 1;

		if (n > SPT_USER_ADDR_MAX / SPT_PAGE_SIZE)
			continue; /* the table refuses it next */
		fn(p, d, col, run->vaddr, n, run->flags, run->pfn, run->pfn_stride,
		   run->has_cause && run->cause ? run->cause : cause);
	}
}

/* Pass 1: a change that maps, unmaps or moves pages makes its range active. */
static void note_activity(struct pass *p, const Shadowpt__Delta *d, unsigned col, uint64_t vaddr,
			  uint64_t n, uint32_t flags, uint64_t pfn, uint32_t stride, unsigned cause)
{
	const struct spt_state *st = &p->t.st;
	uint64_t end = vaddr + n * SPT_PAGE_SIZE, was = mapped_in(st, vaddr, end);
	bool moved = (flags & SPT_F_MAPPED) ? was != n || frames_differ(st, vaddr, n, pfn, stride)
					    : was != 0;

	(void)d;
	(void)col;
	(void)cause;
	/* flags alone (exclusive after a fork, soft-dirty) do not count */
	if (moved && ranges_add(&p->touched, vaddr, end) < 0)
		p->oom = true;
}

/* A delta the table is about to apply on top of its current state. */
static bool applies(const struct pass *p, const SptFrame *f)
{
	return f->msg_case == SHADOWPT__FRAME__MSG_DELTA && p->t.valid && !p->t.assembling &&
	       f->delta->has_base_seq && f->delta->base_seq == p->t.seq;
}

/* Before the table takes the frame: its changes against the state before it. */
static int pass2_before(struct pass *p, const SptFrame *f, uint64_t t)
{
	unsigned col = plot_model_col(p->m, t);

	sample_until(p, col);
	if (applies(p, f))
		each_change(p, f->delta, col, change);
	return 0;
}

static int pass1_before(struct pass *p, const SptFrame *f, uint64_t t)
{
	(void)t;
	if (applies(p, f)) {
		/* a long recording touches many ranges: keep them merged, bounded */
		if (p->touched.n > SCTL_PLOT_RANGES_COMPACT)
			ranges_merge(&p->touched);
		p->touched.floor = p->touched.n;
		each_change(p, f->delta, 0, note_activity);
	}
	return p->oom ? -ENOMEM : 0;
}

static int pass2_frame(struct pass *p, const SptFrame *f, uint64_t t, int done)
{
	(void)f;
	(void)t;
	if (done == SCTL_TABLE_COMPLETE)
		p->changed = true;
	return 0;
}

/* Nothing changed anywhere: then every region is shown. */
static bool any_active(const struct plot_model *m)
{
	for (size_t i = 0; i < m->nregions; i++)
		if (m->regions[i].active)
			return true;
	return false;
}

int plot_build(struct plot_model *m, struct sctl_rec_reader *r, const struct plot_options *o,
	       char *why, size_t why_size)
{
	struct pass p = {.m = m, .r = r, .h = r->header, .why = why, .why_size = why_size};
	struct sctl_rec_mark start = {.off = r->data_off};
	int e;

	why[0] = '\0';
	describe(m, r->header);
	p.before = pass1_before;
	e = read_frames(&p, &start, pass1_frame);
	if (!e && r->end && r->end->end_ns > m->duration_ns)
		m->duration_ns = r->end->end_ns;
	if (!e)
		e = make_regions(&p);
	m->ncols = o->columns;
	if (!e)
		e = plot_model_layout(m, o->height, PLOT_BAND_MIN_HEIGHT, !o->all_regions && any_active(m));
	if (!e) {
		/* pass 2, up to where pass 1 got (the same damage, if any) */
		p.before = pass2_before;
		p.damaged = false;
		e = read_frames(&p, &start, pass2_frame);
		if (!e)
			sample_until(&p, m->ncols);
	}
	m->frames = p.frames;
	m->damaged = p.damaged;
	sctl_table_free(&p.t);
	free(p.touched.r);
	free(p.ended);
	free(p.open);
	if (e) {
		snprintf(why, why_size, "out of memory");
		return -1;
	}
	return 0;
}
