/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadowptd logging: one line per event on stderr. Under systemd (stderr
 * connected to the journal, JOURNAL_STREAM set) each line carries a
 * "<N>" syslog priority prefix so journald records the level.
 */
#ifndef SHADOWPTD_LOG_H
#define SHADOWPTD_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum spt_log_level {
	SPT_LOG_ERR = 3,
	SPT_LOG_WARNING = 4,
	SPT_LOG_NOTICE = 5,
	SPT_LOG_INFO = 6,
	SPT_LOG_DEBUG = 7,
};

/* Messages above max_level are dropped. Default: SPT_LOG_INFO. */
void log_init(enum spt_log_level max_level);
void log_msg(enum spt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(SPT_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(SPT_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(SPT_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(SPT_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(SPT_LOG_DEBUG, __VA_ARGS__)

/*
 * Lines a viewer can cause (one per request, per refused request, per
 * session event) go through log_rl: each call site logs at most
 * SPT_LOG_BURST lines per SPT_LOG_INTERVAL_MS, then counts what it
 * suppresses and says so once the interval is over (chrony's rate-limited
 * logging), or at exit, so that no user can flood the journal. Any thread.
 */
struct spt_log_ratelimit {
	uint64_t window_ms;
	unsigned n, suppressed;
	enum spt_log_level level;
	bool listed; /* on the list log_ratelimit_flush reports */
	struct spt_log_ratelimit *next;
};

/* True if this line may go out (and reports what was suppressed before). */
bool log_ratelimit_pass(struct spt_log_ratelimit *rl, enum spt_log_level level);
/* Reports what every limiter suppressed since its last line (at exit). */
void log_ratelimit_flush(void);

#define log_rl(level, ...)                                                     \
	do {                                                                   \
		static struct spt_log_ratelimit spt_rl_;                       \
		if (log_ratelimit_pass(&spt_rl_, (level)))                     \
			log_msg((level), __VA_ARGS__);                         \
	} while (0)

#endif
