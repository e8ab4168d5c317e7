/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the recording file (recfile.c): write, read back from a
 * file and from memory, every cut of a file, flipped bytes, the wrong
 * magic, a future version, records out of place, rewinding.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "recfile.h"
#include "test-common.h"

#define NFRAMES 20

/* A daemon frame payload: a Pong with the nonce i. */
static size_t pong_payload(uint8_t *buf, uint64_t i)
{
	Shadowpt__Pong p = SHADOWPT__PONG__INIT;
	SptFrame f = SHADOWPT__FRAME__INIT;

	p.has_nonce = 1;
	p.nonce = i;
	f.msg_case = SHADOWPT__FRAME__MSG_PONG;
	f.pong = &p;
	return shadowpt__frame__pack(&f, buf);
}

/* A recording of NFRAMES pongs, 1 ms apart, with or without its end record. */
static uint8_t *make_recording(size_t *len, bool with_end)
{
	Shadowpt__Welcome wel = SHADOWPT__WELCOME__INIT;
	Shadowpt__WatchStarted ws = SHADOWPT__WATCH_STARTED__INIT;
	SctlRecHeader h = SHADOWPT__REC__HEADER__INIT;
	SctlRecEnd e = SHADOWPT__REC__END__INIT;
	struct sctl_rec_writer w;
	int fd = memfd_create("rec", 0);
	uint8_t *data, payload[64];
	off_t size;

	ws.has_pid = ws.has_watch_id = 1;
	ws.pid = 42;
	ws.watch_id = 7;
	ws.comm = (char *)"target";
	h.has_start_monotonic_ns = 1;
	h.start_monotonic_ns = 1000000000ull;
	h.welcome = &wel;
	h.started = &ws;
	if (fd < 0 || sctl_rec_write_start(&w, fd, &h))
		abort();
	for (uint64_t i = 0; i < NFRAMES; i++) {
		size_t n = pong_payload(payload, i);

		if (sctl_rec_write_frame(&w, h.start_monotonic_ns + i * 1000000ull, payload, n))
			abort();
	}
	e.has_reason = e.has_frames = 1;
	e.reason = SHADOWPT__REC__END_REASON__END_INTERRUPTED;
	e.frames = NFRAMES;
	if (with_end && sctl_rec_write_end(&w, &e))
		abort();
	size = lseek(fd, 0, SEEK_END);
	data = malloc((size_t)size);
	if (!data || pread(fd, data, (size_t)size, 0) != size)
		abort();
	close(fd);
	*len = (size_t)size;
	return data;
}

/* Reads everything; returns the frames read, or -1 - frames on an error. */
static long read_all(struct sctl_rec_reader *r)
{
	const SptFrame *f;
	uint64_t t;
	long n = 0;
	int k;

	while ((k = sctl_rec_next(r, &t, &f)) == 1) {
		if (f->msg_case != SHADOWPT__FRAME__MSG_PONG || f->pong->nonce != (uint64_t)n ||
		    t != (uint64_t)n * 1000000ull)
			return -1000;
		n++;
	}
	return k == 0 ? n : -1 - n;
}

static void test_round_trip(void)
{
	struct sctl_rec_reader r;
	size_t len;
	uint8_t *data = make_recording(&len, true);
	int fd = memfd_create("rec", 0);

	CHECK(!memcmp(data, SCTL_REC_MAGIC, SCTL_REC_MAGIC_LEN), "file starts with the magic");
	CHECK(sctl_rec_open_mem(&r, data, len) == 0, "open from memory: %s", r.why);
	CHECK(r.header->started->pid == 42 && !strcmp(r.header->started->comm, "target"),
	      "header holds the WatchStarted");
	CHECK(read_all(&r) == NFRAMES, "every frame, in order, with its time");
	CHECK(r.end && r.end->frames == NFRAMES, "end record read");
	sctl_rec_close(&r);

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET))
		abort();
	CHECK(sctl_rec_open_fd(&r, fd) == 0, "open from a file: %s", r.why);
	CHECK(read_all(&r) == NFRAMES, "every frame from the file");
	sctl_rec_close(&r);
	close(fd);
	free(data);
}

