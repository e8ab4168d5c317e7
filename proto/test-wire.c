// SPDX-License-Identifier: GPL-2.0-or-later
/* Frame codec: round trips, truncation, oversize lengths, garbage. */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cause.h"
#include "test-common.h"
#include "wire.h"

static void test_round_trip(void)
{
	Shadowpt__Frame f = SHADOWPT__FRAME__INIT, *back;
	Shadowpt__Hello h = SHADOWPT__HELLO__INIT;
	size_t len, plen;
	uint8_t *buf;

	h.has_protocol_version = 1;
	h.protocol_version = SPT_PROTOCOL_VERSION;
	h.client_name = "test";
	f.has_request_id = 1;
	f.request_id = 42;
	f.msg_case = SHADOWPT__FRAME__MSG_HELLO;
	f.hello = &h;
	CHECK(spt_frame_encode(&f, SPT_MAX_CLIENT_FRAME, &buf, &len) == 0, "encode hello");
	CHECK(spt_frame_check(buf, len, SPT_MAX_CLIENT_FRAME, &plen) == 1 &&
		      plen + SPT_FRAME_HEADER_SIZE == len, "complete frame detected");
	/* Every strict prefix asks for more bytes. */
	bool all_short = true;
	for (size_t i = 0; i < len; i++)
		if (spt_frame_check(buf, i, SPT_MAX_CLIENT_FRAME, &plen) != 0)
			all_short = false;
	CHECK(all_short, "every truncated prefix needs more data");
	back = spt_frame_decode(buf + SPT_FRAME_HEADER_SIZE, len - SPT_FRAME_HEADER_SIZE);
	CHECK(back && back->msg_case == SHADOWPT__FRAME__MSG_HELLO && back->request_id == 42 &&
		      back->hello->protocol_version == SPT_PROTOCOL_VERSION &&
		      strcmp(back->hello->client_name, "test") == 0, "decode gives back hello");
	CHECK(back && strcmp(spt_frame_type_name(back), "hello") == 0, "type name");
	spt_frame_free(back);
	free(buf);
}

static void test_limits(void)
{
	uint8_t hdr[4] = { 0x00, 0x01, 0x00, 0x01 }; /* 65537 */
	uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };
	uint8_t exact[4] = { 0x00, 0x01, 0x00, 0x00 }; /* 65536 */
	size_t plen;

	CHECK(spt_frame_check(hdr, 4, SPT_MAX_CLIENT_FRAME, &plen) == -EMSGSIZE,
	      "length one over the client limit is refused from the header alone");
	CHECK(spt_frame_check(huge, 4, SPT_MAX_SERVER_FRAME, &plen) == -EMSGSIZE,
	      "4 GiB length refused");
	CHECK(spt_frame_check(exact, 4, SPT_MAX_CLIENT_FRAME, &plen) == 0,
	      "length at the limit waits for its payload");
}

static void test_encode_limit(void)
{
	Shadowpt__Frame f = SHADOWPT__FRAME__INIT;
	Shadowpt__Hello h = SHADOWPT__HELLO__INIT;
	char name[200];
	uint8_t *buf = NULL;
	size_t len;

	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	h.client_name = name;
	f.msg_case = SHADOWPT__FRAME__MSG_HELLO;
	f.hello = &h;
	CHECK(spt_frame_encode(&f, 100, &buf, &len) == -EMSGSIZE && !buf,
	      "encode refuses a payload over the limit");
}

static void test_garbage(void)
{
	static const uint8_t junk[][8] = {
		{ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0x12, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80 }, /* field 2, runaway len */
		{ 0x0f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 }, /* wire type 7 */
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		SptFrame *f = spt_frame_decode(junk[i], sizeof(junk[i]));

		CHECK(f == NULL, "garbage %zu does not decode", i);
		spt_frame_free(f);
	}
	/* An unknown field decodes into a frame with no message set. */
	static const uint8_t unknown[] = { 0xf8, 0x07, 0x01 }; /* field 127 varint */
	SptFrame *f = spt_frame_decode(unknown, sizeof(unknown));
	CHECK(f && f->msg_case == SHADOWPT__FRAME__MSG__NOT_SET,
	      "unknown type decodes with no message set (caller rejects it)");
	CHECK(f && strcmp(spt_frame_type_name(f), "unknown") == 0, "unknown type name");
	spt_frame_free(f);
	SptFrame *empty = spt_frame_decode((const uint8_t *)"", 0);
	CHECK(empty && empty->msg_case == SHADOWPT__FRAME__MSG__NOT_SET, "empty payload is an empty frame");
	spt_frame_free(empty);
}

static void test_error_frame(void)
{
	Shadowpt__Frame f;
	Shadowpt__Error e;

	spt_frame_set_error(&f, &e, 7, SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE, "bad", 1);
	CHECK(f.msg_case == SHADOWPT__FRAME__MSG_ERROR && f.request_id == 7 && e.fatal &&
		      e.code == SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE, "error frame set");
	CHECK(strcmp(spt_error_code_name(e.code), "invalid range") == 0, "error code name");
}

/* Every Cause the schema defines has a name of its own. */
static void test_cause_names(void)
{
	const ProtobufCEnumDescriptor *d = &shadowpt__cause__descriptor;

	for (unsigned i = 0; i < d->n_values; i++) {
		int v = d->values[i].value;

		CHECK(v == 0 || strcmp(spt_cause_name((unsigned)v), "unknown") != 0,
		      "cause %s has a name", d->values[i].name);
	}
	CHECK(strcmp(spt_cause_name(SHADOWPT__CAUSE__CAUSE_WRITE_FAULT), "write-fault") == 0,
	      "write-fault");
	CHECK(strcmp(spt_cause_name(9999), "unknown") == 0, "unknown cause");
}

int main(void)
{
	test_cause_names();
	test_round_trip();
	test_limits();
	test_encode_limit();
	test_garbage();
	test_error_frame();
	return spt_test_done();
}
