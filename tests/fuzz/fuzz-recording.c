// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: a recording file as `shadowctl replay` and `plot` read it
 * (client/recfile.c), with every frame fed to the client's table the way
 * the replay does (client/table.c: chunk order, base_seq, resyncs), then
 * rewound and read again as a seek does. Each input is also read with
 * its record CRCs made right, or mutations would rarely get past them.
 * The code under test is compiled into this target (see meson.build) so
 * that libFuzzer sees its coverage.
 *
 * Built for libFuzzer with -Dfuzzers=true (clang); in normal builds the
 * replay driver runs the built-in seed and the seed files with
 * deterministic mutations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#include "convert.h"
#include "fuzz-replay.h"
#include "recfile.h"
#include "table.h"

static void feed(struct sctl_table *t, const SptFrame *f, uint64_t ns)
{
	const char *why;

	if (f->msg_case == SHADOWPT__FRAME__MSG_SNAPSHOT)
		(void)sctl_table_snapshot(t, f->snapshot, (int64_t)(ns / 1000000u), &why);
	else if (f->msg_case == SHADOWPT__FRAME__MSG_DELTA)
		(void)sctl_table_delta(t, f->delta, (int64_t)(ns / 1000000u), &why);
}

static void read_recording(const uint8_t *data, size_t size)
{
	struct sctl_rec_reader r;
	struct sctl_rec_mark start;
	struct sctl_table t;
	struct sctl_table_stats stats;
	const SptFrame *f;
	uint64_t ns;
	int pass;

	if (sctl_rec_open_mem(&r, data, size) < 0) {
		sctl_rec_close(&r);
		return;
	}
	sctl_rec_tell(&r, &start);
	for (pass = 0; pass < 2; pass++) {
		sctl_table_init(&t);
		while (sctl_rec_next(&r, &ns, &f) == 1)
			feed(&t, f, ns);
		/* Once per pass: after every frame it made the target O(n^2). */
		if (t.valid)
			sctl_table_stats(&t.st, &stats);
		(void)sctl_rec_status_name(r.status);
		sctl_table_free(&t);
		if (sctl_rec_rewind(&r, &start) < 0)
			break;
	}
	sctl_rec_close(&r);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Rewrites the CRC of every whole record in place. */
static void repair_crcs(uint8_t *d, size_t size)
{
	size_t off = SCTL_REC_PREAMBLE_LEN;

	while (off + SCTL_REC_RECORD_HEAD <= size) {
		uint32_t len = be32(d + off), crc;

		if (len > size - off - SCTL_REC_RECORD_HEAD)
			break;
		crc = (uint32_t)crc32(0, d + off + SCTL_REC_RECORD_HEAD, len);
		d[off + 4] = (uint8_t)(crc >> 24);
		d[off + 5] = (uint8_t)(crc >> 16);
		d[off + 6] = (uint8_t)(crc >> 8);
		d[off + 7] = (uint8_t)crc;
		off += SCTL_REC_RECORD_HEAD + len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	read_recording(data, size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	repair_crcs(copy, size);
	read_recording(copy, size);
	free(copy);
	return 0;
}

/* The seed: a small, valid recording (chunked snapshot, deltas, exit, end). */
int spt_fuzz_builtin_seed(uint8_t **out, size_t *out_len)
{
	Shadowpt__Welcome wel = SHADOWPT__WELCOME__INIT;
	Shadowpt__WatchStarted ws = SHADOWPT__WATCH_STARTED__INIT;
	Shadowpt__TargetExited te = SHADOWPT__TARGET_EXITED__INIT;
	SctlRecHeader h = SHADOWPT__REC__HEADER__INIT;
	SctlRecEnd e = SHADOWPT__REC__END__INIT;
	SptFrame ef = SHADOWPT__FRAME__INIT;
	struct spt_snapshot_meta sm = {.watch_id = 1, .seq = 1};
	struct spt_delta_meta dm = {.watch_id = 1, .seq = 2, .base_seq = 1};
	struct sctl_rec_writer w;
	struct spt_state a, b;
	struct spt_encoded *frames;
	struct spt_delta d;
	size_t n;
	uint8_t *buf;
	int fd = memfd_create("seed", 0);

	if (fd < 0)
		return -1;
	spt_state_init(&a);
	spt_state_init(&b);
	spt_delta_init(&d);
	for (int i = 0; i < 3; i++) {
		struct spt_vma v = {.start = 0x10000 + i * 0x10000, .end = 0x18000 + i * 0x10000,
				    .prot = 3, .kind = SPT_VMA_ANON + i, .name = "[heap]"};

		spt_state_append_vma(&a, &v);
		if (i != 1)
			spt_state_append_vma(&b, &v);
	}
	for (int i = 0; i < 8; i++) {
		struct spt_page p = {.vaddr = 0x10000 + i * 0x1000, .flags = 7, .pfn = 100 + i};

		spt_state_append_page(&a, &p);
		p.pfn += i & 1;
		spt_state_append_page(&b, &p);
	}
	ws.has_pid = ws.has_watch_id = ws.has_pfn_visibility = 1;
	ws.pid = 42;
	ws.watch_id = 1;
	ws.pfn_visibility = SHADOWPT__PFN_VISIBILITY__PFN_RAW;
	h.has_start_monotonic_ns = 1;
	h.start_monotonic_ns = 1000;
	h.welcome = &wel;
	h.started = &ws;
	if (sctl_rec_write_start(&w, fd, &h))
		abort();
	if (spt_snapshot_encode(&a, &sm, NULL, NULL, &frames, &n))
		abort();
	for (size_t i = 0; i < n; i++)
		sctl_rec_write_frame(&w, 2000 + i, frames[i].data + SPT_FRAME_HEADER_SIZE,
				     frames[i].len - SPT_FRAME_HEADER_SIZE);
	spt_encoded_free_array(frames, n);
	spt_state_diff(&a, &b, &d);
	if (spt_delta_encode(&d, &dm, NULL, NULL, &frames, &n))
		abort();
	for (size_t i = 0; i < n; i++)
		sctl_rec_write_frame(&w, 3000000 + i, frames[i].data + SPT_FRAME_HEADER_SIZE,
				     frames[i].len - SPT_FRAME_HEADER_SIZE);
	spt_encoded_free_array(frames, n);
	te.has_watch_id = te.has_pid = 1;
	te.watch_id = 1;
	te.pid = 42;
	ef.msg_case = SHADOWPT__FRAME__MSG_TARGET_EXITED;
	ef.target_exited = &te;
	if (spt_frame_encode(&ef, SPT_MAX_SERVER_FRAME, &buf, &n))
		abort();
	sctl_rec_write_frame(&w, 4000000, buf + SPT_FRAME_HEADER_SIZE, n - SPT_FRAME_HEADER_SIZE);
	free(buf);
	e.has_reason = 1;
	e.reason = SHADOWPT__REC__END_REASON__END_TARGET_EXITED;
	sctl_rec_write_end(&w, &e);

	*out_len = (size_t)lseek(fd, 0, SEEK_END);
	*out = malloc(*out_len);
	if (!*out || pread(fd, *out, *out_len, 0) != (ssize_t)*out_len)
		abort();
	close(fd);
	spt_delta_free(&d);
	spt_state_free(&a);
	spt_state_free(&b);
	return 0;
}
