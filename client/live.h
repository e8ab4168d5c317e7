/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The loop of a live watch, shared by `watch` and `record`: frames from
 * the daemon into a view (and, once the view accepted them, to a hook:
 * the recorder), the live view's keys and redraws (and the Peek requests
 * of its hex view), Ctrl-C and an optional deadline. Everything buffered is handled before the next
 * poll, and keys are read on every turn, so the keyboard stays live
 * while a large snapshot streams in.
 */
#ifndef SHADOWCTL_LIVE_H
#define SHADOWCTL_LIVE_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "view.h"

/* Why the loop ended. */
enum sctl_live_end {
	SCTL_LIVE_VIEW_DONE,   /* the view finished: exit, error frame, --count, violation */
	SCTL_LIVE_INTERRUPTED, /* Ctrl-C or SIGTERM */
	SCTL_LIVE_DEADLINE,
	SCTL_LIVE_QUIT,	       /* 'q' in the live view */
	SCTL_LIVE_EOF,	       /* the daemon closed the connection */
	SCTL_LIVE_CONN_ERROR,  /* reading failed or a frame did not decode */
	SCTL_LIVE_HOOK_ERROR,
	SCTL_LIVE_OUTPUT_ERROR, /* stdout could not be written */
};

/* Gets each accepted frame's payload as received; returns 0 or an exit code. */
typedef int (*sctl_live_hook)(void *ctx, const uint8_t *payload, size_t len,
			      uint64_t recv_ns);

struct sctl_live {
	struct sctl_conn *conn;
	struct sctl_view *view;
	int64_t deadline_ms; /* sctl_now_ms() time to stop; 0: none */
	sctl_live_hook hook;
	void *ctx;
	enum sctl_live_end end; /* set by sctl_live_run */
	uint32_t peek_request; /* the hex view's Peek in flight, 0: none */
	uint64_t peek_vaddr;
};

/* Runs until the watch ends; returns the exit code (also in view->status). */
int sctl_live_run(struct sctl_live *l);

#endif
