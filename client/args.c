/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Command-line value parsing; see args.h. */
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "shadowctl.h"
#include "shadowpt-limits.h"
#include "shadowpt.pb-c.h"

static int digit_value(char c, unsigned base)
{
	unsigned v;

	if (c >= '0' && c <= '9')
		v = (unsigned)(c - '0');
	else if (c >= 'a' && c <= 'f')
		v = (unsigned)(c - 'a') + 10;
	else if (c >= 'A' && c <= 'F')
		v = (unsigned)(c - 'A') + 10;
	else
		return -1;
	return v < base ? (int)v : -1;
}

/* strtoull accepts signs, spaces and empty strings; do it by hand. */
int sctl_parse_u64(const char *s, uint64_t *out)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -EINVAL;
	}
	for (; *s; s++) {
		int d = digit_value(*s, base);

		if (d < 0)
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -ERANGE;
		v = v * base + (uint64_t)d;
	}
	*out = v;
	return 0;
}

int sctl_parse_addr(const char *s, uint64_t *out, const char **why)
{
	int r = sctl_parse_u64(s, out);

	if (r == -EINVAL) {
		*why = "not a number (use hex 0x... or decimal)";
		return r;
	}
	if (r < 0 || *out >= SCTL_USER_ADDR_END) {
		*why = "address beyond the user address space (0x800000000000)";
		return -ERANGE;
	}
	return 0;
}

int sctl_parse_pid(const char *s, int32_t *out, const char **why)
{
	uint64_t v;
	int r = sctl_parse_u64(s, &v);

	if (r == -EINVAL || (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))) {
		*why = "not a process id";
		return -EINVAL;
	}
	if (r < 0 || v == 0 || v > INT32_MAX) {
		*why = "process id out of range";
		return -ERANGE;
	}
	*out = (int32_t)v;
	return 0;
}

int sctl_parse_range(const char *s, struct spt_range *out, const char **why)
{
	const char *colon = strchr(s, ':');
	char start_buf[32];
	size_t n;
	uint64_t start, end;

	if (!colon || strchr(colon + 1, ':')) {
		*why = "expected START:END";
		return -EINVAL;
	}
	n = (size_t)(colon - s);
	if (n >= sizeof(start_buf)) {
		*why = "START is not a number";
		return -EINVAL;
	}
	memcpy(start_buf, s, n);
	start_buf[n] = '\0';
	if (sctl_parse_u64(start_buf, &start) < 0) {
		*why = "START is not a number (use hex 0x... or decimal)";
		return -EINVAL;
	}
	if (sctl_parse_u64(colon + 1, &end) < 0) {
		*why = "END is not a number (use hex 0x... or decimal)";
		return -EINVAL;
	}
	if ((start | end) & (SPT_PAGE_SIZE - 1)) {
		*why = "START and END must be page aligned (multiples of 0x1000)";
		return -EINVAL;
	}
	if (start >= end) {
		*why = "START must be below END";
		return -EINVAL;
	}
	if (end > SCTL_USER_ADDR_END) {
		*why = "END is beyond the user address space (0x800000000000)";
		return -ERANGE;
	}
	out->start = start;
	out->end = end;
	return 0;
}

