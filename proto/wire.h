/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The wire layer shared by shadowptd and shadowctl: frames are a 4-byte
 * big-endian payload length followed by one packed shadowpt.Frame.
 * Lengths are checked against the receiver's limit before anything is
 * allocated.
 */
#ifndef SHADOWPT_WIRE_H
#define SHADOWPT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "shadowpt.pb-c.h"
#include "shadowpt-limits.h"

typedef Shadowpt__Frame SptFrame;

/*
 * Looks at the start of a receive buffer. Returns 1 and sets *payload_len
 * when a whole frame is available (header + payload <= avail), 0 when more
 * bytes are needed, -EMSGSIZE when the announced length exceeds max_payload.
 * A zero-length payload is legal (an empty Frame) and rejected later as
 * an unexpected message.
 */
int spt_frame_check(const uint8_t *buf, size_t avail, size_t max_payload,
		    size_t *payload_len);

/* Unpacks one payload; NULL if it does not decode. Free with spt_frame_free. */
SptFrame *spt_frame_decode(const uint8_t *payload, size_t len);
void spt_frame_free(SptFrame *frame);

/*
 * Packs frame with its length prefix into a new malloc'd buffer.
 * Returns 0, -EMSGSIZE if the payload would exceed max_payload, -ENOMEM.
 */
int spt_frame_encode(const SptFrame *frame, size_t max_payload, uint8_t **out,
		     size_t *out_len);

/* Human name of a frame's message ("watch", "delta", ...) for logs. */
const char *spt_frame_type_name(const SptFrame *frame);

/* Name of a Shadowpt__Backend value ("auto", "procfs", "kernel"). */
const char *spt_backend_name(int backend);
/* The backend a user named: auto, kernel or procfs; -1 for anything else. */
int spt_backend_parse(const char *name);

/* Human text for an ErrorCode, for clients. */
const char *spt_error_code_name(int code);

/* Initialises an envelope carrying an Error. msg is borrowed. */
void spt_frame_set_error(SptFrame *frame, Shadowpt__Error *err, uint32_t request_id,
			 int code, const char *msg, int fatal);

#endif
