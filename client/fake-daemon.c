/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A scripted stand-in for shadowptd, for testing shadowctl's protocol
 * handling without privileges: `fake-daemon SOCKET SCENARIO` listens,
 * prints "ready", serves one connection as the scenario says and exits.
 * Frames come from the real encoders (proto/convert.h) unless the
 * scenario is about broken frames.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "convert.h"
#include "wire.h"

#define WATCH_ID 7
#define BASE	 0x7f0000000000ull

static int conn_fd;
static uint8_t rbuf[SPT_FRAME_HEADER_SIZE + SPT_MAX_CLIENT_FRAME];
static size_t rlen;

static void die(const char *what)
{
	fprintf(stderr, "fake-daemon: %s\n", what);
	exit(2);
}

static void send_bytes(const void *b, size_t n)
{
	if (write(conn_fd, b, n) != (ssize_t)n)
		die("write");
}

static void send_frame(const SptFrame *f)
{
	uint8_t *b;
	size_t n;

	if (spt_frame_encode(f, SPT_MAX_SERVER_FRAME, &b, &n))
		die("encode");
	send_bytes(b, n);
	free(b);
}

static SptFrame *recv_frame(void)
{
	for (;;) {
		size_t len;
		ssize_t n;

		if (spt_frame_check(rbuf, rlen, SPT_MAX_CLIENT_FRAME, &len) == 1) {
			SptFrame *f = spt_frame_decode(rbuf + SPT_FRAME_HEADER_SIZE, len);

			rlen -= SPT_FRAME_HEADER_SIZE + len;
			memmove(rbuf, rbuf + SPT_FRAME_HEADER_SIZE + len, rlen);
			return f;
		}
		n = read(conn_fd, rbuf + rlen, sizeof(rbuf) - rlen);
		if (n <= 0)
			return NULL;
		rlen += (size_t)n;
	}
}

static void add_vma(struct spt_state *st, uint64_t start, uint64_t end, const char *name)
{
	struct spt_vma v = {
	    .start = start, .end = end, .prot = 3, .kind = SPT_VMA_ANON, .name = (char *)name};

	if (spt_state_append_vma(st, &v))
		die("append vma");
}

static void add_page(struct spt_state *st, uint64_t vaddr, uint64_t pfn)
{
	struct spt_page p = {.vaddr = vaddr, .pfn = pfn, .flags = 7};

	if (spt_state_append_page(st, &p))
		die("append page");
}

/*
 * Big enough for several chunks; a name with bytes JSON must escape.
 * later: the next state (first page remapped, second page gone).
 */
static void make_state(struct spt_state *st, const char *first_name, bool later)
{
	uint64_t i;

	spt_state_clear(st);
	add_vma(st, 0x400000, 0x401000, first_name);
	add_vma(st, BASE, BASE + (300000ull << 12), "[anon:big]");
	add_page(st, BASE, later ? 5 : 1000);
	for (i = later ? 2 : 1; i < 100000; i++)
		add_page(st, BASE + i * 3 * 4096, 1000 + i);
}

/* The protocol the client and the fake agreed on. */
static uint32_t proto = SPT_PROTOCOL_VERSION;
/* "slow-snapshot": the last chunk comes 3 s after the others. */
static bool slow_snapshot;

static void send_snapshot(const struct spt_state *st, uint64_t seq, bool resync, bool reverse)
{
	struct spt_snapshot_meta m = {.watch_id = WATCH_ID, .seq = seq, .resync = resync,
				      .proto = proto};
	struct spt_encoded *e;
	size_t n, i;

	if (spt_snapshot_encode(st, &m, NULL, NULL, &e, &n))
		die("snapshot encode");
	for (i = 0; i < n; i++) {
		size_t k = reverse ? n - 1 - i : i;

		if (slow_snapshot && i + 1 == n && n > 1)
			sleep(3);
		send_bytes(e[k].data, e[k].len);
	}
	spt_encoded_free_array(e, n);
}

static void send_delta(const struct spt_state *a, const struct spt_state *b, uint64_t base,
		       uint64_t seq)
{
	struct spt_delta_meta m = {.watch_id = WATCH_ID, .seq = seq, .base_seq = base,
				   .proto = proto};
	struct spt_encoded *e;
	struct spt_delta d;
	size_t n;

	spt_delta_init(&d);
	if (spt_state_diff(a, b, &d) || spt_delta_encode(&d, &m, NULL, NULL, &e, &n))
		die("delta encode");
	for (size_t i = 0; i < n; i++)
		send_bytes(e[i].data, e[i].len);
	spt_encoded_free_array(e, n);
	spt_delta_free(&d);
}

static void send_error(uint32_t request_id, int code, const char *msg)
{
	SptFrame f = SHADOWPT__FRAME__INIT;
	Shadowpt__Error e = SHADOWPT__ERROR__INIT;

	spt_frame_set_error(&f, &e, request_id, code, msg, 1);
	send_frame(&f);
}

