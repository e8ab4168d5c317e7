/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The live page map on a terminal (ncursesw): a header with the watch and
 * its counters; the map of tui-layout.h, zoomable (1, 8, 64 or 512 pages
 * per cell) with a cursor; a pane with the selected page's details
 * (tui-detail.h); a hex view of its bytes; a help screen; a legend of
 * every glyph. Opened before the sandbox (terminfo is read from files),
 * used after it. The caller owns the data: it feeds the table to draw and
 * answers the requests keys make (pause, peek, replay control).
 */
#ifndef SHADOWCTL_RENDER_TUI_H
#define SHADOWCTL_RENDER_TUI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "table.h"
#include "tui-keys.h"
#include "wire.h"

struct sctl_tui;

struct sctl_tui_header {
	const Shadowpt__WatchStarted *ws; /* NULL until the watch started */
	int32_t pid;
	double deltas_per_sec;
	const char *message; /* e.g. "TARGET EXITED (q to quit)", or NULL */
	const char *status;  /* replay: position, speed; or NULL */
	bool paused;	     /* the screen is not following the table */
	uint64_t behind;     /* deltas since the pause */
	int watch_state;     /* WatchStatus state, 0 when never said */
	const char *watch_message;
};

/* Takes over the terminal on stdin/stdout; NULL if TERM is unusable. */
struct sctl_tui *sctl_tui_open(void);
/* Restores the terminal. */
void sctl_tui_close(struct sctl_tui *tui);

/* Replay: the step, seek and speed keys are live. */
void sctl_tui_set_replay(struct sctl_tui *tui, bool replay);
/*
 * Reads pending keys (call when stdin is readable or after a signal such
 * as SIGWINCH) and acts on those that only change the view (cursor, zoom,
 * go to, help, hex view scrolling). Returns the first key the caller must
 * act on, or SCTL_KEY_NONE once no key is left: call it until then.
 *   QUIT, PAUSE, STEP, FASTER, SLOWER: as they say;
 *   SEEK: the time is in sctl_tui_prompt_text();
 *   HEX: the hex view opened on sctl_tui_hex_vaddr(); the caller answers
 *        with sctl_tui_hex_data() or sctl_tui_hex_error().
 */
enum sctl_key_action sctl_tui_handle_keys(struct sctl_tui *tui);
/* The text of the prompt just completed (SCTL_KEY_SEEK). */
const char *sctl_tui_prompt_text(const struct sctl_tui *tui);
/* The page the hex view asks for. */
uint64_t sctl_tui_hex_vaddr(const struct sctl_tui *tui);
/* The page's bytes (a Peek reply), or why there are none. */
void sctl_tui_hex_data(struct sctl_tui *tui, uint64_t vaddr, const uint8_t *data, size_t len);
void sctl_tui_hex_error(struct sctl_tui *tui, uint64_t vaddr, const char *why);
/* Whether the hex view is open and waits for vaddr's bytes. */
bool sctl_tui_hex_pending(const struct sctl_tui *tui, uint64_t vaddr);

/* Whether keys or a resize asked for a redraw since the last one. */
bool sctl_tui_needs_redraw(const struct sctl_tui *tui);
/*
 * Redraws t (which must stay valid until the next draw: keys are
 * resolved against it); rebuilds the layout when it changed. now_ms is
 * the table's clock (highlights, "changed ... ago").
 */
void sctl_tui_draw(struct sctl_tui *tui, const struct sctl_tui_header *h,
		   const struct sctl_table *t, bool table_changed, int64_t now_ms);

#endif
