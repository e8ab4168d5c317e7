/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Connection to shadowptd: connect, handshake, framed I/O; see conn.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "shadowpt-limits.h"
#include "shadowctl.h"

int sctl_conn_open(struct sctl_conn *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->path = path;
	c->next_request_id = 1;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		sctl_err("socket path too long: %s", path);
		return SCTL_EXIT_USAGE;
	}
	strcpy(sa.sun_path, path);
	c->rcap = SPT_FRAME_HEADER_SIZE + SPT_MAX_SERVER_FRAME;
	c->rbuf = malloc(c->rcap);
	if (!c->rbuf) {
		sctl_err("out of memory");
		return SCTL_EXIT_RUNTIME;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sctl_err("socket: %s", strerror(errno));
		return SCTL_EXIT_RUNTIME;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		sctl_err("cannot connect to %s: %s", path, strerror(e));
		if (e == ENOENT || e == ECONNREFUSED)
			fprintf(stderr, "shadowctl: hint: is shadowptd running? "
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
	int r = spt_frame_encode(f, SPT_MAX_CLIENT_FRAME, &buf, &len);

	if (r < 0) {
		sctl_err("cannot encode %s request: %s", spt_frame_type_name(f),
			 strerror(-r));
		return SCTL_EXIT_RUNTIME;
	}
	while (off < len) {
		ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (!c->quiet)
				sctl_err("cannot send to shadowptd: %s", strerror(errno));
			free(buf);
			return SCTL_EXIT_RUNTIME;
		}
		off += (size_t)n;
	}
	free(buf);
	return 0;
}

int sctl_conn_fill(struct sctl_conn *c)
{
	ssize_t n;

	if (c->rlen == c->rcap)
		return 0; /* a whole maximal frame is buffered: take it first */
	n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN)
			return 0;
		sctl_err("cannot read from shadowptd: %s", strerror(errno));
		return SCTL_EXIT_RUNTIME;
	}
	if (n == 0)
		c->eof = true;
	c->rlen += (size_t)n;
	return 0;
}

int sctl_conn_take(struct sctl_conn *c, SptFrame **out)
{
	size_t payload_len, total;
	int r = spt_frame_check(c->rbuf, c->rlen, SPT_MAX_SERVER_FRAME, &payload_len);

	*out = NULL;
	if (r == -EMSGSIZE) {
		sctl_err("protocol violation: shadowptd announced a frame over "
			 "the %u byte limit", SPT_MAX_SERVER_FRAME);
		return SCTL_EXIT_PROTOCOL;
	}
	if (r < 0) {
		sctl_err("protocol violation: bad frame header (%s)", strerror(-r));
		return SCTL_EXIT_PROTOCOL;
	}
	if (r == 0) {
		if (c->eof && c->rlen > 0) {
			sctl_err("protocol violation: connection closed in the "
				 "middle of a frame");
			return SCTL_EXIT_PROTOCOL;
		}
		return 0;
	}
	*out = spt_frame_decode(c->rbuf + SPT_FRAME_HEADER_SIZE, payload_len);
	if (!*out) {
		sctl_err("protocol violation: undecodable frame from shadowptd");
		return SCTL_EXIT_PROTOCOL;
	}
	if ((*out)->msg_case == SHADOWPT__FRAME__MSG__NOT_SET) {
		spt_frame_free(*out);
		*out = NULL;
		sctl_err("protocol violation: empty frame from shadowptd");
		return SCTL_EXIT_PROTOCOL;
	}
	total = SPT_FRAME_HEADER_SIZE + payload_len;
	memmove(c->rbuf, c->rbuf + total, c->rlen - total);
	c->rlen -= total;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sctl_conn_wait(struct sctl_conn *c, SptFrame **out, int timeout_ms,
		   bool *interrupted)
{
	int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;

	*interrupted = false;
	for (;;) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		struct timespec ts, *tsp = NULL;
		int r = sctl_conn_take(c, out);

		if (r || *out)
			return r;
		if (c->eof) {
			if (!c->quiet)
				sctl_err("shadowptd closed the connection");
			return SCTL_EXIT_RUNTIME;
		}
		if (sctl_interrupted) {
			*interrupted = true;
			return SCTL_EXIT_OK;
		}
		if (deadline >= 0) {
			int64_t left = deadline - now_ms();

			if (left <= 0) {
				if (!c->quiet)
					sctl_err("timed out waiting for shadowptd");
				return SCTL_EXIT_RUNTIME;
			}
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}
		r = ppoll(&pfd, 1, tsp, &sctl_wait_sigmask);
		if (r < 0 && errno != EINTR) {
			sctl_err("poll: %s", strerror(errno));
			return SCTL_EXIT_RUNTIME;
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
		r = sctl_report_error(reply->error);
		spt_frame_free(reply);
		return r;
	default:
		sctl_err("protocol violation: expected welcome, got %s",
			 spt_frame_type_name(reply));
		spt_frame_free(reply);
		return SCTL_EXIT_PROTOCOL;
	}
	if (!reply->welcome->has_protocol_version ||
	    reply->welcome->protocol_version != SPT_PROTOCOL_VERSION) {
		sctl_err("shadowptd speaks protocol version %u, shadowctl %u",
			 reply->welcome->protocol_version, SPT_PROTOCOL_VERSION);
		spt_frame_free(reply);
		return SCTL_EXIT_PROTOCOL;
	}
	c->welcome_frame = reply;
	return 0;
}
