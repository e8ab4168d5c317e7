/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live page map on a terminal (ncursesw): a header with the watch and
 * its counters, then the layout of tui-layout.h, scrollable. Opened
 * before the sandbox (terminfo is read from files), used after it.
 */
#ifndef SHADOWCTL_RENDER_TUI_H
#define SHADOWCTL_RENDER_TUI_H

#include <stdbool.h>
#include <stdint.h>

#include "table.h"
#include "tui-keys.h"
#include "wire.h"

struct sctl_tui;

struct sctl_tui_header {
	const Shadowpt__WatchStarted *ws; /* NULL until the watch started */
	int32_t pid;
	double deltas_per_sec;
	const char *message; /* e.g. "target exited", or NULL */
};

/* Takes over the terminal on stdin/stdout; NULL if TERM is unusable. */
struct sctl_tui *sctl_tui_open(void);
/* Restores the terminal. */
void sctl_tui_close(struct sctl_tui *tui);

/* Replay: the step, seek and speed keys are live. */
void sctl_tui_set_replay(struct sctl_tui *tui, bool replay);
/*
 * Reads pending keys (call when stdin is readable or after a signal such
 * as SIGWINCH) and acts on those that only move the view. Returns the
 * first key the caller must act on (quit, pause, step, seek, speed), or
 * SCTL_KEY_NONE once no key is left: call it until then.
 */
enum sctl_key_action sctl_tui_handle_keys(struct sctl_tui *tui);
/* The text of the prompt just completed (SCTL_KEY_SEEK, SCTL_KEY_GOTO). */
const char *sctl_tui_prompt_text(const struct sctl_tui *tui);
/* Whether keys or a resize asked for a redraw since the last one. */
bool sctl_tui_needs_redraw(const struct sctl_tui *tui);
/* Redraws; rebuilds the layout when the table changed or on resize. */
void sctl_tui_draw(struct sctl_tui *tui, const struct sctl_tui_header *h,
		   const struct sctl_table *t, bool table_changed, int64_t now_ms);

#endif
