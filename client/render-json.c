/* SPDX-License-Identifier: GPL-2.0-or-later */
/* JSON Lines renderer; see render-json.h and doc/json-schema.md. */
#include <inttypes.h>
#include <string.h>

#include "cause.h"
#include "format.h"
#include "render-json.h"

void sctl_json_string_n(FILE *f, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	putc('"', f);
	while (i < n) {
		unsigned char c = s[i];
		size_t len;

		switch (c) {
		case '"':
			fputs("\\\"", f);
			i++;
			continue;
		case '\\':
			fputs("\\\\", f);
			i++;
			continue;
		case '\b':
			fputs("\\b", f);
			i++;
			continue;
		case '\f':
			fputs("\\f", f);
			i++;
			continue;
		case '\n':
			fputs("\\n", f);
			i++;
			continue;
		case '\r':
			fputs("\\r", f);
			i++;
			continue;
		case '\t':
			fputs("\\t", f);
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
			i++;
			continue;
		}
		len = sctl_utf8_valid_len(s + i, n - i);
		if (!len) {
			fputs("\\ufffd", f);
			i++;
			continue;
		}
		fwrite(s + i, 1, len, f);
		i += len;
	}
	putc('"', f);
}

void sctl_json_string(FILE *f, const char *s)
{
	if (!s)
		fputs("null", f);
	else
		sctl_json_string_n(f, s, strlen(s));
}

static void json_addr(FILE *f, uint64_t a)
{
	fprintf(f, "\"0x%" PRIx64 "\"", a);
}

static void json_flags(FILE *f, uint32_t flags)
{
	uint32_t bit;
	bool first = true;

	putc('[', f);
	for (bit = 1; bit; bit <<= 1) {
		const char *name;

		if (!(flags & bit))
			continue;
		if (!first)
			putc(',', f);
		first = false;
		name = sctl_flag_bit_name(bit);
		if (name)
			sctl_json_string(f, name);
		else
			fprintf(f, "\"0x%x\"", bit);
	}
	putc(']', f);
}

/* A cause name, or null when none was said. */
static void json_cause(FILE *f, unsigned cause)
{
	if (cause)
		fprintf(f, "\"%s\"", spt_cause_name(cause));
	else
		fputs("null", f);
}

/* A number, or null for 0 (what absent protocol 2 fields decode to). */
static void json_u64_or_null(FILE *f, uint64_t v)
{
	if (v)
		fprintf(f, "%" PRIu64, v);
	else
		fputs("null", f);
}

static void json_name_or_null(FILE *f, const char *name)
{
	if (name)
		fprintf(f, "\"%s\"", name);
	else
		fputs("null", f);
}

/*
 * A page entry: count pages from vaddr; page i has frame pfn + i * pfn_stride.
 * In a delta it says why (the run's own cause, else the delta's).
 */
static void json_change(FILE *f, int visibility, const struct spt_run *r, bool with_cause)
{
	bool shown = sctl_pfn_shown(visibility, r->flags);

	fputs("{\"vaddr\":", f);
	json_addr(f, r->vaddr);
	fputs(",\"flags\":", f);
	json_flags(f, r->flags);
	if (shown)
		fprintf(f, ",\"pfn\":%" PRIu64, r->pfn);
	else
		fputs(",\"pfn\":null", f);
	fprintf(f, ",\"count\":%" PRIu64 ",\"pfn_stride\":%u", r->npages, shown ? r->stride : 0);
	if (with_cause) {
		fputs(",\"cause\":", f);
		json_cause(f, r->cause);
	}
	putc('}', f);
}

static void json_run(FILE *f, int visibility, const struct spt_run *r)
{
	json_change(f, visibility, r, false);
}

static void json_vma(FILE *f, uint64_t start, uint64_t end, uint32_t prot, bool shared, int kind,
		     const char *name, uint64_t offset)
{
	char perms[5];

	sctl_perms(perms, prot, shared);
	fputs("{\"start\":", f);
	json_addr(f, start);
	fputs(",\"end\":", f);
	json_addr(f, end);
	fprintf(f, ",\"perms\":\"%s\",\"kind\":\"%s\",\"name\":", perms, sctl_kind_name(kind));
	sctl_json_string(f, name ? name : "");
	fputs(",\"offset\":", f);
	json_addr(f, offset);
	putc('}', f);
}

