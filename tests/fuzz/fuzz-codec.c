// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the frame codec (proto/wire.c) on its own. The input is
 * one frame as it arrives, header included: it is checked against both
 * limits (a client's frame, a server's), decoded, named, and whatever
 * decodes is encoded again, which must succeed and, when it decodes
 * again, give a frame of the same type and request id. (Not always
 * decodable: protobuf-c keeps unknown fields as they came, at any depth,
 * field number 0 or a known number with another wire type among them,
 * and then cannot read its own output back. No code of ours re-encodes
 * a decoded frame.) The check must refuse a length over the limit from
 * the header alone.
 *
 * libFuzzer with -Dfuzzers=true; in normal builds the replay driver runs
 * the built-in seed with mutations.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz-replay.h"
#include "wire.h"

static void roundtrip(const SptFrame *f)
{
	uint8_t *a, *b;
	size_t alen, blen, plen;
	SptFrame *g;

	if (spt_frame_encode(f, SIZE_MAX >> 8, &a, &alen) < 0)
		abort();
	if (spt_frame_check(a, alen, SIZE_MAX >> 8, &plen) != 1 ||
	    plen + SPT_FRAME_HEADER_SIZE != alen)
		abort();
	g = spt_frame_decode(a + SPT_FRAME_HEADER_SIZE, plen);
	if (!g) {
		free(a);
		return;
	}
	if (spt_frame_encode(g, SIZE_MAX >> 8, &b, &blen) < 0)
		abort();
	if (g->msg_case != f->msg_case || g->has_request_id != f->has_request_id ||
	    g->request_id != f->request_id ||
	    strcmp(spt_frame_type_name(g), spt_frame_type_name(f)))
		abort();
	free(a);
	free(b);
	spt_frame_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t limits[] = {SPT_MAX_CLIENT_FRAME, SPT_MAX_SERVER_FRAME};
	uint32_t declared = size >= 4 ? (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
					    (uint32_t)data[2] << 8 | data[3]
				      : 0;

	for (size_t i = 0; i < 2; i++) {
		size_t plen = 0;
		int r = spt_frame_check(data, size, limits[i], &plen);
		SptFrame *f;

		if (size >= 4 && declared > limits[i] && r >= 0)
			abort(); /* over the limit, yet not refused */
		if (r != 1)
			continue;
		if (plen != declared || plen + SPT_FRAME_HEADER_SIZE > size)
			abort();
		f = spt_frame_decode(data + SPT_FRAME_HEADER_SIZE, plen);
		if (!f)
			continue;
		(void)spt_frame_type_name(f);
		roundtrip(f);
		spt_frame_free(f);
	}
	return 0;
}

/* The seed: a Hello. */
int spt_fuzz_builtin_seed(uint8_t **out, size_t *out_len)
{
	Shadowpt__Hello h = SHADOWPT__HELLO__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	h.has_protocol_version = 1;
	h.protocol_version = SPT_PROTOCOL_VERSION;
	h.client_name = "seed";
	f.has_request_id = 1;
	f.request_id = 7;
	f.msg_case = SHADOWPT__FRAME__MSG_HELLO;
	f.hello = &h;
	return spt_frame_encode(&f, SPT_MAX_CLIENT_FRAME, out, out_len) < 0 ? -1 : 0;
}
