/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The page detail pane's lines; see tui-detail.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cause.h"
#include "format.h"
#include "tui-detail.h"

static void add(struct sctl_detail *d, size_t width, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add(struct sctl_detail *d, size_t width, const char *fmt, ...)
{
	va_list ap;
	char *l;

	if (d->n == SCTL_DETAIL_LINES)
		return;
	l = d->line[d->n++];
	va_start(ap, fmt);
	vsnprintf(l, SCTL_DETAIL_WIDTH, fmt, ap);
	va_end(ap);
	if (width && width < SCTL_DETAIL_WIDTH && strlen(l) > width)
		l[width] = '\0'; /* what add() is given is ASCII */
}

/* A name, escaped and cut to fit after a prefix. */
static void add_name(struct sctl_detail *d, size_t width, const char *prefix, const char *name)
{
	size_t pl = strlen(prefix), room = width > pl ? width - pl : 1;
	char *l;

	if (d->n == SCTL_DETAIL_LINES || pl >= SCTL_DETAIL_WIDTH)
		return;
	l = d->line[d->n++];
	memcpy(l, prefix, pl);
	sctl_name_escape(l + pl, SCTL_DETAIL_WIDTH - pl, name, room);
}

/* "flags  a,b,c", wrapped after a comma onto indented lines. */
static void add_flags(struct sctl_detail *d, size_t width, uint32_t flags)
{
	char fl[160], *p = fl;
	const char *prefix = "flags  ";

	if (!flags) {
		add(d, width, "flags  none (outside every VMA)");
		return;
	}
	sctl_flags_str(fl, sizeof(fl), flags);
	while (*p) {
		size_t room = width > 7 ? width - 7 : 1, n = strlen(p);

		if (n > room) {
			/* the last comma that fits, kept on this line */
			size_t cut = room;

			while (cut > 1 && p[cut - 1] != ',')
				cut--;
			n = cut > 1 ? cut : room;
		}
		add(d, width, "%s%.*s", prefix, (int)n, p);
		prefix = "       ";
		p += n;
	}
}

static void ago(char *out, size_t size, int64_t ms)
{
	if (ms < 0)
		ms = 0;
	if (ms < 10000)
		snprintf(out, size, "%.1f s ago", (double)ms / 1000);
	else if (ms < 600000)
		snprintf(out, size, "%" PRId64 " s ago", ms / 1000);
	else
		snprintf(out, size, "%" PRId64 " min ago", ms / 60000);
}

static void frame_lines(struct sctl_detail *d, const struct sctl_detail_in *in, uint32_t flags,
			uint64_t pfn)
{
	size_t w = in->width;
	uint64_t users;
	bool zero;

	if (!(flags & SPT_F_MAPPED)) {
		add(d, w, "frame  none (not mapped)");
		return;
	}
	if (in->visibility == SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN) {
		add(d, w, "frame  hidden by the daemon");
		return;
	}
	if (in->visibility == SHADOWPT__PFN_VISIBILITY__PFN_TOKEN)
		add(d, w, "frame  token %" PRIu64, pfn);
	else
		add(d, w, "frame  pfn 0x%" PRIx64, pfn);
	users = in->frames ? sctl_frames_users(in->frames, pfn, &zero) : 0;
	if (zero)
		add(d, w, "       the shared zero page");
	else if (users > 1)
		add(d, w, "       shared: %" PRIu64 " pages map it", users);
	else if (users == 1)
		add(d, w, "       no other page maps it");
}

void sctl_detail_build(struct sctl_detail *d, const struct sctl_detail_in *in)
{
	const struct spt_state *st = &in->t->st;
	const struct spt_vma *v = spt_state_find_vma(st, in->vaddr);
	size_t w = in->width;
	struct spt_page p;
	char perms[5], when[32];
	int64_t at;
	unsigned cause;
	uint32_t flags;
	uint64_t pfn = 0;

	d->n = 0;
	add(d, w, "page   %012" PRIx64, in->vaddr);
	if (spt_state_get_page(st, in->vaddr, &p)) {
		flags = p.flags;
		pfn = p.pfn;
	} else {
		flags = v ? spt_vma_flags(v) : 0;
	}
	add_flags(d, w, flags);
	frame_lines(d, in, flags, pfn);
	if (in->cell_pages > 1 && v) {
		uint64_t span = in->cell_pages * SPT_PAGE_SIZE;
		uint64_t cell = v->start + (in->vaddr - v->start) / span * span;
		struct sctl_cell c;

		/* the cell holding the page, as the map draws it (rows start at the VMA) */
		sctl_cell_sum(st, v, cell, in->cell_pages, &c);
		add(d, w, "cell   %" PRIu64 " pages, %" PRIu64 " mapped", c.allocated, c.mapped);
	}
	if (v) {
		struct sctl_cell all;

		sctl_perms(perms, v->prot, v->shared);
		add(d, w, "vma    %012" PRIx64 "-%012" PRIx64, v->start, v->end);
		add(d, w, "       %s %s offset 0x%" PRIx64, perms, sctl_kind_name(v->kind), v->offset);
		if (v->name && *v->name)
			add_name(d, w, "       ", v->name);
		sctl_cell_sum(st, v, v->start, (v->end - v->start) / SPT_PAGE_SIZE, &all);
		add(d, w, "       %" PRIu64 " of %" PRIu64 " pages resident", all.mapped,
		    all.allocated);
	} else {
		add(d, w, "vma    none");
	}
	if (sctl_table_last_change(in->t, in->vaddr, &at, &cause)) {
		ago(when, sizeof(when), in->now_ms - at);
		add(d, w, "change %s", when);
		add(d, w, "       %s", cause ? spt_cause_name(cause) : "cause not said");
	} else {
		add(d, w, "change none since the snapshot");
	}
}
