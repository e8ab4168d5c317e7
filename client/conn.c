/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Connection to shadowptd: connect, handshake, framed I/O; see conn.h. */
#include <errno.h>
#include <stdarg.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "conn.h"
#include "render-json.h"
#include "shadowpt-limits.h"
#include "shadowctl.h"

/*
 * Reports a failure once: a line on stderr and, with --json, an error
 * event on stdout. Silent while shutting down (c->quiet).
 */
static int conn_fail(struct sctl_conn *c, int exit_code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int conn_fail(struct sctl_conn *c, int exit_code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (c->quiet)
		return exit_code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sctl_err("%s", msg);
	if (c->json) {
		sctl_json_error(stdout, c->pid, -1, -1, msg, exit_code);
		fflush(stdout);
	}
	return exit_code;
}

int sctl_fail(bool json, int32_t pid, int64_t seq, int exit_code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	sctl_err("%s", msg);
	if (json) {
		sctl_json_error(stdout, pid, seq, -1, msg, exit_code);
		fflush(stdout);
	}
	return exit_code;
}

int sctl_fail_error(const Shadowpt__Error *e, bool json, int32_t pid, int64_t seq)
{
	int code = sctl_report_error(e);

	if (json) {
		sctl_json_error(stdout, pid, seq, e->has_code ? (int)e->code : 0, e->message, code);
		fflush(stdout);
	}
	return code;
}

int sctl_fail_protocol(bool json, int32_t pid, int64_t seq, const char *why)
{
	char msg[512];

	snprintf(msg, sizeof(msg), "protocol violation by shadowptd: %s", why);
	sctl_err("%s", msg);
	if (json) {
		sctl_json_error(stdout, pid, seq, -1, msg, SCTL_EXIT_PROTOCOL);
		fflush(stdout);
	}
	return SCTL_EXIT_PROTOCOL;
}

int sctl_conn_open(struct sctl_conn *c, const char *path, bool json, int32_t pid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->json = json;
	c->pid = pid;
	c->path = path;
	c->next_request_id = 1;
	c->max_server_frame = SPT_MAX_SERVER_FRAME;
	c->max_client_frame = SPT_MAX_CLIENT_FRAME;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		return conn_fail(c, SCTL_EXIT_USAGE, "socket path too long: %s", path);
	}
	strcpy(sa.sun_path, path);
	c->rcap = SPT_FRAME_HEADER_SIZE + SPT_MAX_SERVER_FRAME;
	c->rbuf = malloc(c->rcap);
	if (!c->rbuf) {
		return conn_fail(c, SCTL_EXIT_RUNTIME, "out of memory");
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return conn_fail(c, SCTL_EXIT_RUNTIME, "socket: %s", strerror(errno));
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		conn_fail(c, SCTL_EXIT_CONNECT, "cannot connect to %s: %s", path, strerror(e));
		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr,
				"shadowctl: hint: is shadowptd running? "
				"Set the socket with --socket PATH or $%s.\n",
				SCTL_SOCKET_ENV);
		else if (e == EACCES)
			fprintf(stderr, "shadowctl: hint: no permission on the socket "
					"(or its directory)\n");
		close(fd);
		return SCTL_EXIT_CONNECT;
	}
	c->fd = fd;
	return 0;
}

void sctl_conn_close(struct sctl_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (c->welcome_frame)
		spt_frame_free(c->welcome_frame);
	c->welcome_frame = NULL;
	free(c->rbuf);
	c->rbuf = NULL;
}

const Shadowpt__Welcome *sctl_conn_welcome(const struct sctl_conn *c)
{
	return c->welcome_frame ? c->welcome_frame->welcome : NULL;
}

uint32_t sctl_conn_new_request_id(struct sctl_conn *c)
{
	uint32_t id = c->next_request_id++;

	if (c->next_request_id == 0) /* 0 means "server-initiated" */
		c->next_request_id = 1;
	return id;
}

int sctl_conn_send(struct sctl_conn *c, const SptFrame *f)
{
	uint8_t *buf;
	size_t len, off = 0;
	int r = spt_frame_encode(f, c->max_client_frame, &buf, &len);

	if (r < 0) {
		return conn_fail(c, SCTL_EXIT_RUNTIME, "cannot encode %s request: %s",
				 spt_frame_type_name(f), strerror(-r));
	}
	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return conn_fail(c, SCTL_EXIT_RUNTIME, "cannot send to shadowptd: %s",
					 strerror(errno));
		}
		off += (size_t)n;
	}
	free(buf);
	return 0;
}

int sctl_conn_fill(struct sctl_conn *c)
{
	ssize_t n;

	/* Compact once per read, not once per frame taken. */
	if (c->rpos) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
		c->rlen -= c->rpos;
		c->rpos = 0;
	}
	if (c->rlen == c->rcap)
		return 0; /* a whole maximal frame is buffered: take it first */
	n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		return conn_fail(c, SCTL_EXIT_RUNTIME, "cannot read from shadowptd: %s",
				 strerror(errno));
	}
	if (n == 0)
		c->eof = true;
	c->rlen += (size_t)n;
	return 0;
}

