/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Frames -> table -> text, JSON or live view; see view.h. */
#include <stdio.h>
#include <string.h>

#include "conn.h"
#include "format.h"
#include "render-json.h"
#include "render-text.h"
#include "shadowctl.h"
#include "view.h"

/* Redraw period of the live view (counters, fading highlights). */
#define SCTL_TUI_TICK_MS 250
/* Changes are shown at most this often: bursts of deltas share a redraw. */
#define SCTL_TUI_MIN_REDRAW_MS 50
/* Window over which deltas/s is measured. */
#define SCTL_RATE_WINDOW_MS 1000

int sctl_view_protocol_violation(struct sctl_view *v, const char *why)
{
	return sctl_fail_protocol(v->json_errors, v->pid, sctl_view_seq(v), why);
}

void sctl_view_init(struct sctl_view *v, enum sctl_out_mode mode, int32_t pid)
{
	memset(v, 0, sizeof(*v));
	sctl_view_set_mode(v, mode);
	v->pid = pid;
	v->violation = sctl_view_protocol_violation;
	sctl_table_init(&v->table);
}

void sctl_view_set_mode(struct sctl_view *v, enum sctl_out_mode mode)
{
	v->mode = mode;
	v->json_errors = mode == SCTL_OUT_JSON;
}

void sctl_view_free(struct sctl_view *v)
{
	sctl_table_free(&v->table);
	if (v->paused)
		sctl_table_free(&v->frozen);
}

void sctl_view_pause(struct sctl_view *v, bool on, int64_t now_ms)
{
	if (on == v->paused)
		return;
	if (on) {
		sctl_table_init(&v->frozen);
		(void)sctl_table_copy_shown(&v->frozen, &v->table);
		v->frozen_ms = now_ms;
		v->paused_deltas = v->table.deltas;
	} else {
		sctl_table_free(&v->frozen);
	}
	v->paused = on;
	v->dirty = true;
}

void sctl_view_reset(struct sctl_view *v)
{
	sctl_table_free(&v->table);
	sctl_table_init(&v->table);
	v->deltas_seen = 0;
	v->exited = v->count_reached = v->violated = v->done = false;
	v->watch_state = 0;
	v->watch_message[0] = '\0';
	v->status = 0;
	v->dirty = true;
	v->rate_t0 = 0;
	v->rate = 0;
}

int64_t sctl_view_seq(const struct sctl_view *v)
{
	return v->table.valid ? (int64_t)v->table.seq : -1;
}

void sctl_view_finish(struct sctl_view *v, int status)
{
	if (v->done)
		return;
	v->done = true;
	v->status = status;
}

static void violation(struct sctl_view *v, const char *why)
{
	v->violated = true;
	sctl_view_finish(v, v->violation(v, why));
}

void sctl_view_started(struct sctl_view *v, const Shadowpt__WatchStarted *ws)
{
	v->ws = ws;
	v->watch_mode = ws->has_mode ? (int)ws->mode : 0;
	if (v->mode == SCTL_OUT_JSON)
		sctl_json_started(stdout, ws);
	else if (v->mode == SCTL_OUT_TEXT)
		sctl_text_started(stdout, ws);
}

static void on_snapshot(struct sctl_view *v, const Shadowpt__Snapshot *s, int64_t now)
{
	const char *why;
	int r;

	if (s->watch_id != v->ws->watch_id) {
		violation(v, "snapshot for another watch");
		return;
	}
	r = sctl_table_snapshot(&v->table, s, now, &why);
	if (r < 0) {
		violation(v, why);
		return;
	}
	if (r != SCTL_TABLE_COMPLETE)
		return;
	v->dirty = true;
	if (v->mode == SCTL_OUT_JSON)
		sctl_json_snapshot(stdout, v->ws, &v->table, v->table.staging_resync);
	else if (v->mode == SCTL_OUT_TEXT)
		sctl_text_snapshot_line(stdout, v->ws, &v->table, v->table.staging_resync);
}

static void on_delta(struct sctl_view *v, const Shadowpt__Delta *d, uint64_t recv_ns)
{
	int64_t now = (int64_t)(recv_ns / 1000000u);
	const char *why;
	int r;

	if (d->watch_id != v->ws->watch_id) {
		violation(v, "delta for another watch");
		return;
	}
	r = sctl_table_delta(&v->table, d, now, &why);
	if (r < 0) {
		violation(v, why);
		return;
	}
	if (r != SCTL_TABLE_COMPLETE)
		return;
	v->table.delta_info.received_ns = v->recv_clock_base_ns + recv_ns;
	v->dirty = true;
	if (v->mode == SCTL_OUT_JSON)
		sctl_json_delta(stdout, v->ws, &v->table);
	else if (v->mode == SCTL_OUT_TEXT)
		sctl_text_delta(stdout, v->ws, &v->table);
	if (v->count && ++v->deltas_seen >= v->count) {
		v->count_reached = true;
		sctl_view_finish(v, SCTL_EXIT_OK);
	}
}

