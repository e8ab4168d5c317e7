/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the shadowctl commands share: exit codes, global options and the
 * command entry points. Each command lives in its own cmd-*.c file.
 */
#ifndef SHADOWCTL_H
#define SHADOWCTL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "state.h"
#include "wire.h"

/* Exit codes, documented in --help and shadowctl(1). */
enum sctl_exit {
	SCTL_EXIT_OK = 0,
	SCTL_EXIT_RUNTIME = 1,	  /* runtime error, error reported by the daemon */
	SCTL_EXIT_USAGE = 2,	  /* bad command line (or range refused) */
	SCTL_EXIT_PROTOCOL = 3,	  /* the daemon violated the protocol */
	SCTL_EXIT_PERMISSION = 4, /* not allowed to watch/peek the target */
	SCTL_EXIT_NO_PROCESS = 5, /* no such process, or gone before the watch */
	SCTL_EXIT_CONNECT = 6,	  /* cannot connect to shadowptd */
	SCTL_EXIT_RECORDING = 7,  /* recording damaged, cut short or of a newer format */
};

#define SCTL_DEFAULT_SOCKET "/run/shadowptd/shadowptd.sock"
#define SCTL_SOCKET_ENV	    "SHADOWPT_SOCKET"
/* Debug aid for tests: after the sandbox is installed, try openat() ("1") or socket(). */
#define SCTL_SANDBOX_SELFTEST_ENV "SHADOWCTL_SANDBOX_SELFTEST"

struct sctl_global {
	const char *socket_path;
	bool json;
	const char *sandbox_selftest; /* NULL, or what the selftest tries */
};

/* Set by the SIGINT/SIGTERM handler; signals stay blocked outside ppoll. */
extern volatile sig_atomic_t sctl_interrupted;
/* The signal mask to use inside ppoll (SIGINT/SIGTERM unblocked). */
extern sigset_t sctl_wait_sigmask;

/* While on, sctl_err output is kept until turned off (TUI active). */
void sctl_err_defer(bool on);
/* Prints "shadowctl: <fmt>" on stderr. */
void sctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error and a hint at --help; returns SCTL_EXIT_USAGE. */
int sctl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The usage error for what getopt_long() returned instead of an option
 * (its optstring starts with ':' and opterr is 0, so it printed nothing):
 * an unknown option, a missing argument, or a negative number where a
 * PID was meant.
 */
int sctl_option_error(const char *cmd, int argc, char **argv, int c);

/* Installs the sandbox (and runs the selftest when asked); exit code. */
int sctl_enter_sandbox(const struct sctl_global *g);

int sctl_cmd_watch(const struct sctl_global *g, int argc, char **argv);
int sctl_cmd_snapshot(const struct sctl_global *g, int argc, char **argv);
int sctl_cmd_peek(const struct sctl_global *g, int argc, char **argv);
int sctl_cmd_status(const struct sctl_global *g, int argc, char **argv);
int sctl_cmd_record(const struct sctl_global *g, int argc, char **argv);
int sctl_cmd_replay(const struct sctl_global *g, int argc, char **argv);
int sctl_cmd_plot(const struct sctl_global *g, int argc, char **argv);

void sctl_help_watch(void);
void sctl_help_snapshot(void);
void sctl_help_peek(void);
void sctl_help_status(void);
void sctl_help_record(void);
void sctl_help_replay(void);
void sctl_help_plot(void);

#endif