static void json_range(FILE *f, const Shadowpt__Range *r)
{
	if (!r) {
		fputs("null", f);
		return;
	}
	fputs("{\"start\":", f);
	json_addr(f, r->start);
	fputs(",\"end\":", f);
	json_addr(f, r->end);
	putc('}', f);
}

static int visibility_of(const Shadowpt__WatchStarted *ws)
{
	return ws && ws->has_pfn_visibility ? (int)ws->pfn_visibility
					    : SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN;
}

void sctl_json_hello(FILE *f, const Shadowpt__Welcome *w, int32_t pid)
{
	size_t i;

	fputs("{\"event\":\"hello\",\"pid\":", f);
	if (pid > 0)
		fprintf(f, "%" PRId32, pid);
	else
		fputs("null", f);
	fprintf(f, ",\"seq\":null,\"protocol_version\":%" PRIu32 ",\"server_version\":",
		w->protocol_version);
	sctl_json_string(f, w->server_version);
	fputs(",\"backends\":[", f);
	for (i = 0; i < w->n_backends; i++)
		fprintf(f, "%s\"%s\"", i ? "," : "", spt_backend_name((int)w->backends[i]));
	fputs("],\"kernel_unavailable_reason\":", f);
	sctl_json_string(f, w->kernel_unavailable_reason);
	if (w->peer)
		fprintf(f, ",\"peer\":{\"uid\":%" PRIu32 ",\"gid\":%" PRIu32 ",\"admin\":%s}",
			w->peer->uid, w->peer->gid, w->peer->admin ? "true" : "false");
	else
		fputs(",\"peer\":null", f);
	fputs("}\n", f);
}

/* Fields of WatchStarted that the started, snapshot and peek events share. */
static void json_watch_fields(FILE *f, const Shadowpt__WatchStarted *ws)
{
	fprintf(f, ",\"watch_id\":%" PRIu32 ",\"comm\":", ws->watch_id);
	sctl_json_string(f, ws->comm);
	fprintf(f, ",\"backend\":\"%s\",\"backend_reason\":", spt_backend_name((int)ws->backend));
	sctl_json_string(f, ws->backend_reason);
	fprintf(f,
		",\"pfn_visibility\":\"%s\",\"range\":", sctl_visibility_name(visibility_of(ws)));
	json_range(f, ws->range);
	fputs(",\"mode\":", f);
	json_name_or_null(f, sctl_mode_name(ws->has_mode ? (int)ws->mode : 0));
	fputs(",\"mode_reason\":", f);
	sctl_json_string(f, ws->mode_reason);
}

void sctl_json_started(FILE *f, const Shadowpt__WatchStarted *ws)
{
	fprintf(f, "{\"event\":\"started\",\"pid\":%" PRId32 ",\"seq\":null", ws->pid);
	json_watch_fields(f, ws);
	fputs("}\n", f);
}

void sctl_json_snapshot(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t,
			bool resync)
{
	const struct spt_state *st = &t->st;
	int vis = visibility_of(ws);
	struct spt_run_iter it;
	struct spt_run r;
	size_t i;

	fprintf(f,
		"{\"event\":\"snapshot\",\"pid\":%" PRId32 ",\"seq\":%" PRIu64
		",\"resync\":%s,\"chunks\":%" PRIu32,
		ws->pid, t->seq, resync ? "true" : "false", t->last_chunks);
	json_watch_fields(f, ws);
	fputs(",\"vmas\":[", f);
	for (i = 0; i < st->nvmas; i++) {
		const struct spt_vma *v = &st->vmas[i];

		if (i)
			putc(',', f);
		json_vma(f, v->start, v->end, v->prot, v->shared, v->kind, v->name, v->offset);
	}
	fprintf(f, "],\"page_count\":%" PRIu64 ",\"pages\":[", spt_state_npages(st));
	spt_run_iter_all(&it, st);
	for (i = 0; spt_run_iter_next(&it, &r); i++) {
		if (i)
			putc(',', f);
		json_run(f, vis, &r);
	}
	fputs("]}\n", f);
}

