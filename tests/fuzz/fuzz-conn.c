// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: one viewer connection of the real daemon. The input is
 * the byte stream a client sends (frames, or anything else); it goes
 * into one end of a socketpair whose other end the daemon took with
 * client_accept(), then EOF, and the daemon's libevent loop runs until
 * it has closed its end. The replies are read and dropped, so the
 * output side (queue, budget, flush) runs too. Only the daemon's public
 * entry points are used: the connection layer behind them may be cut
 * into modules without touching this file.
 *
 * The peer is an unprivileged uid that owns no process, so every Watch
 * stops at authorization (after pidfd_open and /proc/PID/stat|status
 * of whatever pid it names): no backend reads a process the fuzzer did
 * not choose. A connection the daemon never closes is a hang: abort.
 *
 * libFuzzer with -Dfuzzers=true; in normal builds the replay driver
 * runs the built-in seed (a whole conversation) with mutations.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "fuzz-replay.h"
#include "log.h"
#include "server.h"

#define FUZZ_PEER_UID 0x7ffe5bd1u /* nobody's: no process runs as it */
#define MAX_ROUNDS    100000u	  /* loop iterations before we call it a hang */

static void setup_once(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	log_init(SPT_LOG_ERR);
	signal(SIGPIPE, SIG_IGN);
	spt_opts.backend = SHADOWPT__BACKEND__BACKEND_AUTO;
	spt_opts.min_ms = SPT_SAMPLE_MIN_MS_DEFAULT;
	spt_opts.max_ms = SPT_SAMPLE_MAX_MS_DEFAULT;
	if (server_loop_init() < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spt_peer peer = {.uid = FUZZ_PEER_UID, .gid = FUZZ_PEER_UID, .pid = getpid()};
	gid_t no_groups[1];
	uint8_t sink[65536];
	size_t off = 0;
	bool shut = false;
	int sv[2];

	setup_once();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	client_accept(sv[0], &peer, no_groups, 0);
	for (unsigned round = 0;; round++) {
		ssize_t n;

		if (off < size) {
			n = write(sv[1], data + off, size - off);
			if (n > 0)
				off += (size_t)n;
		}
		if (off == size && !shut)
			shut = shutdown(sv[1], SHUT_WR) == 0;
		event_base_loop(spt_base, EVLOOP_NONBLOCK);
		while ((n = read(sv[1], sink, sizeof(sink))) > 0)
			;
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			break; /* the daemon closed the connection */
		if (round == MAX_ROUNDS) {
			fprintf(stderr, "fuzz-conn: connection still open after %u rounds\n", round);
			abort();
		}
	}
	close(sv[1]);
	return 0;
}

static void append_frame(uint8_t **out, size_t *len, SptFrame *f, uint32_t request_id)
{
	uint8_t *buf, *p;
	size_t n;

	f->has_request_id = 1;
	f->request_id = request_id;
	if (spt_frame_encode(f, SPT_MAX_CLIENT_FRAME, &buf, &n) < 0 ||
	    !(p = realloc(*out, *len + n)))
		abort();
	memcpy(p + *len, buf, n);
	free(buf);
	*out = p;
	*len += n;
}

/*
 * The seed: Hello, Ping, Status, Watches refused for each reason (bad
 * range, bad backend, no pid, a thread-less pid, someone else's
 * process), Unwatch and Peek of no watch, then a server-only message,
 * which is fatal.
 */
int spt_fuzz_builtin_seed(uint8_t **out, size_t *out_len)
{
	Shadowpt__Hello hello = SHADOWPT__HELLO__INIT;
	Shadowpt__Ping ping = SHADOWPT__PING__INIT;
	Shadowpt__Status status = SHADOWPT__STATUS__INIT;
	Shadowpt__Range range = SHADOWPT__RANGE__INIT;
	Shadowpt__Watch watch = SHADOWPT__WATCH__INIT;
	Shadowpt__Unwatch unwatch = SHADOWPT__UNWATCH__INIT;
	Shadowpt__Peek peek = SHADOWPT__PEEK__INIT;
	Shadowpt__Pong pong = SHADOWPT__PONG__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;
	const int32_t pids[] = {0, 1, 0x3fffffff};

	*out = NULL;
	*out_len = 0;
	hello.has_protocol_version = 1;
	hello.protocol_version = SPT_PROTOCOL_VERSION;
	hello.client_name = "fuzz";
	f.msg_case = SHADOWPT__FRAME__MSG_HELLO;
	f.hello = &hello;
	append_frame(out, out_len, &f, 1);
	ping.has_nonce = 1;
	ping.nonce = 42;
	f.msg_case = SHADOWPT__FRAME__MSG_PING;
	f.ping = &ping;
	append_frame(out, out_len, &f, 2);
	f.msg_case = SHADOWPT__FRAME__MSG_STATUS;
	f.status = &status;
	append_frame(out, out_len, &f, 3);
	f.msg_case = SHADOWPT__FRAME__MSG_WATCH;
	f.watch = &watch;
	watch.has_pid = 1;
	watch.pid = 1;
	range.has_start = range.has_end = 1;
	range.start = 0x1001;
	range.end = 0x1000;
	watch.range = &range;
	append_frame(out, out_len, &f, 4);
	watch.range = NULL;
	watch.has_backend = 1;
	watch.backend = 7;
	append_frame(out, out_len, &f, 5);
	watch.has_backend = 0;
	watch.has_min_interval_ms = watch.has_max_interval_ms = 1;
	watch.min_interval_ms = 10;
	watch.max_interval_ms = 1000;
	for (size_t i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		watch.pid = pids[i];
		append_frame(out, out_len, &f, 6 + (uint32_t)i);
	}
	unwatch.has_watch_id = 1;
	unwatch.watch_id = 3;
	f.msg_case = SHADOWPT__FRAME__MSG_UNWATCH;
	f.unwatch = &unwatch;
	append_frame(out, out_len, &f, 10);
	peek.has_watch_id = peek.has_vaddr = 1;
	peek.watch_id = 3;
	peek.vaddr = 0x1000;
	f.msg_case = SHADOWPT__FRAME__MSG_PEEK;
	f.peek = &peek;
	append_frame(out, out_len, &f, 11);
	f.msg_case = SHADOWPT__FRAME__MSG_PONG;
	f.pong = &pong;
	append_frame(out, out_len, &f, 12);
	return 0;
}
