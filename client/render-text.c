/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Plain-text renderer; see render-text.h. */
#include <inttypes.h>
#include <string.h>

#include "cause.h"
#include "format.h"
#include "render-text.h"

static int visibility_of(const Shadowpt__WatchStarted *ws)
{
	return ws && ws->has_pfn_visibility ? (int)ws->pfn_visibility
					    : SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN;
}

/*
 * Names may hold any byte: keep one event per line and the terminal sane.
 * Control characters (C0, DEL, C1), backslashes and invalid UTF-8 are
 * written as \xNN.
 */
static void text_name(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str ? str : "");
	size_t n = strlen((const char *)s), i = 0;

	while (i < n) {
		bool esc;
		size_t len = sctl_name_unit(s + i, n - i, &esc);

		if (esc)
			fprintf(f, "\\x%02x", s[i]);
		else
			fwrite(s + i, 1, len, f);
		i += len;
	}
}

static void text_vma(FILE *f, const char *prefix, uint64_t start, uint64_t end, uint32_t prot,
		     bool shared, int kind, const char *name)
{
	char perms[5];

	sctl_perms(perms, prot, shared);
	fprintf(f, "%s%012" PRIx64 "-%012" PRIx64 " %s %-11s %8" PRIu64 " pages ", prefix, start,
		end, perms, sctl_kind_name(kind), (end - start) / 4096);
	text_name(f, name);
	putc('\n', f);
}

/*
 * One line per run: "VADDR FLAGS PFN" for one page; for several,
 * "VADDR-END FLAGS PFN (N pages, same frame)" or "PFN-LAST (N pages,
 * contiguous frames)". A 1 TiB zero-page mapping is one line. In a
 * delta, a run whose cause is not the delta's says its own.
 */
static void text_run(FILE *f, const char *prefix, int vis, const struct spt_run *r,
		     unsigned cause)
{
	char fl[160];
	bool shown = sctl_pfn_shown(vis, r->flags);

	fprintf(f, "%s%012" PRIx64, prefix, r->vaddr);
	if (r->npages > 1)
		fprintf(f, "-%012" PRIx64, spt_run_end(r));
	if (!r->flags) {
		/* removed entries: the pages are back to what their VMA implies */
		if (r->npages > 1)
			fprintf(f, " - - (%" PRIu64 " entries removed)", r->npages);
		else
			fputs(" - - (entry removed)", f);
	} else {
		sctl_flags_str(fl, sizeof(fl), r->flags);
		fprintf(f, " %s", fl);
		if (shown)
			fprintf(f, " 0x%" PRIx64, r->pfn);
		else
			fputs(" -", f);
		if (r->npages > 1 && !shown)
			fprintf(f, " (%" PRIu64 " pages)", r->npages);
		else if (r->npages > 1 && r->stride)
			fprintf(f, "-0x%" PRIx64 " (%" PRIu64 " pages, contiguous frames)",
				r->pfn + r->npages - 1, r->npages);
		else if (r->npages > 1)
			fprintf(f, " (%" PRIu64 " pages, same frame)", r->npages);
	}
	if (cause)
		fprintf(f, " cause=%s", spt_cause_name(cause));
	putc('\n', f);
}

void sctl_text_started(FILE *f, const Shadowpt__WatchStarted *ws)
{
	fprintf(f, "started pid=%" PRId32 " watch=%" PRIu32 " comm=", ws->pid, ws->watch_id);
	text_name(f, ws->comm);
	fprintf(f, " backend=%s pfn=%s", spt_backend_name((int)ws->backend),
		sctl_visibility_name(visibility_of(ws)));
	if (ws->range)
		fprintf(f, " range=0x%" PRIx64 ":0x%" PRIx64, ws->range->start, ws->range->end);
	if (ws->backend_reason && *ws->backend_reason) {
		fputs(" reason=\"", f);
		text_name(f, ws->backend_reason);
		putc('"', f);
	}
	if (ws->has_mode && sctl_mode_name((int)ws->mode))
		fprintf(f, " mode=%s", sctl_mode_name((int)ws->mode));
	if (ws->mode_reason && *ws->mode_reason) {
		fputs(" mode_reason=\"", f);
		text_name(f, ws->mode_reason);
		putc('"', f);
	}
	putc('\n', f);
}

