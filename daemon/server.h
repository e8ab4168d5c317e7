/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The listener and the event loop of shadowptd; the modules below it: README.md. */
#ifndef SHADOWPTD_SERVER_H
#define SHADOWPTD_SERVER_H

#include <sys/types.h>

#include "globals.h"
/* For harnesses that drive client_accept()ed connections (tests/fuzz/fuzz-conn.c). */
#include "request.h"
#include "wire.h"

/* Default socket path (DESIGN.md section 3). */
#define SPT_DEFAULT_RUNTIME_DIR "/run/shadowptd"
#define SPT_DEFAULT_SOCKET	SPT_DEFAULT_RUNTIME_DIR "/shadowptd.sock"

/*
 * Takes the listening sockets: systemd's (sd_listen_fds) or our own bound
 * to spt_opts.socket_path. Must run before privileges are dropped (the
 * runtime directory lives in /run). 0 or -errno (already logged).
 * SIGTERM and SIGINT stay blocked from here until server_run() handles
 * them, so the daemon never dies with its socket left behind.
 */
int server_listen(void);
/* Closes the listeners and removes a socket we bound (startup failed). */
void server_unlisten(void);
/* Hands the socket (and the runtime dir if we created it) to uid:gid. */
int server_chown_socket(uid_t uid, gid_t gid);
/*
 * The loop and its housekeeping (reaper, deadline scan), without
 * listeners, signals or watchdog: the first half of server_run(), and
 * all that a harness driving client_accept()ed connections needs
 * (tests/fuzz/fuzz-conn.c), with the bounds and per-uid pools of
 * rlimits.h set up. 0 or -errno.
 */
int server_loop_init(void);
/* Closes every session and connection (asserting nothing stays charged), then frees the loop. */
void server_loop_free(void);
/* Runs the loop until SIGTERM/SIGINT. Returns the exit status. */
int server_run(void);

#endif