void sctl_json_delta(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t)
{
	const struct sctl_delta_info *in = &t->delta_info;
	const struct spt_delta *d = &t->delta;
	int vis = visibility_of(ws);
	size_t i;

	fprintf(f,
		"{\"event\":\"delta\",\"pid\":%" PRId32 ",\"seq\":%" PRIu64 ",\"base_seq\":%" PRIu64
		",\"timestamp_ns\":%" PRIu64 ",\"exec\":%s,\"chunks\":%" PRIu32,
		ws->pid, in->seq, in->base_seq, in->timestamp_ns, in->exec ? "true" : "false",
		in->chunks);
	fputs(",\"cause\":", f);
	json_cause(f, in->cause);
	fputs(",\"cause_vaddr\":", f);
	if (in->cause_vaddr)
		json_addr(f, in->cause_vaddr);
	else
		fputs("null", f);
	fputs(",\"event_time_ns\":", f);
	json_u64_or_null(f, in->event_time_ns);
	fputs(",\"cause_tid\":", f);
	json_u64_or_null(f, in->cause_tid > 0 ? (uint64_t)in->cause_tid : 0);
	fputs(",\"events\":", f);
	json_u64_or_null(f, in->events);
	fputs(",\"received_ns\":", f);
	json_u64_or_null(f, in->received_ns);
	fputs(",\"vmas_removed\":[", f);
	for (i = 0; i < d->nvmas_removed; i++) {
		if (i)
			putc(',', f);
		fputs("{\"start\":", f);
		json_addr(f, d->vmas_removed[i].start);
		fputs(",\"end\":", f);
		json_addr(f, d->vmas_removed[i].end);
		putc('}', f);
	}
	fputs("],\"vmas_added\":[", f);
	for (i = 0; i < d->nvmas_added; i++) {
		const struct spt_vma *v = &d->vmas_added[i];

		if (i)
			putc(',', f);
		json_vma(f, v->start, v->end, v->prot, v->shared, v->kind, v->name, v->offset);
	}
	fprintf(f, "],\"page_count\":%" PRIu64 ",\"pages\":[", spt_delta_npages(d));
	for (i = 0; i < d->nruns; i++) {
		if (i)
			putc(',', f);
		json_change(f, vis, &d->runs[i], true);
	}
	fputs("]}\n", f);
}

void sctl_json_watch_status(FILE *f, const Shadowpt__WatchStarted *ws, int64_t seq,
			    const Shadowpt__WatchStatus *s)
{
	fprintf(f, "{\"event\":\"watch_status\",\"pid\":%" PRId32 ",\"seq\":", ws->pid);
	if (seq >= 0)
		fprintf(f, "%" PRId64, seq);
	else
		fputs("null", f);
	fprintf(f, ",\"watch_id\":%" PRIu32 ",\"state\":", s->watch_id);
	json_name_or_null(f, sctl_watch_state_name(s->has_state ? (int)s->state : 0));
	fputs(",\"mode\":", f);
	json_name_or_null(f, sctl_mode_name(s->has_mode ? (int)s->mode : 0));
	fputs(",\"message\":", f);
	sctl_json_string(f, s->message);
	fputs(",\"since_ns\":", f);
	json_u64_or_null(f, s->has_since_ns ? s->since_ns : 0);
	fputs("}\n", f);
}

void sctl_json_exit(FILE *f, int32_t pid, const struct sctl_table *t)
{
	fprintf(f, "{\"event\":\"exit\",\"pid\":%" PRId32 ",\"seq\":", pid);
	if (t && t->valid)
		fprintf(f, "%" PRIu64, t->seq);
	else
		fputs("null", f);
	fputs("}\n", f);
}

void sctl_json_error(FILE *f, int32_t pid, int64_t seq, int code, const char *message,
		     int exit_code)
{
	fputs("{\"event\":\"error\",\"pid\":", f);
	if (pid > 0)
		fprintf(f, "%" PRId32, pid);
	else
		fputs("null", f);
	if (seq >= 0)
		fprintf(f, ",\"seq\":%" PRId64, seq);
	else
		fputs(",\"seq\":null", f);
	if (code >= 0) {
		fprintf(f, ",\"code\":%d,\"code_name\":", code);
		sctl_json_string(f, spt_error_code_name(code));
	} else {
		fputs(",\"code\":null,\"code_name\":null", f); /* found by shadowctl */
	}
	fputs(",\"message\":", f);
	sctl_json_string(f, message ? message : "");
	fprintf(f, ",\"exit_code\":%d}\n", exit_code);
}

