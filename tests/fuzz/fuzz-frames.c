// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: a byte stream as the client receives it from a server,
 * split into frames, decoded, and applied to a page-state model (the
 * path that parses untrusted input on both sides: frame check, protobuf
 * unpack, snapshot chunk and delta validation, pages and runs).
 *
 * Built for libFuzzer with -Dfuzzers=true (clang). In normal builds the
 * same entry point is driven by a deterministic mutator over valid
 * seeds plus any files given on the command line, so CI runs it under
 * ASan/UBSan on every change.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "fuzz-replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spt_state st;
	uint32_t next_chunk = 0;
	size_t off = 0, plen;

	spt_state_init(&st);
	while (spt_frame_check(data + off, size - off, SPT_MAX_SERVER_FRAME, &plen) == 1) {
		SptFrame *f = spt_frame_decode(data + off + SPT_FRAME_HEADER_SIZE, plen);

		off += SPT_FRAME_HEADER_SIZE + plen;
		if (!f)
			break;
		if (f->msg_case == SHADOWPT__FRAME__MSG_SNAPSHOT) {
			if (spt_snapshot_apply_chunk(&st, f->snapshot, next_chunk) == 0)
				next_chunk = f->snapshot->last_chunk ? 0 : next_chunk + 1;
			else
				next_chunk = 0;
		} else if (f->msg_case == SHADOWPT__FRAME__MSG_DELTA) {
			struct spt_delta d;

			/* Both client paths: apply, and decode for display. */
			(void)spt_delta_apply_pb(&st, f->delta);
			spt_delta_init(&d);
			(void)spt_delta_from_pb(&d, f->delta);
			spt_delta_free(&d);
		}
		(void)spt_frame_type_name(f);
		spt_frame_free(f);
	}
	spt_state_free(&st);
	return 0;
}

static int append(uint8_t **buf, size_t *len, const uint8_t *data, size_t n)
{
	uint8_t *p = realloc(*buf, *len + n);

	if (!p)
		return -1;
	memcpy(p + *len, data, n);
	*buf = p;
	*len += n;
	return 0;
}

/* Appends every frame of a snapshot and a delta of a -> b in one protocol. */
static void append_stream(uint8_t **out, size_t *out_len, const struct spt_state *a,
			  const struct spt_state *b, uint32_t proto)
{
	struct spt_snapshot_meta sm = { .watch_id = 1, .seq = 1, .proto = proto };
	struct spt_delta_meta dm = { .watch_id = 1, .seq = 2, .base_seq = 1, .proto = proto,
				     .cause = 2, .event_time_ns = 5 };
	struct spt_encoded *frames;
	struct spt_delta d;
	size_t n;

	spt_delta_init(&d);
	if (spt_snapshot_encode(a, &sm, NULL, NULL, &frames, &n))
		abort();
	for (size_t i = 0; i < n; i++)
		append(out, out_len, frames[i].data, frames[i].len);
	spt_encoded_free_array(frames, n);
	spt_state_diff(a, b, &d);
	if (spt_delta_encode(&d, &dm, NULL, NULL, &frames, &n))
		abort();
	for (size_t i = 0; i < n; i++)
		append(out, out_len, frames[i].data, frames[i].len);
	spt_encoded_free_array(frames, n);
	spt_delta_free(&d);
}

/*
 * The seed: valid streams, a snapshot then a delta on top of it, in
 * protocol 1 (pages) and protocol 2 (runs: a zero-page run, a THP-like
 * run, single pages).
 */
int spt_fuzz_builtin_seed(uint8_t **out, size_t *out_len)
{
	struct spt_run zero = { .vaddr = 0x40000, .npages = 64, .flags = 7, .pfn = 0x3b34 };
	struct spt_run thp = { .vaddr = 0x200000, .npages = 512, .flags = 7 | SPT_F_THP,
			       .pfn = 512 * 3, .stride = 1 };
	struct spt_state a, b;

	spt_state_init(&a);
	spt_state_init(&b);
	for (int i = 0; i < 3; i++) {
		struct spt_vma v = { .start = 0x10000 + i * 0x10000, .end = 0x18000 + i * 0x10000,
				     .prot = 3, .kind = SPT_VMA_ANON + i, .name = "[heap]" };
		spt_state_append_vma(&a, &v);
		if (i != 1)
			spt_state_append_vma(&b, &v);
	}
	for (int i = 0; i < 8; i++) {
		struct spt_page p = { .vaddr = 0x10000 + i * 0x1000, .flags = 7, .pfn = 100 + 3 * i };

		spt_state_append_page(&a, &p);
		p.pfn += i & 1;
		spt_state_append_page(&b, &p);
	}
	spt_state_append_run(&a, &zero);
	spt_state_append_run(&a, &thp);
	thp.pfn += 512;
	spt_state_append_run(&b, &thp);
	*out = NULL;
	*out_len = 0;
	append_stream(out, out_len, &a, &b, 1);
	append_stream(out, out_len, &a, &b, 2);
	spt_state_free(&a);
	spt_state_free(&b);
	return 0;
}
