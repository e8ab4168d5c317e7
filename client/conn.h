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
	uint8_t *rbuf;		 /* header + one maximal server frame */
	size_t rpos, rlen, rcap; /* frames are taken from rpos */
	uint32_t next_request_id;
	/* Frame limits: ours, lowered to what Welcome.limits announces. */
	uint32_t max_server_frame, max_client_frame;
	SptFrame *welcome_frame; /* kept for the hello event */
	bool eof;
	bool quiet;  /* no messages (while shutting down) */
	bool json;   /* also report errors as JSON error events */
	int32_t pid; /* target, for error events (0: none) */
	uint32_t proto; /* protocol version Welcome agreed on */
	/* The payload of the frame sctl_conn_take() returned last, as received
	 * (for the recorder); valid until the next sctl_conn_fill(). */
	const uint8_t *last_payload;
	size_t last_len;
};

/*
 * Connects to path; on failure prints a hint and returns SCTL_EXIT_CONNECT.
 * json and pid say how to report errors on this connection.
 */
int sctl_conn_open(struct sctl_conn *c, const char *path, bool json, int32_t pid);
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
int sctl_conn_wait(struct sctl_conn *c, SptFrame **out, int timeout_ms, bool *interrupted);

/*
 * Reports an Error frame on stderr as "shadowctl: <message> (<code name>)"
 * and returns the exit code its code maps to.
 */
int sctl_report_error(const Shadowpt__Error *e);
int sctl_error_exit_code(int code);
/* The same, plus an error event with --json. seq < 0: no sequence number. */
int sctl_fail_error(const Shadowpt__Error *e, bool json, int32_t pid, int64_t seq);
/* Reports a failure found by shadowctl itself; returns exit_code. */
int sctl_fail(bool json, int32_t pid, int64_t seq, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Reports a protocol violation by the daemon; returns SCTL_EXIT_PROTOCOL. */
int sctl_fail_protocol(bool json, int32_t pid, int64_t seq, const char *why);

#endif