static void test_rewind(void)
{
	struct sctl_rec_reader r;
	struct sctl_rec_mark m;
	const SptFrame *f;
	size_t len;
	uint8_t *data = make_recording(&len, true);
	int fd = memfd_create("rec", 0);
	uint64_t t;
	bool ok = true;

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET))
		abort();
	if (sctl_rec_open_fd(&r, fd))
		abort();
	for (int i = 0; i < 5; i++)
		ok &= sctl_rec_next(&r, &t, &f) == 1;
	sctl_rec_tell(&r, &m);
	while (sctl_rec_next(&r, &t, &f) == 1)
		;
	CHECK(ok && sctl_rec_rewind(&r, &m) == 0, "rewind after the end");
	CHECK(sctl_rec_next(&r, &t, &f) == 1 && f->pong->nonce == 5 && t == 5000000,
	      "the frame after the mark comes again");
	CHECK(r.frames == 6, "frame count follows the rewind");
	/* A mark far outside the buffer forces a seek. */
	r.buf_off += 1u << 30;
	CHECK(sctl_rec_rewind(&r, &m) == 0 && sctl_rec_next(&r, &t, &f) == 1 &&
		  f->pong->nonce == 5,
	      "rewind by seeking the file");
	sctl_rec_close(&r);
	close(fd);
	free(data);
}

/* Every possible cut: readable up to the last complete frame, never more. */
static void test_every_cut(void)
{
	size_t len, full;
	uint8_t *data = make_recording(&len, false);
	bool all_ok = true;
	long last = -1;

	full = len;
	for (size_t cut = 0; cut <= full; cut++) {
		struct sctl_rec_reader r;
		long n;

		if (sctl_rec_open_mem(&r, data, cut) < 0) {
			if (r.status != SCTL_REC_TRUNCATED && r.status != SCTL_REC_NOT_RECORDING)
				all_ok = false;
			sctl_rec_close(&r);
			continue;
		}
		n = read_all(&r);
		/* Without an end record every cut is an error, after the frames it holds. */
		if (n >= 0 || r.status != SCTL_REC_TRUNCATED || -1 - n < last)
			all_ok = false; /* (and a longer file never reads fewer frames) */
		last = -1 - n;
		sctl_rec_close(&r);
	}
	CHECK(all_ok, "each of %zu cuts: the complete frames, then 'cut short'", full + 1);
	CHECK(last == NFRAMES, "the uncut file without its end record reads all frames");
	free(data);
}

/* Flipping any byte after the preamble is noticed (CRC or length), never read as data. */
static void test_flipped_bytes(void)
{
	size_t len;
	uint8_t *data = make_recording(&len, true);
	bool all_ok = true;

	for (size_t at = SCTL_REC_PREAMBLE_LEN; at < len; at++) {
		struct sctl_rec_reader r;
		long n = -1;

		data[at] ^= 0x5a;
		if (sctl_rec_open_mem(&r, data, len) == 0)
			n = read_all(&r);
		if (n >= 0 || r.status == SCTL_REC_OK)
			all_ok = false;
		sctl_rec_close(&r);
		data[at] ^= 0x5a;
	}
	CHECK(all_ok, "every flipped byte is reported as damage or a cut");
	free(data);
}

static void test_preamble(void)
{
	struct sctl_rec_reader r;
	size_t len;
	uint8_t *data = make_recording(&len, true);

	data[0] = 'X';
	CHECK(sctl_rec_open_mem(&r, data, len) < 0 && r.status == SCTL_REC_NOT_RECORDING,
	      "wrong magic: %s", r.why);
	sctl_rec_close(&r);
	data[0] = SCTL_REC_MAGIC[0];
	data[11] = SCTL_REC_VERSION + 1;
	CHECK(sctl_rec_open_mem(&r, data, len) < 0 && r.status == SCTL_REC_FUTURE_VERSION &&
		  strstr(r.why, "newer"),
	      "future version: %s", r.why);
	sctl_rec_close(&r);
	data[11] = 0;
	CHECK(sctl_rec_open_mem(&r, data, len) < 0 && r.status == SCTL_REC_CORRUPT,
	      "version 0: %s", r.why);
	sctl_rec_close(&r);
	CHECK(sctl_rec_open_mem(&r, data, 0) < 0 && r.status == SCTL_REC_NOT_RECORDING,
	      "empty file: %s", r.why);
	sctl_rec_close(&r);
	free(data);
}

