// SPDX-License-Identifier: GPL-2.0-or-later
/* Logging to stderr; journald adds timestamps, so only a terminal gets them. */
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "shadowpt-limits.h"

static enum spt_log_level log_max = SPT_LOG_INFO;
static bool log_journal;

void log_init(enum spt_log_level max_level)
{
	log_max = max_level;
	log_journal = getenv("JOURNAL_STREAM") != NULL;
}

void log_msg(enum spt_log_level level, const char *fmt, ...)
{
	static const char *const names[] = {
	    [SPT_LOG_ERR] = "error", [SPT_LOG_WARNING] = "warning", [SPT_LOG_NOTICE] = "notice",
	    [SPT_LOG_INFO] = "info", [SPT_LOG_DEBUG] = "debug",
	};
	char line[1024];
	va_list ap;

	if (level > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_journal) {
		fprintf(stderr, "<%d>%s\n", (int)level, line);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld shadowptd[%d] %s: %s\n", tm.tm_hour,
			tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, (int)getpid(), names[level],
			line);
	}
}

/* Readers log too; every limiter that suppressed something is on one list. */
static pthread_mutex_t rl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct spt_log_ratelimit *rl_suppressing;

static void rl_report(struct spt_log_ratelimit *rl, uint64_t now)
{
	log_msg(rl->level, "(%u similar messages suppressed in %llu s)", rl->suppressed,
		(unsigned long long)((now - rl->window_ms) / 1000));
	rl->suppressed = 0;
}

bool log_ratelimit_pass(struct spt_log_ratelimit *rl, enum spt_log_level level)
{
	uint64_t now = spt_now_ms();
	bool pass = true;

	if (level > log_max)
		return false;
	pthread_mutex_lock(&rl_lock);
	if (!rl->window_ms || now - rl->window_ms >= SPT_LOG_INTERVAL_MS) {
		if (rl->suppressed)
			rl_report(rl, now);
		rl->window_ms = now;
		rl->n = 0;
	}
	if (rl->n < SPT_LOG_BURST) {
		rl->n++;
	} else {
		if (!rl->listed) {
			rl->level = level;
			rl->next = rl_suppressing;
			rl_suppressing = rl;
			rl->listed = true;
		}
		rl->suppressed++;
		pass = false;
	}
	pthread_mutex_unlock(&rl_lock);
	return pass;
}

void log_ratelimit_flush(void)
{
	uint64_t now = spt_now_ms();

	pthread_mutex_lock(&rl_lock);
	for (struct spt_log_ratelimit *rl = rl_suppressing; rl; rl = rl->next)
		if (rl->suppressed)
			rl_report(rl, now);
	pthread_mutex_unlock(&rl_lock);
}
