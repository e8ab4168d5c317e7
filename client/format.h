/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Names and short strings for protocol values, shared by all renderers. */
#ifndef SHADOWCTL_FORMAT_H
#define SHADOWCTL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state.h"
#include "wire.h"

const char *sctl_visibility_name(int visibility); /* "raw", "token", "hidden" */
const char *sctl_kind_name(int kind);		  /* "anon", ..., "unknown" */
/* WatchMode: "events", "polling", or NULL when not said. */
const char *sctl_mode_name(int mode);
/* WatchState: "live", "stalled", "failing", or NULL when not said. */
const char *sctl_watch_state_name(int state);
/* "rw-p" style: 5 bytes including the NUL. */
void sctl_perms(char out[5], uint32_t prot, bool shared);
/*
 * Comma-separated flag names ("allocated,anonymous,mapped"), "-" for none,
 * unknown bits as hex. Truncates to size.
 */
void sctl_flags_str(char *out, size_t size, uint32_t flags);
/* Name of one flag bit; unknown bits get NULL. */
const char *sctl_flag_bit_name(uint32_t bit);

/* Whether a page's pfn is shown: mapped and not hidden by the daemon. */
bool sctl_pfn_shown(int visibility, uint32_t flags);

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if invalid. */
size_t sctl_utf8_valid_len(const unsigned char *s, size_t n);
/*
 * How a name (VMA, comm, message) is shown on one line and a sane
 * terminal: the length of the next unit at s, and whether it must be
 * escaped as "\xNN" (then its length is 1): control characters (C0,
 * DEL and C1), backslashes and invalid UTF-8. One rule for the text
 * output and the live view.
 */
size_t sctl_name_unit(const unsigned char *s, size_t n, bool *escape);
/*
 * s escaped that way into out (NUL-terminated), cut at a whole unit so
 * that it fits in size bytes and, when width > 0, in width terminal
 * columns (an escape takes four, a wide character two). Returns the
 * columns used.
 */
size_t sctl_name_escape(char *out, size_t size, const char *s, size_t width);

/*
 * Copies in to out (NUL-terminated, truncated to whole characters) with
 * control characters and invalid UTF-8 bytes replaced by '?': safe to
 * put on a terminal.
 */
void sctl_printable(char *out, size_t size, const char *in);

#endif