/* Appends one record with a valid CRC to a copy of data. */
static uint8_t *append_record(const uint8_t *data, size_t len, uint8_t type, const void *body,
			      size_t blen, size_t *out_len)
{
	int fd = memfd_create("rec", 0);
	struct sctl_rec_writer w = {.fd = fd};
	SctlRecEnd e = SHADOWPT__REC__END__INIT;
	uint8_t *out;

	if (fd < 0 || write(fd, data, len) != (ssize_t)len)
		abort();
	if (type == SCTL_REC_T_FRAME) {
		w.start_ns = 0;
		if (sctl_rec_write_frame(&w, 0, body, blen))
			abort();
	} else if (type == SCTL_REC_T_END) {
		if (sctl_rec_write_end(&w, &e))
			abort();
	} else {
		/* an unknown type, written by hand: length, CRC, type, body */
		uint8_t rec[64] = {0};
		size_t n = 1 + blen;
		uint32_t c;

		if (n > sizeof(rec) - 8)
			abort();
		rec[3] = (uint8_t)n;
		rec[8] = type;
		memcpy(rec + 9, body, blen);
		c = (uint32_t)crc32(0, rec + 8, (uInt)n);
		rec[4] = (uint8_t)(c >> 24);
		rec[5] = (uint8_t)(c >> 16);
		rec[6] = (uint8_t)(c >> 8);
		rec[7] = (uint8_t)c;
		if (write(fd, rec, 8 + n) != (ssize_t)(8 + n))
			abort();
	}
	*out_len = (size_t)lseek(fd, 0, SEEK_END);
	out = malloc(*out_len);
	if (!out || pread(fd, out, *out_len, 0) != (ssize_t)*out_len)
		abort();
	close(fd);
	return out;
}

static void test_records_out_of_place(void)
{
	struct sctl_rec_reader r;
	size_t len, len2;
	uint8_t *data = make_recording(&len, false), *more, payload[64];
	size_t n = pong_payload(payload, 0);

	/* A frame whose receive time (0) is before the last one. */
	more = append_record(data, len, SCTL_REC_T_FRAME, payload, n, &len2);
	CHECK(sctl_rec_open_mem(&r, more, len2) == 0 && read_all(&r) == -1 - NFRAMES &&
		  r.status == SCTL_REC_CORRUPT && strstr(r.why, "back in time"),
	      "time going backwards: %s", r.why);
	sctl_rec_close(&r);
	free(more);

	/* An unknown record type is skipped. */
	more = append_record(data, len, 200, "future", 6, &len2);
	CHECK(sctl_rec_open_mem(&r, more, len2) == 0 && read_all(&r) == -1 - NFRAMES &&
		  r.status == SCTL_REC_TRUNCATED,
	      "unknown record type skipped: %s", r.why);
	sctl_rec_close(&r);
	free(more);

	/* Data after the end record. */
	free(data);
	data = make_recording(&len, true);
	more = append_record(data, len, SCTL_REC_T_END, NULL, 0, &len2);
	CHECK(sctl_rec_open_mem(&r, more, len2) == 0 && read_all(&r) == -1 - NFRAMES &&
		  r.status == SCTL_REC_CORRUPT && strstr(r.why, "after the end"),
	      "data after the end record: %s", r.why);
	sctl_rec_close(&r);
	free(more);

	/* A frame record holding no daemon frame. */
	free(data);
	data = make_recording(&len, false);
	more = append_record(data, len, SCTL_REC_T_FRAME, "", 0, &len2);
	CHECK(sctl_rec_open_mem(&r, more, len2) == 0 && read_all(&r) == -1 - NFRAMES &&
		  r.status == SCTL_REC_CORRUPT,
	      "empty frame record: %s", r.why);
	sctl_rec_close(&r);
	free(more);
	free(data);
}

static void test_oversized_length(void)
{
	struct sctl_rec_reader r;
	size_t len;
	uint8_t *data = make_recording(&len, true);

	/* The header record's length claims 4 GiB: refused before allocating. */
	memset(data + SCTL_REC_PREAMBLE_LEN, 0xff, 4);
	CHECK(sctl_rec_open_mem(&r, data, len) < 0 && r.status == SCTL_REC_CORRUPT &&
		  strstr(r.why, "claims"),
	      "oversized record length: %s", r.why);
	sctl_rec_close(&r);
	free(data);
}

static void test_write_error(void)
{
	SctlRecHeader h = SHADOWPT__REC__HEADER__INIT;
	struct sctl_rec_writer w;
	int fds[2];

	if (pipe(fds))
		abort();
	close(fds[0]);
	signal(SIGPIPE, SIG_IGN);
	CHECK(sctl_rec_write_start(&w, fds[1], &h) == -EPIPE, "a write error is returned");
	close(fds[1]);
}

int main(void)
{
	test_round_trip();
	test_rewind();
	test_every_cut();
	test_flipped_bytes();
	test_preamble();
	test_records_out_of_place();
	test_oversized_length();
	test_write_error();
	return spt_test_done();
}
