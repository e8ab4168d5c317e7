/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The client end of a shadowptd connection: connect, Hello/Welcome,
 * request ids, and frame I/O with the server frame limit checked on the
 * length prefix before anything is allocated. Every function that fails
 * prints one line on stderr and returns a shadowctl exit code.
 */
#ifndef SHADOWCTL_CONN_H
#define SHADOWCTL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct sctl_conn {
	int fd;
	const char *path;
	uint8_t *rbuf; /* header + one maximal server frame */
	size_t rlen, rcap;
	uint32_t next_request_id;
	SptFrame *welcome_frame; /* kept for the hello event */
	bool eof;
	bool quiet; /* no messages from sctl_conn_wait (while shutting down) */
};

/* Connects to path; on failure prints a hint and returns SCTL_EXIT_CONNECT. */
int sctl_conn_open(struct sctl_conn *c, const char *path);
/* Sends Hello and waits for Welcome. */
int sctl_conn_handshake(struct sctl_conn *c);
void sctl_conn_close(struct sctl_conn *c);

const Shadowpt__Welcome *sctl_conn_welcome(const struct sctl_conn *c);
uint32_t sctl_conn_new_request_id(struct sctl_conn *c);

/* Encodes and writes one frame (blocking; client frames are small). */
int sctl_conn_send(struct sctl_conn *c, const SptFrame *f);

/*
 * Reads what the socket has (call when poll says readable). Returns 0 or
 * an exit code; a clean EOF sets c->eof and returns 0.
 */
int sctl_conn_fill(struct sctl_conn *c);
/*
 * Takes the next complete frame out of the buffer: returns 0 with *out set
 * (NULL if none is complete yet) or an exit code (oversized or
 * undecodable frame: SCTL_EXIT_PROTOCOL).
 */
int sctl_conn_take(struct sctl_conn *c, SptFrame **out);
/*
 * Blocks until a frame arrives (timeout_ms < 0: forever). Returns 0 with
 * *out set; SCTL_EXIT_RUNTIME on timeout, EOF or interruption (after
 * printing why, except on Ctrl-C where *interrupted is set instead).
 */
int sctl_conn_wait(struct sctl_conn *c, SptFrame **out, int timeout_ms,
		   bool *interrupted);

/*
 * Reports an Error frame on stderr as "shadowctl: <message> (<code name>)"
 * and returns the exit code its code maps to.
 */
int sctl_report_error(const Shadowpt__Error *e);
int sctl_error_exit_code(int code);

#endif
