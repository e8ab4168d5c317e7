/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The live watch loop; see live.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "live.h"
#include "shadowctl.h"
#include "watch-req.h"

/* Ends the watch, telling the daemon unless the target is gone. */
static void stop(struct sctl_live *l, enum sctl_live_end end, int status)
{
	struct sctl_view *v = l->view;

	if (!v->exited)
		sctl_watch_stop(l->conn, v->ws->watch_id);
	l->end = end;
	sctl_view_finish(v, status);
}

static void draw(struct sctl_live *l, int64_t now)
{
	struct sctl_tui_header h = {
	    .message = l->view->exited ? "TARGET EXITED (q to quit)" : NULL,
	};

	sctl_view_draw(l->view, &h, now, now);
}

/* Asks for the bytes of the page the hex view shows (authorized as peek is). */
static void send_peek(struct sctl_live *l, uint64_t vaddr)
{
	Shadowpt__Peek p = SHADOWPT__PEEK__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	p.has_watch_id = p.has_vaddr = 1;
	p.watch_id = l->view->ws->watch_id;
	p.vaddr = vaddr;
	f.has_request_id = 1;
	f.request_id = l->peek_request = sctl_conn_new_request_id(l->conn);
	f.msg_case = SHADOWPT__FRAME__MSG_PEEK;
	f.peek = &p;
	l->peek_vaddr = vaddr;
	if (sctl_conn_send(l->conn, &f))
		sctl_tui_hex_error(l->view->tui, vaddr, "cannot send the request");
}

/* The answer to the hex view's Peek: for the live view, not the watch. */
static bool peek_answer(struct sctl_live *l, const SptFrame *f)
{
	struct sctl_tui *tui = l->view->tui;
	const Shadowpt__PeekReply *pr;

	if (!l->peek_request || f->request_id != l->peek_request)
		return false;
	if (f->msg_case == SHADOWPT__FRAME__MSG_PEEK_REPLY) {
		pr = f->peek_reply;
		if (pr->has_data && pr->data.len == SPT_PAGE_SIZE && pr->vaddr == l->peek_vaddr)
			sctl_tui_hex_data(tui, l->peek_vaddr, pr->data.data, pr->data.len);
		else
			sctl_tui_hex_error(tui, l->peek_vaddr, "the reply is not that page");
	} else if (f->msg_case == SHADOWPT__FRAME__MSG_ERROR && !f->error->fatal) {
		char why[256];

		snprintf(why, sizeof(why), "%s (%s)",
			 f->error->message ? f->error->message : "refused",
			 spt_error_code_name(f->error->has_code ? (int)f->error->code : 0));
		sctl_tui_hex_error(tui, l->peek_vaddr, why);
	} else {
		return false; /* a fatal error ends the watch as any other */
	}
	l->peek_request = 0;
	return true;
}

/* One buffered frame, if any: into the view, then the hook. */
static int take_frame(struct sctl_live *l, uint64_t now_ns)
{
	struct sctl_view *v = l->view;
	SptFrame *f;
	int r = sctl_conn_take(l->conn, &f);

	if (r) {
		l->end = SCTL_LIVE_CONN_ERROR;
		sctl_view_finish(v, r);
		return -1;
	}
	if (!f)
		return 0;
	if (v->tui && peek_answer(l, f)) {
		spt_frame_free(f);
		return 1;
	}
	sctl_view_frame(v, f, now_ns);
	spt_frame_free(f);
	if (l->hook && !v->violated) {
		r = l->hook(l->ctx, l->conn->last_payload, l->conn->last_len, now_ns);
		if (r) {
			stop(l, SCTL_LIVE_HOOK_ERROR, r);
			return -1;
		}
	}
	if (v->done) {
		l->end = SCTL_LIVE_VIEW_DONE;
		if (v->count_reached)
			sctl_watch_stop(l->conn, v->ws->watch_id);
		return -1;
	}
	return 1;
}

