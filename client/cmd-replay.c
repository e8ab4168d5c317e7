/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * `shadowctl replay`: a recording played back through the same view as
 * `watch` (text, JSON Lines, live view), in recording time scaled by
 * --speed. In the live view: pause, step, seek and change speed. The
 * file is opened before the sandbox and only read afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "clock.h"
#include "conn.h"
#include "player.h"
#include "render-json.h"
#include "shadowctl.h"
#include "view.h"

/* Frames applied per turn of the loop at most, so keys stay live. */
#define SCTL_REPLAY_BATCH 256u

struct replay {
	const char *path;
	double speed; /* 0: as fast as possible */
	bool paused;
	/* recording time = anchor_rec + (wall - anchor_wall) * speed */
	uint64_t anchor_wall, anchor_rec;
	struct sctl_view view;
	struct sctl_player player;
	char status[160];
	char note[96]; /* last answer to a key, e.g. a bad seek time */
};

static int parse_args(struct replay *rp, bool *json, bool *no_tui, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"speed", required_argument, NULL, 'S'}, {"no-tui", no_argument, NULL, 'T'},
	    {"json", no_argument, NULL, 'j'},	     {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *why;
	int c;

	while ((c = getopt_long(argc, argv, ":S:Tjh", opts, NULL)) != -1) {
		switch (c) {
		case 'S':
			if (sctl_parse_speed(optarg, &rp->speed, &why) < 0)
				return sctl_usage_error("replay", "invalid --speed '%s': %s",
							optarg, why);
			break;
		case 'T':
			*no_tui = true;
			break;
		case 'j':
			*json = true;
			break;
		case 'h':
			sctl_help_replay();
			return -1;
		default:
			return sctl_option_error("replay", argc, argv, c);
		}
	}
	if (optind >= argc)
		return sctl_usage_error("replay", "missing FILE");
	if (optind + 1 < argc)
		return sctl_usage_error("replay", "unexpected argument '%s'", argv[optind + 1]);
	rp->path = argv[optind];
	return 0;
}

/* The recording time the clock shows now. */
static uint64_t clock_now(const struct replay *rp, uint64_t wall)
{
	if (rp->paused)
		return rp->anchor_rec;
	if (rp->speed == 0)
		return UINT64_MAX;
	return rp->anchor_rec + (uint64_t)((double)(wall - rp->anchor_wall) * rp->speed);
}

/* Restarts the clock at recording time rec (after pause, seek, speed). */
static void clock_set(struct replay *rp, uint64_t rec)
{
	rp->anchor_wall = sctl_now_ns();
	rp->anchor_rec = rec;
}

static bool at_end(const struct replay *rp)
{
	return !rp->player.has_next || rp->view.done;
}

static void draw(struct replay *rp)
{
	struct sctl_player *p = &rp->player;
	struct sctl_tui_header h = {0};
	char speed[16];

	if (rp->speed == 0)
		snprintf(speed, sizeof(speed), "max");
	else
		snprintf(speed, sizeof(speed), "x%g", rp->speed);
	snprintf(rp->status, sizeof(rp->status), "REPLAY %.1f/%.1f s  %s%s%s  %s",
		 (double)p->pos_ns / 1e9, (double)p->duration_ns / 1e9, speed,
		 rp->paused ? "  PAUSED" : "",
		 p->damaged ? "  DAMAGED" : at_end(rp) ? "  END" : "", rp->note);
	h.status = rp->status;
	sctl_view_draw(&rp->view, &h, sctl_now_ms(), (int64_t)(p->pos_ns / 1000000u));
}

static void toggle_pause(struct replay *rp)
{
	uint64_t rec = rp->player.pos_ns;

	rp->paused = !rp->paused;
	clock_set(rp, rec);
}

static void seek(struct replay *rp, const char *text)
{
	struct sctl_player *p = &rp->player;
	int64_t to;

	if (sctl_parse_seek(text, (int64_t)p->pos_ns, &to) < 0) {
		snprintf(rp->note, sizeof(rp->note), "not a time: %s", text);
		return;
	}
	rp->note[0] = '\0';
	sctl_player_seek(p, (uint64_t)to);
	clock_set(rp, p->pos_ns);
	rp->view.dirty = true;
}

static void set_speed(struct replay *rp, double factor)
{
	double s = rp->speed == 0 ? SCTL_MAX_SPEED : rp->speed * factor;

	if (s < SCTL_MIN_SPEED)
		s = SCTL_MIN_SPEED;
	if (s > SCTL_MAX_SPEED)
		s = SCTL_MAX_SPEED;
	rp->speed = s;
	clock_set(rp, rp->player.pos_ns);
}

/* Keys of the live view; true on quit. */
static bool handle_keys(struct replay *rp)
{
	enum sctl_key_action a;

	while ((a = sctl_tui_handle_keys(rp->view.tui)) != SCTL_KEY_NONE) {
		switch (a) {
		case SCTL_KEY_QUIT:
			return true;
		case SCTL_KEY_PAUSE:
			toggle_pause(rp);
			break;
		case SCTL_KEY_STEP:
			rp->paused = true;
			sctl_player_step(&rp->player);
			clock_set(rp, rp->player.pos_ns);
			break;
		case SCTL_KEY_SEEK:
			seek(rp, sctl_tui_prompt_text(rp->view.tui));
			break;
		case SCTL_KEY_FASTER:
			set_speed(rp, 2);
			break;
		case SCTL_KEY_HEX:
			sctl_tui_hex_error(rp->view.tui, sctl_tui_hex_vaddr(rp->view.tui),
					   "page contents are not in recordings; watch the live "
					   "target to read them");
			break;
		case SCTL_KEY_SLOWER:
			set_speed(rp, 0.5);
			break;
		default:
			break;
		}
	}
	return false;
}

