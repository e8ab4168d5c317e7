/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Parsing of command-line values: addresses, pids, ranges, intervals,
 * backends. Pure functions (no output, no exit) so they can be unit
 * tested; on error they return -EINVAL or -ERANGE and set *why to a
 * static explanation for the usage message.
 */
#ifndef SHADOWCTL_ARGS_H
#define SHADOWCTL_ARGS_H

#include <stdint.h>

#include "state.h"

/* Hex with 0x/0X prefix, else decimal; whole string, no sign, no overflow. */
int sctl_parse_u64(const char *s, uint64_t *out);
/* A user-space address (below the 47-bit limit). */
int sctl_parse_addr(const char *s, uint64_t *out, const char **why);
int sctl_parse_pid(const char *s, int32_t *out, const char **why);
/* START:END, both page aligned, START < END, END <= user address limit. */
int sctl_parse_range(const char *s, struct spt_range *out, const char **why);
/* MIN_MS[:MAX_MS] within the daemon's floor and ceiling, MIN <= MAX. */
int sctl_parse_interval(const char *s, uint32_t *min_ms, uint32_t *max_ms, const char **why);
/* "auto", "kernel" or "procfs" -> Shadowpt__Backend value. */
int sctl_parse_backend(const char *s, int *backend, const char **why);
/* A positive count. */
int sctl_parse_count(const char *s, uint64_t *out, const char **why);

/*
 * A plain decimal "12", "2.5" or ".25" (no sign, no exponent) times
 * scale, rounded down: seconds with scale 1e9 give nanoseconds.
 */
int sctl_parse_decimal(const char *s, uint64_t scale, uint64_t *out);
/* A duration in seconds, above 0 and at most SCTL_MAX_DURATION_S -> ns. */
int sctl_parse_duration(const char *s, uint64_t *ns, const char **why);
/*
 * A replay speed: "max" (as fast as possible: *speed = 0) or a factor
 * from 1/64 to 1024 ("4", "0.5").
 */
int sctl_parse_speed(const char *s, double *speed, const char **why);
/* A time into a recording: seconds, "+S" or "-S" relative to now. */
int sctl_parse_seek(const char *s, int64_t now_ns, int64_t *to_ns);

/* --socket beats $SHADOWPT_SOCKET beats the default path. */
const char *sctl_socket_path(const char *opt, const char *env);

/* The longest --duration: a week. */
#define SCTL_MAX_DURATION_S (7ull * 24 * 3600)
#define SCTL_MIN_SPEED	    (1.0 / 64)
#define SCTL_MAX_SPEED	    1024.0

/* One past the highest user page: the largest valid range end. */
#define SCTL_USER_ADDR_END (SPT_USER_ADDR_MAX + SPT_PAGE_SIZE)

#endif
