/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What each key means in the live view, and the one-line prompts for an
 * address (g) and a time (t): a pure state machine over key codes (the
 * ncurses KEY_* values), so the key map is unit tested without a
 * terminal. The help screen (render-tui.c) lists the same table.
 */
#ifndef SHADOWCTL_TUI_KEYS_H
#define SHADOWCTL_TUI_KEYS_H

#include <stdbool.h>
#include <stddef.h>

enum sctl_key_action {
	SCTL_KEY_NONE,	  /* consumed (typing into a prompt), or not a key of ours */
	SCTL_KEY_QUIT,
	SCTL_KEY_UP,
	SCTL_KEY_DOWN,
	SCTL_KEY_LEFT,
	SCTL_KEY_RIGHT,
	SCTL_KEY_PAGE_UP,
	SCTL_KEY_PAGE_DOWN,
	SCTL_KEY_HOME,
	SCTL_KEY_END,
	SCTL_KEY_ZOOM_IN,  /* fewer pages per cell */
	SCTL_KEY_ZOOM_OUT,
	SCTL_KEY_NEXT_VMA,
	SCTL_KEY_PREV_VMA,
	SCTL_KEY_NEXT_CHANGED, /* the next page that changed recently */
	SCTL_KEY_PREV_CHANGED,
	SCTL_KEY_GOTO,	  /* prompt done: address in text */
	SCTL_KEY_HEX,	  /* hex view of the selected page on/off */
	SCTL_KEY_PAUSE,
	SCTL_KEY_HELP,
	SCTL_KEY_ESCAPE, /* close help or hex view */
	SCTL_KEY_STEP,	 /* replay: one delta */
	SCTL_KEY_SEEK,	 /* replay: prompt done, time in text */
	SCTL_KEY_FASTER, /* replay speed x2 */
	SCTL_KEY_SLOWER,
	SCTL_KEY_RESIZE,
	SCTL_KEY_PROMPT, /* a prompt opened, changed or closed: redraw it */
};

enum sctl_prompt { SCTL_PROMPT_NONE, SCTL_PROMPT_GOTO, SCTL_PROMPT_SEEK };

struct sctl_keys {
	bool replay; /* step, seek and speed keys are live */
	enum sctl_prompt prompt;
	char text[40];
	size_t len;
};

/* One key; GOTO and SEEK come with the prompt's text in k->text. */
enum sctl_key_action sctl_keys_feed(struct sctl_keys *k, int key);

/* The prompt's label ("go to address: "), NULL when no prompt is open. */
const char *sctl_keys_prompt_label(const struct sctl_keys *k);

/* The help screen's lines: key, then what it does; NULL-terminated. */
struct sctl_key_help {
	const char *keys, *what;
	bool replay_only;
};
extern const struct sctl_key_help sctl_key_help[];

#endif