static int parse_ms(const char *s, uint32_t *out)
{
	uint64_t v;

	if (sctl_parse_u64(s, &v) < 0 || v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int sctl_parse_interval(const char *s, uint32_t *min_ms, uint32_t *max_ms, const char **why)
{
	const char *colon = strchr(s, ':');
	char buf[32];
	uint32_t lo, hi;

	if (colon) {
		size_t n = (size_t)(colon - s);

		if (n >= sizeof(buf)) {
			*why = "MIN_MS is not a number";
			return -EINVAL;
		}
		memcpy(buf, s, n);
		buf[n] = '\0';
		if (parse_ms(buf, &lo) < 0 || parse_ms(colon + 1, &hi) < 0) {
			*why = "expected MIN_MS[:MAX_MS] in milliseconds";
			return -EINVAL;
		}
	} else {
		if (parse_ms(s, &lo) < 0) {
			*why = "expected MIN_MS[:MAX_MS] in milliseconds";
			return -EINVAL;
		}
		hi = 0; /* the daemon's default maximum */
	}
	if (lo < SPT_SAMPLE_MIN_MS_FLOOR || lo > SPT_SAMPLE_MAX_MS_CEIL ||
	    (colon && (hi < SPT_SAMPLE_MIN_MS_FLOOR || hi > SPT_SAMPLE_MAX_MS_CEIL))) {
		*why = "intervals must lie within 5..10000 ms";
		return -ERANGE;
	}
	if (colon && lo > hi) {
		*why = "MIN_MS must not exceed MAX_MS";
		return -EINVAL;
	}
	*min_ms = lo;
	*max_ms = hi;
	return 0;
}

int sctl_parse_backend(const char *s, int *backend, const char **why)
{
	int b = spt_backend_parse(s);

	if (b < 0) {
		*why = "expected auto, kernel or procfs";
		return -EINVAL;
	}
	*backend = b;
	return 0;
}

int sctl_parse_count(const char *s, uint64_t *out, const char **why)
{
	int r = sctl_parse_u64(s, out);

	if (r < 0 || *out == 0) {
		*why = "expected a positive number";
		return r < 0 ? r : -EINVAL;
	}
	return 0;
}

int sctl_parse_decimal(const char *s, uint64_t scale, uint64_t *out)
{
	uint64_t whole = 0, frac = 0, div = 1;
	const char *p = s;
	bool digits = false;

	for (; *p >= '0' && *p <= '9'; p++, digits = true) {
		if (whole > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, digits = true) {
			/* digits below the scale's resolution do not matter */
			if (div < scale) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				div *= 10;
			}
		}
	}
	if (!digits || *p)
		return -EINVAL;
	if (whole > UINT64_MAX / scale)
		return -ERANGE;
	*out = whole * scale + frac * scale / div;
	return 0;
}

int sctl_parse_duration(const char *s, uint64_t *ns, const char **why)
{
	int r = sctl_parse_decimal(s, 1000000000ull, ns);

	if (r == -EINVAL) {
		*why = "expected seconds, e.g. 10 or 2.5";
		return r;
	}
	if (r < 0 || *ns > SCTL_MAX_DURATION_S * 1000000000ull) {
		*why = "longer than a week";
		return -ERANGE;
	}
	if (*ns == 0) {
		*why = "must be above 0";
		return -EINVAL;
	}
	return 0;
}

int sctl_parse_speed(const char *s, double *speed, const char **why)
{
	uint64_t milli;

	if (!strcmp(s, "max")) {
		*speed = 0;
		return 0;
	}
	if (sctl_parse_decimal(s, 1000000, &milli) < 0 || milli < 1000000 / 64 ||
	    milli > (uint64_t)SCTL_MAX_SPEED * 1000000) {
		*why = "expected a factor from 0.015625 (1/64) to 1024, or max";
		return -EINVAL;
	}
	*speed = (double)milli / 1e6;
	return 0;
}

int sctl_parse_seek(const char *s, int64_t now_ns, int64_t *to_ns)
{
	int sign = 0;
	uint64_t ns;

	if (*s == '+' || *s == '-')
		sign = *s++ == '+' ? 1 : -1;
	if (sctl_parse_decimal(s, 1000000000ull, &ns) < 0 || ns > (uint64_t)INT64_MAX / 2)
		return -EINVAL;
	*to_ns = sign ? now_ns + sign * (int64_t)ns : (int64_t)ns;
	if (*to_ns < 0)
		*to_ns = 0;
	return 0;
}

const char *sctl_socket_path(const char *opt, const char *env)
{
	if (opt && *opt)
		return opt;
	if (env && *env)
		return env;
	return SCTL_DEFAULT_SOCKET;
}
