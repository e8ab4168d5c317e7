/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Plain-text output: one line per event for `watch` without a terminal,
 * the full table for `snapshot`, the hexdump for `peek`, the status
 * report.
 */
#ifndef SHADOWCTL_RENDER_TEXT_H
#define SHADOWCTL_RENDER_TEXT_H

#include <stdint.h>
#include <stdio.h>

#include "table.h"
#include "wire.h"

void sctl_text_started(FILE *f, const Shadowpt__WatchStarted *ws);
/* "snapshot pid=.. seq=.. vmas=.. pages=.." */
void sctl_text_snapshot_line(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t,
			     bool resync);
/* The summary line, then every VMA, then every run of page entries. */
void sctl_text_table(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t);
/* "delta pid=.. seq=.." then "-vma", "+vma" and one line per run, of t's last delta. */
void sctl_text_delta(FILE *f, const Shadowpt__WatchStarted *ws, const struct sctl_table *t);
/* "watch-status pid=.. watch=.. state=stalled mode=.. message=\"..\"" */
void sctl_text_watch_status(FILE *f, const Shadowpt__WatchStarted *ws,
			    const Shadowpt__WatchStatus *s);
void sctl_text_exit(FILE *f, int32_t pid, const struct sctl_table *t);
void sctl_text_status(FILE *f, const Shadowpt__StatusReply *s);
/* Like hexdump -C, with virtual addresses as offsets; repeats squeezed. */
void sctl_text_hexdump(FILE *f, uint64_t base, const uint8_t *data, size_t len);

#endif
