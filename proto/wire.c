// SPDX-License-Identifier: GPL-2.0-or-later
/* Frame codec: 4-byte big-endian length, then one packed Frame. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

int spt_frame_check(const uint8_t *buf, size_t avail, size_t max_payload,
		    size_t *payload_len)
{
	uint32_t len;

	if (avail < SPT_FRAME_HEADER_SIZE)
		return 0;
	len = (uint32_t)buf[0] << 24 | (uint32_t)buf[1] << 16 |
	      (uint32_t)buf[2] << 8 | (uint32_t)buf[3];
	if (len > max_payload)
		return -EMSGSIZE;
	if (avail - SPT_FRAME_HEADER_SIZE < len)
		return 0;
	*payload_len = len;
	return 1;
}

SptFrame *spt_frame_decode(const uint8_t *payload, size_t len)
{
	return shadowpt__frame__unpack(NULL, len, payload);
}

void spt_frame_free(SptFrame *frame)
{
	if (frame)
		shadowpt__frame__free_unpacked(frame, NULL);
}

int spt_frame_encode(const SptFrame *frame, size_t max_payload, uint8_t **out,
		     size_t *out_len)
{
	size_t len = shadowpt__frame__get_packed_size(frame);
	uint8_t *buf;

	if (len > max_payload || len > UINT32_MAX)
		return -EMSGSIZE;
	buf = malloc(SPT_FRAME_HEADER_SIZE + len);
	if (!buf)
		return -ENOMEM;
	buf[0] = (uint8_t)(len >> 24);
	buf[1] = (uint8_t)(len >> 16);
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	shadowpt__frame__pack(frame, buf + SPT_FRAME_HEADER_SIZE);
	*out = buf;
	*out_len = SPT_FRAME_HEADER_SIZE + len;
	return 0;
}

const char *spt_frame_type_name(const SptFrame *frame)
{
	switch (frame->msg_case) {
	case SHADOWPT__FRAME__MSG_HELLO: return "hello";
	case SHADOWPT__FRAME__MSG_WELCOME: return "welcome";
	case SHADOWPT__FRAME__MSG_WATCH: return "watch";
	case SHADOWPT__FRAME__MSG_WATCH_STARTED: return "watch_started";
	case SHADOWPT__FRAME__MSG_SNAPSHOT: return "snapshot";
	case SHADOWPT__FRAME__MSG_DELTA: return "delta";
	case SHADOWPT__FRAME__MSG_TARGET_EXITED: return "target_exited";
	case SHADOWPT__FRAME__MSG_UNWATCH: return "unwatch";
	case SHADOWPT__FRAME__MSG_UNWATCHED: return "unwatched";
	case SHADOWPT__FRAME__MSG_PEEK: return "peek";
	case SHADOWPT__FRAME__MSG_PEEK_REPLY: return "peek_reply";
	case SHADOWPT__FRAME__MSG_STATUS: return "status";
	case SHADOWPT__FRAME__MSG_STATUS_REPLY: return "status_reply";
	case SHADOWPT__FRAME__MSG_PING: return "ping";
	case SHADOWPT__FRAME__MSG_PONG: return "pong";
	case SHADOWPT__FRAME__MSG_ERROR: return "error";
	default: return "unknown";
	}
}

const char *spt_backend_name(int backend)
{
	switch (backend) {
	case SHADOWPT__BACKEND__BACKEND_AUTO: return "auto";
	case SHADOWPT__BACKEND__BACKEND_PROCFS: return "procfs";
	case SHADOWPT__BACKEND__BACKEND_KERNEL: return "kernel";
	default: return "unspecified";
	}
}

int spt_backend_parse(const char *name)
{
	static const int named[] = {SHADOWPT__BACKEND__BACKEND_AUTO,
				    SHADOWPT__BACKEND__BACKEND_KERNEL,
				    SHADOWPT__BACKEND__BACKEND_PROCFS};

	for (size_t i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (!strcmp(name, spt_backend_name(named[i])))
			return named[i];
	return -1;
}

const char *spt_error_code_name(int code)
{
	switch (code) {
	case SHADOWPT__ERROR_CODE__ERROR_UNSUPPORTED_VERSION: return "unsupported protocol version";
	case SHADOWPT__ERROR_CODE__ERROR_MALFORMED_FRAME: return "malformed frame";
	case SHADOWPT__ERROR_CODE__ERROR_FRAME_TOO_LARGE: return "frame too large";
	case SHADOWPT__ERROR_CODE__ERROR_UNEXPECTED_MESSAGE: return "unexpected message";
	case SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS: return "no such process";
	case SHADOWPT__ERROR_CODE__ERROR_PERMISSION_DENIED: return "permission denied";
	case SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE: return "invalid range";
	case SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED: return "limit exceeded";
	case SHADOWPT__ERROR_CODE__ERROR_BACKEND_UNAVAILABLE: return "backend unavailable";
	case SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_WATCH: return "no such watch";
	case SHADOWPT__ERROR_CODE__ERROR_NOT_MAPPED: return "page not mapped";
	case SHADOWPT__ERROR_CODE__ERROR_SLOW_VIEWER: return "viewer too slow";
	case SHADOWPT__ERROR_CODE__ERROR_SHUTTING_DOWN: return "daemon shutting down";
	case SHADOWPT__ERROR_CODE__ERROR_INTERNAL: return "internal error";
	case SHADOWPT__ERROR_CODE__ERROR_INVALID_ARGUMENT: return "invalid argument";
	default: return "unknown error";
	}
}

void spt_frame_set_error(SptFrame *frame, Shadowpt__Error *err, uint32_t request_id,
			 int code, const char *msg, int fatal)
{
	shadowpt__frame__init(frame);
	shadowpt__error__init(err);
	frame->has_request_id = request_id != 0;
	frame->request_id = request_id;
	frame->msg_case = SHADOWPT__FRAME__MSG_ERROR;
	frame->error = err;
	err->has_code = 1;
	err->code = code;
	err->message = (char *)msg;
	err->has_fatal = 1;
	err->fatal = fatal != 0;
}
