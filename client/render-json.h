/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * JSON Lines output: one object per event, schema in doc/json-schema.md.
 * Every function writes one complete line (or, for the primitives, one
 * value) to f.
 */
#ifndef SHADOWCTL_RENDER_JSON_H
#define SHADOWCTL_RENDER_JSON_H

#include <stdint.h>
#include <stdio.h>

#include "table.h"
#include "wire.h"

/*
 * Writes s[0..n) as a JSON string: quotes, backslashes and control
 * characters escaped, valid UTF-8 passed through, every byte of an
 * invalid sequence replaced by \ufffd.
 */
void sctl_json_string_n(FILE *f, const char *s, size_t n);
/* NUL-terminated; NULL is written as null. */
void sctl_json_string(FILE *f, const char *s);

void sctl_json_hello(FILE *f, const Shadowpt__Welcome *w, int32_t pid);
void sctl_json_started(FILE *f, const Shadowpt__WatchStarted *ws);
/* The whole reconstructed table after the last chunk. */
void sctl_json_snapshot(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t,
			bool resync);
/* The last complete delta of t (t->delta, t->delta_info). */
void sctl_json_delta(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t);
/* A change of the watch's data source (stalled, live again, failing). seq < 0: null. */
void sctl_json_watch_status(FILE *f, const Shadowpt__WatchStarted *ws, int64_t seq,
			    const Shadowpt__WatchStatus *s);
void sctl_json_exit(FILE *f, int32_t pid, const struct sctl_table *t);
/* seq < 0: null; code < 0 (found by shadowctl, not sent by the daemon): null. */
void sctl_json_error(FILE *f, int32_t pid, int64_t seq, int code, const char *message,
		     int exit_code);
void sctl_json_status(FILE *f, const Shadowpt__StatusReply *s);
void sctl_json_peek(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t,
		    uint64_t vaddr, const uint8_t *data, size_t len);

#endif