void sctl_text_snapshot_line(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t,
			     bool resync)
{
	struct sctl_table_stats s;

	sctl_table_stats(&t->st, &s);
	fprintf(f,
		"snapshot pid=%" PRId32 " seq=%" PRIu64 " vmas=%zu pages=%" PRIu64
		" runs=%zu allocated=%" PRIu64 " mapped=%" PRIu64 "%s\n",
		ws->pid, t->seq, t->st.nvmas, spt_state_npages(&t->st), spt_state_nruns(&t->st),
		s.allocated, s.mapped, resync ? " resync" : "");
}

void sctl_text_table(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t)
{
	int vis = visibility_of(ws);
	struct spt_run_iter it;
	struct spt_run r;
	size_t i;

	sctl_text_started(f, ws);
	sctl_text_snapshot_line(f, ws, t, false);
	for (i = 0; i < t->st.nvmas; i++) {
		const struct spt_vma *v = &t->st.vmas[i];

		text_vma(f, "vma ", v->start, v->end, v->prot, v->shared, v->kind, v->name);
	}
	spt_run_iter_all(&it, &t->st);
	while (spt_run_iter_next(&it, &r))
		text_run(f, "page ", vis, &r, 0);
}

void sctl_text_delta(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t)
{
	const struct sctl_delta_info *in = &t->delta_info;
	const struct spt_delta *d = &t->delta;
	int vis = visibility_of(ws);
	size_t i;

	fprintf(f,
		"delta pid=%" PRId32 " seq=%" PRIu64 " base=%" PRIu64
		" -vmas=%zu +vmas=%zu pages=%" PRIu64 " runs=%zu%s",
		ws->pid, in->seq, in->base_seq, d->nvmas_removed, d->nvmas_added,
		spt_delta_npages(d), d->nruns, in->exec ? " exec" : "");
	if (in->cause)
		fprintf(f, " cause=%s", spt_cause_name(in->cause));
	if (in->cause_vaddr)
		fprintf(f, " vaddr=0x%" PRIx64, in->cause_vaddr);
	if (in->cause_tid > 0)
		fprintf(f, " tid=%" PRId32, in->cause_tid);
	if (in->events)
		fprintf(f, " events=%" PRIu32, in->events);
	if (in->event_time_ns)
		fprintf(f, " event_ns=%" PRIu64, in->event_time_ns);
	putc('\n', f);
	for (i = 0; i < d->nvmas_removed; i++)
		fprintf(f, "  -vma %012" PRIx64 "-%012" PRIx64 "\n", d->vmas_removed[i].start,
			d->vmas_removed[i].end);
	for (i = 0; i < d->nvmas_added; i++) {
		const struct spt_vma *v = &d->vmas_added[i];

		text_vma(f, "  +vma ", v->start, v->end, v->prot, v->shared, v->kind, v->name);
	}
	for (i = 0; i < d->nruns; i++)
		text_run(f, "  ", vis, &d->runs[i],
			 d->runs[i].cause != in->cause ? d->runs[i].cause : 0);
}

void sctl_text_watch_status(FILE *f, const Shadowpt__WatchStarted *ws,
			    const Shadowpt__WatchStatus *s)
{
	const char *state = sctl_watch_state_name(s->has_state ? (int)s->state : 0);
	const char *mode = sctl_mode_name(s->has_mode ? (int)s->mode : 0);

	fprintf(f, "watch-status pid=%" PRId32 " watch=%" PRIu32 " state=%s", ws->pid,
		s->watch_id, state ? state : "unknown");
	if (mode)
		fprintf(f, " mode=%s", mode);
	if (s->message && *s->message) {
		fputs(" message=\"", f);
		text_name(f, s->message);
		putc('"', f);
	}
	putc('\n', f);
}

void sctl_text_exit(FILE *f, int32_t pid, const struct sctl_table *t)
{
	if (t && t->valid)
		fprintf(f, "exit pid=%" PRId32 " seq=%" PRIu64 "\n", pid, t->seq);
	else
		fprintf(f, "exit pid=%" PRId32 "\n", pid);
}