void sctl_json_status(FILE *f, const Shadowpt__StatusReply *s)
{
	size_t i;

	fputs("{\"event\":\"status\",\"pid\":null,\"seq\":null,\"server_version\":", f);
	sctl_json_string(f, s->server_version);
	fprintf(f,
		",\"default_backend\":\"%s\",\"uptime_ms\":%" PRIu64 ",\"connections\":%" PRIu32
		",\"sessions\":%" PRIu32 ",\"viewers\":%" PRIu32 ",\"frames_in\":%" PRIu64
		",\"frames_out\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"deltas_dropped\":%" PRIu64
		",\"resyncs\":%" PRIu64 ",\"viewers_disconnected\":%" PRIu64,
		spt_backend_name((int)s->default_backend), s->uptime_ms, s->connections,
		s->sessions, s->viewers, s->frames_in, s->frames_out, s->bytes_out,
		s->deltas_dropped, s->resyncs, s->viewers_disconnected);
	if (s->has_snapshots_encoded)
		fprintf(f, ",\"snapshots_encoded\":%" PRIu64, s->snapshots_encoded);
	else
		fputs(",\"snapshots_encoded\":null", f);
	fputs(",\"session_list\":[", f);
	for (i = 0; i < s->n_session; i++) {
		const Shadowpt__SessionStatus *ss = s->session[i];

		fprintf(f, "%s{\"pid\":%" PRId32 ",\"range\":", i ? "," : "", ss->pid);
		json_range(f, ss->range);
		fprintf(f,
			",\"backend\":\"%s\",\"viewers\":%" PRIu32 ",\"seq\":%" PRIu64
			",\"interval_ms\":%" PRIu32 ",\"mapped_pages\":%" PRIu64
			",\"vmas\":%" PRIu64 ",\"samples\":%" PRIu64 ",\"sample_ns_total\":%" PRIu64,
			spt_backend_name((int)ss->backend), ss->viewers, ss->seq, ss->interval_ms,
			ss->mapped_pages, ss->vmas, ss->samples, ss->sample_ns_total);
		if (ss->has_runs)
			fprintf(f, ",\"runs\":%" PRIu64, ss->runs);
		else
			fputs(",\"runs\":null", f);
		if (ss->has_memory_bytes)
			fprintf(f, ",\"memory_bytes\":%" PRIu64, ss->memory_bytes);
		else
			fputs(",\"memory_bytes\":null", f);
		if (ss->has_owner_uid)
			fprintf(f, ",\"owner_uid\":%" PRIu32 "}", ss->owner_uid);
		else
			fputs(",\"owner_uid\":null}", f);
	}
	fputs("],\"kernel_table\":", f);
	if (!s->has_kernel_table_busy)
		fputs("null", f);
	else if (s->kernel_table_busy && s->has_kernel_table_uid)
		fprintf(f, "{\"busy\":true,\"uid\":%" PRIu32 "}", s->kernel_table_uid);
	else
		fprintf(f, "{\"busy\":%s,\"uid\":null}", s->kernel_table_busy ? "true" : "false");
	fputs("}\n", f);
}

void sctl_json_peek(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t,
		    uint64_t vaddr, const uint8_t *data, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	fprintf(f, "{\"event\":\"peek\",\"pid\":%" PRId32 ",\"seq\":", ws->pid);
	if (t && t->valid)
		fprintf(f, "%" PRIu64, t->seq);
	else
		fputs("null", f);
	fputs(",\"vaddr\":", f);
	json_addr(f, vaddr);
	fprintf(f, ",\"length\":%zu,\"data_hex\":\"", len);
	for (i = 0; i < len; i++) {
		putc(hex[data[i] >> 4], f);
		putc(hex[data[i] & 15], f);
	}
	fputs("\"}\n", f);
}