static void send_exited(int32_t pid)
{
	Shadowpt__TargetExited te = SHADOWPT__TARGET_EXITED__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	te.has_watch_id = te.has_pid = 1;
	te.watch_id = WATCH_ID;
	te.pid = pid;
	f.msg_case = SHADOWPT__FRAME__MSG_TARGET_EXITED;
	f.target_exited = &te;
	send_frame(&f);
}

static void send_welcome(uint32_t request_id)
{
	Shadowpt__Welcome w = SHADOWPT__WELCOME__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	w.has_protocol_version = 1;
	w.protocol_version = proto;
	w.server_version = (char *)"fake";
	f.has_request_id = 1;
	f.request_id = request_id;
	f.msg_case = SHADOWPT__FRAME__MSG_WELCOME;
	f.welcome = &w;
	send_frame(&f);
}

static void send_status(uint32_t request_id)
{
	Shadowpt__StatusReply r = SHADOWPT__STATUS_REPLY__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	r.server_version = (char *)"fake\"\x01\xff";
	r.has_snapshots_encoded = 1;
	r.snapshots_encoded = 0; /* said, and zero: a number, not null */
	f.has_request_id = 1;
	f.request_id = request_id;
	f.msg_case = SHADOWPT__FRAME__MSG_STATUS_REPLY;
	f.status_reply = &r;
	send_frame(&f);
}

/* events: a protocol 2 watch driven by the target's events (mode, reason). */
static void send_started(uint32_t request_id, int32_t pid, bool hidden, bool events)
{
	Shadowpt__WatchStarted ws = SHADOWPT__WATCH_STARTED__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	if (events) {
		ws.has_mode = 1;
		ws.mode = SHADOWPT__WATCH_MODE__WATCH_MODE_EVENTS;
		ws.mode_reason = (char *)"perf page faults, mmap_lock tracepoints";
	}
	ws.has_watch_id = ws.has_pid = ws.has_backend = ws.has_pfn_visibility = 1;
	ws.watch_id = WATCH_ID;
	ws.pid = pid;
	ws.backend = SHADOWPT__BACKEND__BACKEND_PROCFS;
	ws.pfn_visibility =
	    hidden ? SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN : SHADOWPT__PFN_VISIBILITY__PFN_TOKEN;
	ws.comm = (char *)"fake\ttarget";
	f.has_request_id = 1;
	f.request_id = request_id;
	f.msg_case = SHADOWPT__FRAME__MSG_WATCH_STARTED;
	f.watch_started = &ws;
	send_frame(&f);
}

static void send_watch_status(int state, const char *message)
{
	Shadowpt__WatchStatus ws = SHADOWPT__WATCH_STATUS__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	ws.has_watch_id = ws.has_state = ws.has_mode = ws.has_since_ns = 1;
	ws.watch_id = WATCH_ID;
	ws.state = (Shadowpt__WatchState)state;
	ws.mode = SHADOWPT__WATCH_MODE__WATCH_MODE_EVENTS;
	ws.message = (char *)message;
	ws.since_ns = 5000000000ull;
	f.msg_case = SHADOWPT__FRAME__MSG_WATCH_STATUS;
	f.watch_status = &ws;
	send_frame(&f);
}

/*
 * The delta a -> b as an event-driven daemon says it: one fault at BASE
 * coalesced with a zap, each run with its own cause.
 */
static void send_delta_with_causes(const struct spt_state *a, const struct spt_state *b)
{
	struct spt_delta_meta m = {.watch_id = WATCH_ID, .seq = 101, .base_seq = 100,
				   .proto = proto, .timestamp_ns = 5000300000ull,
				   .cause = SHADOWPT__CAUSE__CAUSE_MULTIPLE, .cause_vaddr = BASE,
				   .event_time_ns = 5000100000ull, .cause_tid = 43, .events = 2};
	struct spt_encoded *e;
	struct spt_delta d;
	size_t n;

	spt_delta_init(&d);
	if (spt_state_diff(a, b, &d) || d.nruns < 2)
		die("delta");
	d.runs[0].cause = SHADOWPT__CAUSE__CAUSE_COW;	   /* BASE: a new frame */
	d.runs[1].cause = SHADOWPT__CAUSE__CAUSE_MADVISE; /* BASE + 3 pages: gone */
	if (spt_delta_encode(&d, &m, NULL, NULL, &e, &n))
		die("delta encode");
	for (size_t i = 0; i < n; i++)
		send_bytes(e[i].data, e[i].len);
	spt_encoded_free_array(e, n);
	spt_delta_free(&d);
}

/* Waits for the client to hang up, so every frame sent is read. */
static void linger(void)
{
	SptFrame *f;

	while ((f = recv_frame()))
		spt_frame_free(f);
}