static void on_watch_status(struct sctl_view *v, const Shadowpt__WatchStatus *s)
{
	if (s->watch_id != v->ws->watch_id) {
		violation(v, "watch status for another watch");
		return;
	}
	v->watch_state = s->has_state ? (int)s->state : 0;
	if (s->has_mode)
		v->watch_mode = (int)s->mode;
	sctl_name_escape(v->watch_message, sizeof(v->watch_message), s->message, 0);
	v->dirty = true;
	if (v->mode == SCTL_OUT_JSON)
		sctl_json_watch_status(stdout, v->ws, sctl_view_seq(v), s);
	else if (v->mode == SCTL_OUT_TEXT)
		sctl_text_watch_status(stdout, v->ws, s);
}

static void on_exited(struct sctl_view *v)
{
	if (!v->table.valid) {
		sctl_view_finish(v, sctl_fail(v->json_errors, v->pid, -1,
					      SCTL_EXIT_NO_PROCESS,
					      "process %d exited before its snapshot was complete",
					      v->pid));
		return;
	}
	v->exited = true;
	v->dirty = true;
	if (v->mode == SCTL_OUT_JSON)
		sctl_json_exit(stdout, v->pid, &v->table);
	else if (v->mode == SCTL_OUT_TEXT)
		sctl_text_exit(stdout, v->pid, &v->table);
	/* The live view stays up until 'q' so the final state can be read. */
	if (v->mode != SCTL_OUT_TUI)
		sctl_view_finish(v, SCTL_EXIT_OK);
}

void sctl_view_frame(struct sctl_view *v, const SptFrame *f, uint64_t recv_ns)
{
	int64_t now_ms = (int64_t)(recv_ns / 1000000u);
	bool json = v->json_errors;

	switch (f->msg_case) {
	case SHADOWPT__FRAME__MSG_SNAPSHOT:
		on_snapshot(v, f->snapshot, now_ms);
		break;
	case SHADOWPT__FRAME__MSG_DELTA:
		on_delta(v, f->delta, recv_ns);
		break;
	case SHADOWPT__FRAME__MSG_TARGET_EXITED:
		if (f->target_exited->watch_id == v->ws->watch_id)
			on_exited(v);
		break;
	case SHADOWPT__FRAME__MSG_WATCH_STATUS:
		on_watch_status(v, f->watch_status);
		break;
	case SHADOWPT__FRAME__MSG_ERROR:
		sctl_view_finish(v, sctl_fail_error(f->error, json, v->pid, sctl_view_seq(v)));
		break;
	case SHADOWPT__FRAME__MSG_PONG:
		break;
	case SHADOWPT__FRAME__MSG_UNWATCHED:
		if (!v->exited)
			sctl_view_finish(v, sctl_fail(json, v->pid, sctl_view_seq(v),
						      SCTL_EXIT_RUNTIME, "shadowptd ended the watch"));
		break;
	default: {
		char why[96];

		snprintf(why, sizeof(why), "unexpected %s during a watch", spt_frame_type_name(f));
		violation(v, why);
		break;
	}
	}
}

static void update_rate(struct sctl_view *v, int64_t now)
{
	if (!v->rate_t0) {
		v->rate_t0 = now;
		v->rate_n0 = v->table.deltas;
		return;
	}
	if (now - v->rate_t0 >= SCTL_RATE_WINDOW_MS) {
		v->rate =
		    (double)(v->table.deltas - v->rate_n0) * 1000.0 / (double)(now - v->rate_t0);
		v->rate_t0 = now;
		v->rate_n0 = v->table.deltas;
	}
}

int64_t sctl_view_redraw_due(const struct sctl_view *v, int64_t now)
{
	int64_t period;

	if (!v->tui)
		return -1;
	if (sctl_tui_needs_redraw(v->tui))
		return 0;
	period = v->dirty ? SCTL_TUI_MIN_REDRAW_MS : SCTL_TUI_TICK_MS;
	return v->last_draw + period > now ? v->last_draw + period - now : 0;
}

void sctl_view_draw(struct sctl_view *v, struct sctl_tui_header *h, int64_t now,
		    int64_t table_ms)
{
	update_rate(v, now);
	h->ws = v->ws;
	h->pid = v->pid;
	h->deltas_per_sec = v->rate;
	h->watch_state = v->watch_state;
	h->watch_message = v->watch_message;
	sctl_table_expire(&v->table, table_ms);
	if (v->paused) {
		h->paused = true;
		h->behind = v->table.deltas - v->paused_deltas;
		/* the frozen copy changes only when (un)pausing */
		sctl_tui_draw(v->tui, h, &v->frozen, false, v->frozen_ms);
		v->dirty = false;
		v->last_draw = now;
		return;
	}
	sctl_tui_draw(v->tui, h, &v->table, v->dirty, table_ms);
	v->dirty = false;
	v->last_draw = now;
}
