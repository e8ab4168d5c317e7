/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Key map and prompts of the live view; see tui-keys.h. */
#include <curses.h>
#include <string.h>

#include "tui-keys.h"

#define KEY_ESC	      27
#define KEY_CTRL(c)   ((c) & 0x1f)

const struct sctl_key_help sctl_key_help[] = {
    {"arrows, h j k l", "move the cursor one cell", false},
    {"PgUp PgDn, b Space", "a screen up or down", false},
    {"Home End", "first or last page", false},
    {"+ -", "zoom in or out: 1, 8, 64 or 512 pages per cell", false},
    {"n N", "next or previous VMA", false},
    {"c C", "next or previous recently changed page", false},
    {"g", "go to an address (hex)", false},
    {"x Enter", "hex view of the selected page (peek)", false},
    {"p", "pause: the screen stops following the target", false},
    {".", "step one delta (pauses)", true},
    {"t", "seek to a time: seconds, +S or -S", true},
    {"< >", "half or double speed", true},
    {"?", "this help", false},
    {"Esc", "close the help, the hex view or a prompt", false},
    {"q", "quit", false},
    {NULL, NULL, false},
};

static enum sctl_key_action prompt_key(struct sctl_keys *k, int key)
{
	enum sctl_prompt p = k->prompt;

	switch (key) {
	case KEY_ESC:
	case KEY_CTRL('c'):
	case KEY_CTRL('g'):
		k->prompt = SCTL_PROMPT_NONE;
		return SCTL_KEY_PROMPT;
	case '\r':
	case '\n':
	case KEY_ENTER:
		k->prompt = SCTL_PROMPT_NONE;
		k->text[k->len] = '\0';
		if (!k->len)
			return SCTL_KEY_PROMPT;
		return p == SCTL_PROMPT_GOTO ? SCTL_KEY_GOTO : SCTL_KEY_SEEK;
	case KEY_BACKSPACE:
	case 127:
	case '\b':
		if (k->len)
			k->len--;
		k->text[k->len] = '\0';
		return SCTL_KEY_PROMPT;
	case KEY_RESIZE:
		return SCTL_KEY_RESIZE;
	}
	/* Addresses and times: hex digits, x, '.', '+', '-', ':' only. */
	if (key < 0x80 && strchr("0123456789abcdefABCDEFxX.+-:", key) && key &&
	    k->len + 1 < sizeof(k->text)) {
		k->text[k->len++] = (char)key;
		k->text[k->len] = '\0';
	}
	return SCTL_KEY_PROMPT;
}

static enum sctl_key_action open_prompt(struct sctl_keys *k, enum sctl_prompt p)
{
	k->prompt = p;
	k->len = 0;
	k->text[0] = '\0';
	return SCTL_KEY_PROMPT;
}

enum sctl_key_action sctl_keys_feed(struct sctl_keys *k, int key)
{
	if (k->prompt != SCTL_PROMPT_NONE)
		return prompt_key(k, key);
	switch (key) {
	case 'q':
	case 'Q':
		return SCTL_KEY_QUIT;
	case KEY_UP:
	case 'k':
		return SCTL_KEY_UP;
	case KEY_DOWN:
	case 'j':
		return SCTL_KEY_DOWN;
	case KEY_LEFT:
	case 'h':
		return SCTL_KEY_LEFT;
	case KEY_RIGHT:
	case 'l':
		return SCTL_KEY_RIGHT;
	case KEY_PPAGE:
	case 'b':
		return SCTL_KEY_PAGE_UP;
	case KEY_NPAGE:
	case ' ':
		return SCTL_KEY_PAGE_DOWN;
	case KEY_HOME:
		return SCTL_KEY_HOME;
	case KEY_END:
	case 'G':
		return SCTL_KEY_END;
	case '+':
	case '=':
		return SCTL_KEY_ZOOM_IN;
	case '-':
	case '_':
		return SCTL_KEY_ZOOM_OUT;
	case 'n':
	case '\t':
		return SCTL_KEY_NEXT_VMA;
	case 'N':
	case KEY_BTAB:
		return SCTL_KEY_PREV_VMA;
	case 'c':
		return SCTL_KEY_NEXT_CHANGED;
	case 'C':
		return SCTL_KEY_PREV_CHANGED;
	case 'g':
		return open_prompt(k, SCTL_PROMPT_GOTO);
	case 'x':
	case '\r':
	case '\n':
	case KEY_ENTER:
		return SCTL_KEY_HEX;
	case 'p':
	case 'P':
		return SCTL_KEY_PAUSE;
	case '?':
	case KEY_F(1):
		return SCTL_KEY_HELP;
	case KEY_ESC:
		return SCTL_KEY_ESCAPE;
	case KEY_RESIZE:
		return SCTL_KEY_RESIZE;
	}
	if (!k->replay)
		return SCTL_KEY_NONE;
	switch (key) {
	case '.':
		return SCTL_KEY_STEP;
	case 't':
	case 'T':
		return open_prompt(k, SCTL_PROMPT_SEEK);
	case '>':
		return SCTL_KEY_FASTER;
	case '<':
		return SCTL_KEY_SLOWER;
	}
	return SCTL_KEY_NONE;
}

const char *sctl_keys_prompt_label(const struct sctl_keys *k)
{
	switch (k->prompt) {
	case SCTL_PROMPT_GOTO:
		return "go to address (hex, Enter): ";
	case SCTL_PROMPT_SEEK:
		return "seek to time (s, +s, -s; Enter): ";
	default:
		return NULL;
	}
}
