/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the live view's key map and prompts (tui-keys.c). */
#include <curses.h>
#include <string.h>

#include "test-common.h"
#include "tui-keys.h"

static enum sctl_key_action feed(struct sctl_keys *k, const char *keys)
{
	enum sctl_key_action a = SCTL_KEY_NONE;

	for (; *keys; keys++)
		a = sctl_keys_feed(k, (unsigned char)*keys);
	return a;
}

int main(void)
{
	struct sctl_keys live = {0}, rep = {.replay = true};

	EXPECT(sctl_keys_feed(&live, 'q') == SCTL_KEY_QUIT);
	EXPECT(sctl_keys_feed(&live, KEY_UP) == SCTL_KEY_UP);
	EXPECT(sctl_keys_feed(&live, 'j') == SCTL_KEY_DOWN);
	EXPECT(sctl_keys_feed(&live, '+') == SCTL_KEY_ZOOM_IN);
	EXPECT(sctl_keys_feed(&live, '-') == SCTL_KEY_ZOOM_OUT);
	EXPECT(sctl_keys_feed(&live, 'n') == SCTL_KEY_NEXT_VMA);
	EXPECT(sctl_keys_feed(&live, 'N') == SCTL_KEY_PREV_VMA);
	EXPECT(sctl_keys_feed(&live, 'c') == SCTL_KEY_NEXT_CHANGED);
	EXPECT(sctl_keys_feed(&live, 'p') == SCTL_KEY_PAUSE);
	EXPECT(sctl_keys_feed(&live, '?') == SCTL_KEY_HELP);
	EXPECT(sctl_keys_feed(&live, 'x') == SCTL_KEY_HEX);
	CHECK(sctl_keys_feed(&live, '.') == SCTL_KEY_NONE, "step is a replay key only");
	CHECK(sctl_keys_feed(&live, 't') == SCTL_KEY_NONE, "seek is a replay key only");

	CHECK(sctl_keys_feed(&live, 'g') == SCTL_KEY_PROMPT && live.prompt == SCTL_PROMPT_GOTO,
	      "g opens the address prompt");
	CHECK(sctl_keys_prompt_label(&live) != NULL, "the prompt has a label");
	CHECK(feed(&live, "0x7fzq1") == SCTL_KEY_PROMPT && !strcmp(live.text, "0x7f1"),
	      "only address characters are typed, q does not quit: '%s'", live.text);
	sctl_keys_feed(&live, KEY_BACKSPACE);
	CHECK(!strcmp(live.text, "0x7f"), "backspace");
	CHECK(sctl_keys_feed(&live, '\r') == SCTL_KEY_GOTO && !strcmp(live.text, "0x7f") &&
		  live.prompt == SCTL_PROMPT_NONE,
	      "Enter completes the address");
	sctl_keys_feed(&live, 'g');
	feed(&live, "12");
	CHECK(sctl_keys_feed(&live, 27) == SCTL_KEY_PROMPT && live.prompt == SCTL_PROMPT_NONE,
	      "Esc cancels the prompt");
	sctl_keys_feed(&live, 'g');
	CHECK(sctl_keys_feed(&live, '\n') == SCTL_KEY_PROMPT, "an empty prompt does nothing");
	sctl_keys_feed(&live, 'g');
	for (int i = 0; i < 100; i++)
		sctl_keys_feed(&live, 'f');
	CHECK(live.len == sizeof(live.text) - 1, "the prompt text is bounded");
	sctl_keys_feed(&live, 27);

	EXPECT(sctl_keys_feed(&rep, '.') == SCTL_KEY_STEP);
	EXPECT(sctl_keys_feed(&rep, '>') == SCTL_KEY_FASTER);
	EXPECT(sctl_keys_feed(&rep, '<') == SCTL_KEY_SLOWER);
	CHECK(sctl_keys_feed(&rep, 't') == SCTL_KEY_PROMPT && rep.prompt == SCTL_PROMPT_SEEK,
	      "t opens the time prompt");
	CHECK(feed(&rep, "-2.5\r") == SCTL_KEY_SEEK && !strcmp(rep.text, "-2.5"),
	      "the seek time comes back");
	return spt_test_done();
}