int sctl_conn_take(struct sctl_conn *c, SptFrame **out)
{
	const uint8_t *buf = c->rbuf + c->rpos;
	size_t avail = c->rlen - c->rpos, payload_len;
	int r = spt_frame_check(buf, avail, c->max_server_frame, &payload_len);

	*out = NULL;
	if (r == -EMSGSIZE)
		return conn_fail(c, SCTL_EXIT_PROTOCOL,
				 "protocol violation by shadowptd: frame over the %u byte limit",
				 c->max_server_frame);
	if (r < 0)
		return conn_fail(c, SCTL_EXIT_PROTOCOL,
				 "protocol violation by shadowptd: bad frame header (%s)",
				 strerror(-r));
	if (r == 0) {
		if (c->eof && avail > 0)
			return conn_fail(c, SCTL_EXIT_PROTOCOL,
					 "protocol violation by shadowptd: connection closed in "
					 "the middle of a frame");
		return 0;
	}
	*out = spt_frame_decode(buf + SPT_FRAME_HEADER_SIZE, payload_len);
	if (!*out)
		return conn_fail(c, SCTL_EXIT_PROTOCOL,
				 "protocol violation by shadowptd: undecodable frame");
	if ((*out)->msg_case == SHADOWPT__FRAME__MSG__NOT_SET) {
		spt_frame_free(*out);
		*out = NULL;
		return conn_fail(c, SCTL_EXIT_PROTOCOL,
				 "protocol violation by shadowptd: empty frame");
	}
	c->last_payload = buf + SPT_FRAME_HEADER_SIZE;
	c->last_len = payload_len;
	c->rpos += SPT_FRAME_HEADER_SIZE + payload_len;
	return 0;
}

int sctl_conn_wait(struct sctl_conn *c, SptFrame **out, int timeout_ms, bool *interrupted)
{
	int64_t deadline = timeout_ms >= 0 ? sctl_now_ms() + timeout_ms : -1;

	*interrupted = false;
	for (;;) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		struct timespec ts, *tsp = NULL;
		int r = sctl_conn_take(c, out);

		if (r || *out)
			return r;
		if (c->eof) {
			return conn_fail(c, SCTL_EXIT_RUNTIME, "shadowptd closed the connection");
		}
		if (sctl_interrupted) {
			*interrupted = true;
			return SCTL_EXIT_OK;
		}
		if (deadline >= 0) {
			int64_t left = deadline - sctl_now_ms();

			if (left <= 0) {
				return conn_fail(c, SCTL_EXIT_RUNTIME,
						 "timed out waiting for shadowptd");
			}
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}
		r = ppoll(&pfd, 1, tsp, &sctl_wait_sigmask);
		if (r < 0 && errno != EINTR) {
			return conn_fail(c, SCTL_EXIT_RUNTIME, "poll: %s", strerror(errno));
		}
		if (r > 0) {
			r = sctl_conn_fill(c);
			if (r)
				return r;
		}
	}
}

int sctl_error_exit_code(int code)
{
	switch (code) {
	case SHADOWPT__ERROR_CODE__ERROR_PERMISSION_DENIED:
		return SCTL_EXIT_PERMISSION;
	case SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS:
		return SCTL_EXIT_NO_PROCESS;
	case SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE:
		return SCTL_EXIT_USAGE;
	default:
		return SCTL_EXIT_RUNTIME;
	}
}

int sctl_report_error(const Shadowpt__Error *e)
{
	int code = e->has_code ? (int)e->code : 0;
	const char *msg = e->message && *e->message ? e->message : "error";

	sctl_err("%s (%s)", msg, spt_error_code_name(code));
	return sctl_error_exit_code(code);
}

/* A daemon announcing smaller frames than the protocol maximum is held to it. */
static void adopt_limits(struct sctl_conn *c, const Shadowpt__Limits *l)
{
	if (!l)
		return;
	if (l->has_max_server_frame && l->max_server_frame &&
	    l->max_server_frame < c->max_server_frame)
		c->max_server_frame = l->max_server_frame;
	if (l->has_max_client_frame && l->max_client_frame &&
	    l->max_client_frame < c->max_client_frame)
		c->max_client_frame = l->max_client_frame;
}

int sctl_conn_handshake(struct sctl_conn *c)
{
	Shadowpt__Hello hello = SHADOWPT__HELLO__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;
	SptFrame *reply;
	bool interrupted;
	int r;

	hello.has_protocol_version = 1;
	hello.protocol_version = SPT_PROTOCOL_VERSION;
	hello.client_name = (char *)"shadowctl";
	f.has_request_id = 1;
	f.request_id = sctl_conn_new_request_id(c);
	f.msg_case = SHADOWPT__FRAME__MSG_HELLO;
	f.hello = &hello;
	r = sctl_conn_send(c, &f);
	if (r)
		return r;
	r = sctl_conn_wait(c, &reply, 10000, &interrupted);
	if (r)
		return r;
	if (interrupted)
		return SCTL_EXIT_OK;
	switch (reply->msg_case) {
	case SHADOWPT__FRAME__MSG_WELCOME:
		break;
	case SHADOWPT__FRAME__MSG_ERROR:
		r = sctl_fail_error(reply->error, c->json, c->pid, -1);
		spt_frame_free(reply);
		return r;
	default: {
		char why[96];

		snprintf(why, sizeof(why), "expected welcome, got %s", spt_frame_type_name(reply));
		spt_frame_free(reply);
		return sctl_fail_protocol(c->json, c->pid, -1, why);
	}
	}
	if (!reply->welcome->has_protocol_version ||
	    reply->welcome->protocol_version < SPT_PROTOCOL_VERSION_MIN ||
	    reply->welcome->protocol_version > SPT_PROTOCOL_VERSION) {
		uint32_t v = reply->welcome->protocol_version;

		spt_frame_free(reply);
		return conn_fail(c, SCTL_EXIT_PROTOCOL,
				 "shadowptd speaks protocol version %u, shadowctl %u to %u", v,
				 SPT_PROTOCOL_VERSION_MIN, SPT_PROTOCOL_VERSION);
	}
	c->proto = reply->welcome->protocol_version;
	adopt_limits(c, reply->welcome->limits);
	c->welcome_frame = reply;
	return 0;
}