/* The keys the live loop acts on; true on quit. */
static bool handle_keys(struct sctl_live *l, int64_t now_ms)
{
	struct sctl_view *v = l->view;
	enum sctl_key_action a;

	while ((a = sctl_tui_handle_keys(v->tui)) != SCTL_KEY_NONE) {
		switch (a) {
		case SCTL_KEY_QUIT:
			return true;
		case SCTL_KEY_PAUSE:
			sctl_view_pause(v, !v->paused, now_ms);
			break;
		case SCTL_KEY_HEX:
			if (l->conn->eof)
				sctl_tui_hex_error(v->tui, sctl_tui_hex_vaddr(v->tui),
						   "the watch is over");
			else
				send_peek(l, sctl_tui_hex_vaddr(v->tui));
			break;
		default:
			break;
		}
	}
	return false;
}

int sctl_live_run(struct sctl_live *l)
{
	struct sctl_view *v = l->view;
	bool keyboard = v->tui && isatty(STDIN_FILENO);

	while (!v->done) {
		struct pollfd pfd[2] = {
		    {.fd = l->conn->fd, .events = POLLIN},
		    {.fd = STDIN_FILENO, .events = POLLIN},
		};
		uint64_t now_ns = sctl_now_ns();
		int64_t now = (int64_t)(now_ns / 1000000u), due;
		struct timespec ts;
		int r = take_frame(l, now_ns);

		if (r < 0)
			break;
		if (r > 0)
			continue; /* everything already buffered first */
		if (fflush(stdout) == EOF) {
			sctl_err("cannot write output: %s", strerror(errno));
			stop(l, SCTL_LIVE_OUTPUT_ERROR, SCTL_EXIT_RUNTIME);
			break;
		}
		if (sctl_interrupted) {
			stop(l, SCTL_LIVE_INTERRUPTED, SCTL_EXIT_OK);
			break;
		}
		if (l->deadline_ms && now >= l->deadline_ms) {
			stop(l, SCTL_LIVE_DEADLINE, SCTL_EXIT_OK);
			break;
		}
		if (l->conn->eof && !v->exited) {
			l->end = SCTL_LIVE_EOF;
			sctl_view_finish(v, sctl_fail(v->json_errors, v->pid,
						      sctl_view_seq(v), SCTL_EXIT_RUNTIME,
						      "shadowptd closed the connection"));
			break;
		}
		due = sctl_view_redraw_due(v, now);
		if (due == 0) {
			draw(l, now);
			due = sctl_view_redraw_due(v, now);
		}
		if (l->deadline_ms && (due < 0 || due > l->deadline_ms - now))
			due = l->deadline_ms - now;
		/* After EOF (target exited, TUI still up) only the keyboard. */
		pfd[0].fd = l->conn->eof ? -1 : l->conn->fd;
		ts.tv_sec = due / 1000;
		ts.tv_nsec = due % 1000 * 1000000L;
		r = ppoll(pfd, keyboard ? 2 : 1, due >= 0 ? &ts : NULL, &sctl_wait_sigmask);
		if (r < 0 && errno != EINTR) {
			sctl_err("poll: %s", strerror(errno));
			stop(l, SCTL_LIVE_CONN_ERROR, SCTL_EXIT_RUNTIME);
			break;
		}
		if (r > 0 && pfd[0].revents) {
			r = sctl_conn_fill(l->conn);
			if (r) {
				l->end = SCTL_LIVE_CONN_ERROR;
				sctl_view_finish(v, r);
				break;
			}
		}
		/* Keys, and KEY_RESIZE after SIGWINCH interrupted ppoll. */
		if (v->tui && handle_keys(l, sctl_now_ms())) {
			stop(l, SCTL_LIVE_QUIT, SCTL_EXIT_OK);
			break;
		}
	}
	fflush(stdout);
	return v->status;
}
