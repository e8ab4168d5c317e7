/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadowptd logging: one line per event on stderr. Under systemd (stderr
 * connected to the journal, JOURNAL_STREAM set) each line carries a
 * "<N>" syslog priority prefix so journald records the level.
 */
#ifndef SHADOWPTD_LOG_H
#define SHADOWPTD_LOG_H

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

#endif