/* Waits for the next frame's time, a redraw or a key; Ctrl-C ends the wait. */
static void wait_for(struct replay *rp, int64_t due_ms, bool keyboard)
{
	struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
	struct timespec ts = {due_ms / 1000, due_ms % 1000 * 1000000L};

	if (due_ms == 0)
		return;
	ppoll(keyboard ? &pfd : NULL, keyboard ? 1 : 0, due_ms > 0 ? &ts : NULL,
	      &sctl_wait_sigmask);
}

/* A recording that ended by itself, not by the user or the target: say why. */
static void note_early_end(const struct replay *rp)
{
	const SctlRecEnd *e = rp->player.rd.end;

	if (e && (e->reason == SHADOWPT__REC__END_REASON__END_PROTOCOL_ERROR ||
		  e->reason == SHADOWPT__REC__END_REASON__END_CONNECTION_LOST))
		sctl_err("%s: the recording ended early: %s", rp->path,
			 e->message ? e->message : "");
}

static int run(struct replay *rp)
{
	struct sctl_player *p = &rp->player;
	struct sctl_view *v = &rp->view;
	bool tui = v->tui != NULL, keyboard = tui && isatty(STDIN_FILENO);

	clock_set(rp, 0);
	for (;;) {
		uint64_t wall = sctl_now_ns(), rec = clock_now(rp, wall);
		int64_t due = -1, redraw;

		if (!rp->paused) {
			uint64_t limit = tui ? SCTL_REPLAY_BATCH : 0;

			sctl_player_play_until(p, rec, limit);
			if (rp->speed == 0 && !at_end(rp))
				p->pos_ns = p->next_ns;
		}
		if (fflush(stdout) == EOF) {
			sctl_err("cannot write output: %s", strerror(errno));
			return SCTL_EXIT_RUNTIME;
		}
		if (sctl_interrupted)
			return p->status;
		if (!tui && at_end(rp))
			break;
		if (!rp->paused && !at_end(rp)) {
			if (rp->speed == 0)
				due = 0;
			else if (p->next_ns > rec)
				due = (int64_t)((double)(p->next_ns - rec) / rp->speed / 1e6) + 1;
			else
				due = 0;
		}
		if (tui) {
			redraw = sctl_view_redraw_due(v, sctl_now_ms());
			if (redraw == 0) {
				draw(rp);
				redraw = sctl_view_redraw_due(v, sctl_now_ms());
			}
			if (redraw >= 0 && (due < 0 || redraw < due))
				due = redraw;
		}
		wait_for(rp, due, keyboard);
		if (tui && handle_keys(rp))
			break;
	}
	if (p->damaged)
		return p->status;
	if (!p->has_next)
		note_early_end(rp);
	return v->done ? v->status : SCTL_EXIT_OK;
}

int sctl_cmd_replay(const struct sctl_global *g, int argc, char **argv)
{
	struct replay rp = {.speed = 1};
	bool json = g->json, no_tui = false;
	enum sctl_out_mode mode;
	int fd, r = parse_args(&rp, &json, &no_tui, argc, argv);

	if (r)
		return r < 0 ? SCTL_EXIT_OK : r;
	if (json)
		mode = SCTL_OUT_JSON;
	else if (no_tui || !isatty(STDOUT_FILENO))
		mode = SCTL_OUT_TEXT;
	else
		mode = SCTL_OUT_TUI;
	sctl_view_init(&rp.view, mode, 0);
	fd = open(rp.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = sctl_fail(json, -1, -1, SCTL_EXIT_RUNTIME, "cannot open %s: %s", rp.path,
			      strerror(errno));
		sctl_view_free(&rp.view);
		return r;
	}
	r = sctl_player_open(&rp.player, rp.path, fd, &rp.view);
	if (!r && mode == SCTL_OUT_TUI) {
		rp.view.tui = sctl_tui_open();
		if (rp.view.tui) {
			sctl_tui_set_replay(rp.view.tui, true);
			sctl_err_defer(true);
		} else {
			sctl_view_set_mode(&rp.view, mode = SCTL_OUT_TEXT);
		}
	}
	if (!r)
		r = sctl_enter_sandbox(g);
	if (!r && mode == SCTL_OUT_TUI && sctl_player_scan(&rp.player) < 0)
		r = sctl_fail(false, -1, -1, SCTL_EXIT_RUNTIME, "%s: cannot scan: %s", rp.path,
			      rp.player.rd.why);
	if (!r) {
		const SctlRecHeader *h = sctl_player_header(&rp.player);

		if (mode == SCTL_OUT_JSON)
			sctl_json_hello(stdout, h->welcome, h->started->pid);
		sctl_view_started(&rp.view, h->started);
		r = run(&rp);
	}
	fflush(stdout);
	if (rp.view.tui) {
		sctl_tui_close(rp.view.tui);
		sctl_err_defer(false);
	}
	sctl_player_close(&rp.player);
	sctl_view_free(&rp.view);
	close(fd);
	return r;
}