static int serve(const char *sc)
{
	struct spt_state a, b;
	SptFrame *hello = recv_frame(), *req;
	int32_t pid;

	if (!hello || hello->msg_case != SHADOWPT__FRAME__MSG_HELLO)
		die("expected hello");
	/* "...-v1": an old daemon that speaks protocol 1 only. */
	if (strlen(sc) > 3 && !strcmp(sc + strlen(sc) - 3, "-v1"))
		proto = 1;
	else if (hello->hello->protocol_version < proto)
		proto = hello->hello->protocol_version;
	if (!strcmp(sc, "bad-version")) {
		send_error(hello->request_id, SHADOWPT__ERROR_CODE__ERROR_UNSUPPORTED_VERSION,
			   "protocol version 1 not supported");
		return 0;
	}
	if (!strcmp(sc, "huge-welcome")) {
		send_bytes("\x00\x20\x00\x00", 4); /* 2 MiB announced */
		linger();
		return 0;
	}
	send_welcome(hello->request_id);
	req = recv_frame();
	if (!req)
		die("no request");
	if (req->msg_case == SHADOWPT__FRAME__MSG_STATUS) {
		send_status(req->request_id);
		linger();
		return 0;
	}
	if (req->msg_case != SHADOWPT__FRAME__MSG_WATCH)
		die("expected watch or status");
	pid = req->watch->pid;
	if (!strcmp(sc, "permission")) {
		send_error(req->request_id, SHADOWPT__ERROR_CODE__ERROR_PERMISSION_DENIED,
			   "uid 1000 may not watch this process");
		return 0;
	}
	if (!strcmp(sc, "no-process")) {
		send_error(req->request_id, SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS,
			   "no such process");
		return 0;
	}
	send_started(req->request_id, pid, !strcmp(sc, "hidden"), !strcmp(sc, "causes"));
	slow_snapshot = !strcmp(sc, "slow-snapshot");
	spt_state_init(&a);
	spt_state_init(&b);
	make_state(&a, "/bin/we\"ird\\name\n\x01\xff\xc3\xa9", false);
	make_state(&b, "/bin/x", true);
	if (!strcmp(sc, "exit-early")) {
		send_exited(pid);
	} else if (!strcmp(sc, "huge-frame")) {
		send_bytes("\x00\x20\x00\x00", 4);
	} else if (!strcmp(sc, "garbage")) {
		send_bytes("\x00\x00\x00\x03\xff\xff\xff", 7);
	} else if (!strcmp(sc, "chunk-order")) {
		send_snapshot(&a, 100, false, true);
	} else if (!strcmp(sc, "causes")) {
		send_snapshot(&a, 100, false, false);
		send_watch_status(SHADOWPT__WATCH_STATE__WATCH_STATE_STALLED,
				  "a read of /proc/42/pagemap has not returned for 2.0 s");
		send_watch_status(SHADOWPT__WATCH_STATE__WATCH_STATE_LIVE, "reads return again");
		send_delta_with_causes(&a, &b);
		send_exited(pid);
	} else if (!strcmp(sc, "zero-tib")) {
		/* 1 TiB of the zero page and a THP: two runs. */
		const uint64_t at = 0x100000000000ull;
		struct spt_run z = {.vaddr = at, .npages = (1ull << 40) >> 12, .pfn = 0x3b34,
				    .flags = 7};
		struct spt_run thp = {.vaddr = at + (1ull << 40), .npages = 512, .pfn = 512 * 77,
				      .stride = 1, .flags = 7 | SPT_F_THP};

		spt_state_clear(&a);
		add_vma(&a, at, at + (1ull << 40) + (2 << 20), "[anon:zero]");
		if (spt_state_append_run(&a, &z) || spt_state_append_run(&a, &thp))
			die("append run");
		send_snapshot(&a, 100, false, false);
		send_exited(pid);
	} else if (!strncmp(sc, "chunked-delta", 13)) {
		/* 100k new pages at once: chunks in protocol 2, a resync in 1. */
		spt_state_clear(&b);
		add_vma(&b, 0x400000, 0x401000, "/bin/x");
		add_vma(&b, BASE, BASE + (300000ull << 12), "[anon:big]");
		for (uint64_t i = 0; i < 100000; i++)
			add_page(&b, BASE + i * 2 * 4096, 7 + i);
		spt_state_copy(&a, &b);
		spt_state_replace_range(&a, BASE, BASE + (300000ull << 12), NULL, 0);
		send_snapshot(&a, 100, false, false);
		if (proto >= 2)
			send_delta(&a, &b, 100, 101);
		else
			send_snapshot(&b, 101, true, false);
		send_exited(pid);
	} else {
		send_snapshot(&a, 100, false, false);
		if (!strcmp(sc, "bad-base")) {
			send_delta(&a, &b, 99, 101);
		} else {
			send_delta(&a, &b, 100, 101);
			if (!strcmp(sc, "resync")) {
				send_snapshot(&a, 200, true, false);
				send_delta(&a, &b, 200, 201);
			}
			send_exited(pid);
		}
	}
	linger();
	spt_state_free(&a);
	spt_state_free(&b);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int lfd;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: fake-daemon SOCKET SCENARIO\n");
		return 2;
	}
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	unlink(argv[1]);
	strcpy(sa.sun_path, argv[1]);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1))
		die(strerror(errno));
	printf("ready\n");
	fflush(stdout);
	conn_fd = accept(lfd, NULL, NULL);
	if (conn_fd < 0)
		die(strerror(errno));
	return serve(argv[2]);
}
