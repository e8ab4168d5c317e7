/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Recording playback by recording time; see player.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "player.h"
#include "shadowctl.h"

/*
 * Reports damage once: a line on stderr (and a JSON error event), kept
 * for the live view. applied: the frames before it.
 */
static int report_damage(struct sctl_player *p, const char *what, uint64_t applied)
{
	if (p->damaged)
		return p->status;
	p->damaged = true;
	snprintf(p->damage, sizeof(p->damage), "%s: %s; replayed %" PRIu64 " frames (%.3f s)",
		 p->path, what, applied, (double)p->pos_ns / 1e9);
	p->status = sctl_fail(p->view->json_errors, p->view->pid, sctl_view_seq(p->view),
			      SCTL_EXIT_RECORDING, "%s", p->damage);
	return p->status;
}

/* A frame the table refuses: the file is damaged at that record. */
static int frame_refused(struct sctl_view *v, const char *why)
{
	struct sctl_player *p = v->ctx;
	char what[320];

	snprintf(what, sizeof(what), "damaged: frame record at offset %" PRIu64 ": %s",
		 p->next_at.off, why);
	return report_damage(p, what, p->rd.frames - 1);
}

/* Reads ahead the next frame; at the end, or on damage, has_next is false. */
static void fetch(struct sctl_player *p)
{
	int r;

	sctl_rec_tell(&p->rd, &p->next_at);
	r = sctl_rec_next(&p->rd, &p->next_ns, &p->next);
	p->has_next = r == 1;
	p->read_failed = r < 0;
}

/* Playback got past the last good frame: say what follows it. */
static void reached_end(struct sctl_player *p)
{
	if (!p->has_next && p->read_failed)
		report_damage(p, p->rd.why, p->rd.frames);
}

int sctl_player_open(struct sctl_player *p, const char *path, int fd, struct sctl_view *view)
{
	memset(p, 0, sizeof(*p));
	p->path = path;
	p->view = view;
	view->violation = frame_refused;
	view->ctx = p;
	if (sctl_rec_open_fd(&p->rd, fd) < 0) {
		const char *hint = p->rd.status == SCTL_REC_NOT_RECORDING
					   ? " (make one with shadowctl record)"
					   : "";

		p->damaged = true;
		return p->status = sctl_fail(view->json_errors, view->pid, -1,
					     p->rd.status == SCTL_REC_IO ? SCTL_EXIT_RUNTIME
									 : SCTL_EXIT_RECORDING,
					     "%s: %s%s", path, p->rd.why, hint);
	}
	view->pid = p->rd.header->started->pid;
	/* Recorded times are since the start: received_ns as it was live. */
	view->recv_clock_base_ns = p->rd.header->start_monotonic_ns;
	fetch(p);
	return 0;
}

void sctl_player_close(struct sctl_player *p)
{
	sctl_rec_close(&p->rd);
	free(p->marks);
	p->marks = NULL;
}

const SctlRecHeader *sctl_player_header(const struct sctl_player *p)
{
	return p->rd.header;
}

static bool is_snapshot_start(const SptFrame *f)
{
	return f->msg_case == SHADOWPT__FRAME__MSG_SNAPSHOT &&
	       (!f->snapshot->has_chunk || f->snapshot->chunk == 0);
}

static int push_mark(struct sctl_player *p, const struct sctl_rec_mark *at, uint64_t t)
{
	struct sctl_player_mark *m = realloc(p->marks, (p->nmarks + 1) * sizeof(*m));

	if (!m)
		return -1;
	p->marks = m;
	p->marks[p->nmarks++] = (struct sctl_player_mark){*at, t};
	return 0;
}

int sctl_player_scan(struct sctl_player *p)
{
	struct sctl_rec_mark resume = p->next_at, at;
	const SptFrame *f;
	uint64_t t = 0;

	if (p->scanned || !p->has_next)
		return 0;
	/* Mark 0: the first frame, with an empty table. */
	if (push_mark(p, &resume, 0) < 0)
		return -1;
	if (sctl_rec_rewind(&p->rd, &resume) < 0)
		return -1;
	for (;;) {
		sctl_rec_tell(&p->rd, &at);
		if (sctl_rec_next(&p->rd, &t, &f) != 1)
			break;
		p->duration_ns = t;
		if (is_snapshot_start(f) && push_mark(p, &at, t) < 0)
			return -1;
	}
	if (p->rd.end && p->rd.end->has_end_ns && p->rd.end->end_ns > p->duration_ns)
		p->duration_ns = p->rd.end->end_ns;
	p->scanned = true;
	/* Back to where playback was, that frame read ahead again. */
	if (sctl_rec_rewind(&p->rd, &resume) < 0)
		return -1;
	fetch(p);
	return 0;
}

/* Applies the frame read ahead, then reads the next one. */
static void apply_next(struct sctl_player *p)
{
	struct sctl_view *v = p->view;

	if (p->next_ns > p->pos_ns)
		p->pos_ns = p->next_ns;
	sctl_view_frame(v, p->next, p->next_ns);
	if (v->done && v->violated) {
		p->has_next = false;
		return;
	}
	fetch(p);
}

uint64_t sctl_player_play_until(struct sctl_player *p, uint64_t t_ns, uint64_t max)
{
	uint64_t n = 0;

	while (p->has_next && !p->view->done && p->next_ns <= t_ns && (!max || n < max)) {
		apply_next(p);
		n++;
	}
	if (p->has_next && t_ns > p->pos_ns && p->next_ns > t_ns)
		p->pos_ns = t_ns; /* between two frames */
	if (!p->has_next && p->rd.end && p->rd.end->end_ns > p->pos_ns && t_ns >= p->rd.end->end_ns)
		p->pos_ns = p->rd.end->end_ns;
	reached_end(p);
	return n;
}

void sctl_player_step(struct sctl_player *p)
{
	const struct sctl_table *t = &p->view->table;
	uint64_t deltas = t->deltas, seq = t->seq;
	bool valid = t->valid;

	while (p->has_next && !p->view->done) {
		apply_next(p);
		if (t->deltas != deltas || t->valid != valid || t->seq != seq)
			break;
	}
	reached_end(p);
}

void sctl_player_seek(struct sctl_player *p, uint64_t t_ns)
{
	const struct sctl_player_mark *best = NULL;

	if (p->duration_ns && t_ns > p->duration_ns)
		t_ns = p->duration_ns;
	for (size_t i = 0; i < p->nmarks && p->marks[i].t_ns <= t_ns; i++)
		best = &p->marks[i];
	/* Going forward past no better snapshot: just play on. */
	if (t_ns >= p->pos_ns && !p->view->done &&
	    (!best || best->at.off <= p->next_at.off)) {
		sctl_player_play_until(p, t_ns, 0);
		return;
	}
	if (!best || sctl_rec_rewind(&p->rd, &best->at) < 0)
		return;
	sctl_view_reset(p->view);
	p->pos_ns = best->t_ns;
	fetch(p);
	sctl_player_play_until(p, t_ns, 0);
}