void sctl_text_status(FILE *f, const Shadowpt__StatusReply *s)
{
	uint64_t up = s->uptime_ms / 1000;
	size_t i;

	fputs("shadowptd ", f);
	text_name(f, s->server_version ? s->server_version : "?");
	fprintf(f,
		", up %" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64 ", default backend %s\n",
		up / 86400, up / 3600 % 24, up / 60 % 60, up % 60,
		spt_backend_name((int)s->default_backend));
	fprintf(f, "connections %" PRIu32 "  sessions %" PRIu32 "  viewers %" PRIu32 "\n",
		s->connections, s->sessions, s->viewers);
	fprintf(f, "frames in %" PRIu64 "  frames out %" PRIu64 "  bytes out %" PRIu64 "\n",
		s->frames_in, s->frames_out, s->bytes_out);
	fprintf(f,
		"deltas dropped %" PRIu64 "  resyncs %" PRIu64 "  viewers disconnected %" PRIu64
		"\n",
		s->deltas_dropped, s->resyncs, s->viewers_disconnected);
	if (s->has_snapshots_encoded)
		fprintf(f, "snapshots encoded %" PRIu64 " (once per session, pfn visibility and seq)\n",
			s->snapshots_encoded);
	if (s->has_kernel_table_busy && !s->kernel_table_busy)
		fputs("kernel table free\n", f);
	else if (s->has_kernel_table_busy && s->has_kernel_table_uid)
		fprintf(f, "kernel table held by uid %" PRIu32 "\n", s->kernel_table_uid);
	else if (s->has_kernel_table_busy)
		fputs("kernel table held\n", f);
	for (i = 0; i < s->n_session; i++) {
		const Shadowpt__SessionStatus *ss = s->session[i];

		fprintf(f, "session pid=%" PRId32, ss->pid);
		if (ss->range)
			fprintf(f, " range=0x%" PRIx64 ":0x%" PRIx64, ss->range->start,
				ss->range->end);
		else
			fputs(" range=all", f);
		fprintf(f,
			" backend=%s viewers=%" PRIu32 " seq=%" PRIu64 " interval=%" PRIu32
			"ms mapped=%" PRIu64 " vmas=%" PRIu64 " samples=%" PRIu64,
			spt_backend_name((int)ss->backend), ss->viewers, ss->seq, ss->interval_ms,
			ss->mapped_pages, ss->vmas, ss->samples);
		if (ss->has_runs)
			fprintf(f, " runs=%" PRIu64, ss->runs);
		if (ss->has_memory_bytes)
			fprintf(f, " memory=%" PRIu64 "KiB", ss->memory_bytes >> 10);
		if (ss->has_owner_uid)
			fprintf(f, " owner_uid=%" PRIu32, ss->owner_uid);
		if (ss->samples)
			fprintf(f, " avg_sample=%.1fus",
				(double)ss->sample_ns_total / (double)ss->samples / 1000.0);
		putc('\n', f);
	}
}

void sctl_text_hexdump(FILE *f, uint64_t base, const uint8_t *data, size_t len)
{
	bool squeezing = false;
	size_t off, i;

	for (off = 0; off < len; off += 16) {
		size_t n = len - off < 16 ? len - off : 16;

		if (off && n == 16 && !memcmp(data + off, data + off - 16, 16)) {
			if (!squeezing)
				fputs("*\n", f);
			squeezing = true;
			continue;
		}
		squeezing = false;
		fprintf(f, "%016" PRIx64 " ", base + off);
		for (i = 0; i < 16; i++) {
			if (i == 8)
				putc(' ', f);
			if (i < n)
				fprintf(f, " %02x", data[off + i]);
			else
				fputs("   ", f);
		}
		fputs("  |", f);
		for (i = 0; i < n; i++) {
			uint8_t c = data[off + i];

			putc(c >= 0x20 && c < 0x7f ? c : '.', f);
		}
		fputs("|\n", f);
	}
	fprintf(f, "%016" PRIx64 "\n", base + len);
}
