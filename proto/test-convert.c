// SPDX-License-Identifier: GPL-2.0-or-later
/* Snapshot chunking and delta encoding, decoded back through the wire. */
#include <errno.h>
#include <string.h>

#include "convert.h"
#include "test-common.h"

static SptFrame *decode(const struct spt_encoded *e)
{
	size_t plen;

	if (spt_frame_check(e->data, e->len, SPT_MAX_SERVER_FRAME, &plen) != 1)
		return NULL;
	return spt_frame_decode(e->data + SPT_FRAME_HEADER_SIZE, plen);
}

static uint64_t token_map(void *ctx, uint64_t pfn)
{
	(void)ctx;
	return pfn ^ 0xabcdefull;
}

static void build(struct spt_state *st, size_t npages)
{
	struct spt_vma v = { .start = 0x100000000ull, .end = 0x100000000ull + npages * 4096,
			     .prot = 3, .kind = SPT_VMA_ANON, .name = "[anon:big]" };

	spt_state_append_vma(st, &v);
	for (size_t i = 0; i < npages; i++) {
		struct spt_page p = { .vaddr = v.start + i * 4096, .flags = 7, .pfn = 1000 + i };

		spt_state_append_page(st, &p);
	}
}

static void test_chunked_snapshot(void)
{
	struct spt_snapshot_meta meta = { .watch_id = 3, .seq = 9, .timestamp_ns = 1 };
	struct spt_state st, back;
	struct spt_encoded *frames;
	size_t n, maxlen = 0;
	bool ok = true;

	spt_state_init(&st);
	spt_state_init(&back);
	build(&st, 100000);
	CHECK(spt_snapshot_encode(&st, &meta, NULL, NULL, &frames, &n) == 0, "encode 100k pages");
	CHECK(n > 1, "snapshot split into %zu chunks", n);
	for (size_t i = 0; i < n; i++) {
		SptFrame *f = decode(&frames[i]);

		if (frames[i].len > maxlen)
			maxlen = frames[i].len;
		if (!f || f->msg_case != SHADOWPT__FRAME__MSG_SNAPSHOT ||
		    f->snapshot->last_chunk != (i == n - 1) || f->snapshot->seq != 9 ||
		    spt_snapshot_apply_chunk(&back, f->snapshot, (uint32_t)i) != 0)
			ok = false;
		spt_frame_free(f);
	}
	CHECK(ok, "every chunk decodes and applies in order");
	CHECK(maxlen <= SPT_MAX_SERVER_FRAME, "largest chunk %zu under the frame limit", maxlen);
	CHECK(spt_state_equal(&st, &back), "reassembled snapshot equals the original");
	/* Replaying chunk 1 where chunk 0 is expected is refused. */
	SptFrame *f = decode(&frames[1]);
	CHECK(f && spt_snapshot_apply_chunk(&back, f->snapshot, 0) == -EINVAL, "out-of-order chunk refused");
	spt_frame_free(f);
	spt_encoded_free_array(frames, n);
	spt_state_free(&st);
	spt_state_free(&back);
}

static void test_empty_snapshot_and_tokens(void)
{
	struct spt_snapshot_meta meta = { .watch_id = 1, .seq = 1, .resync = true };
	struct spt_state st, back;
	struct spt_encoded *frames;
	size_t n;

	spt_state_init(&st);
	spt_state_init(&back);
	CHECK(spt_snapshot_encode(&st, &meta, NULL, NULL, &frames, &n) == 0 && n == 1,
	      "empty state is one chunk");
	SptFrame *f = decode(&frames[0]);
	CHECK(f && f->snapshot->last_chunk && f->snapshot->resync, "empty chunk is last, resync kept");
	spt_frame_free(f);
	spt_encoded_free_array(frames, n);

	build(&st, 3);
	spt_snapshot_encode(&st, &meta, token_map, NULL, &frames, &n);
	f = decode(&frames[0]);
	CHECK(f && spt_snapshot_apply_chunk(&back, f->snapshot, 0) == 0 &&
		      back.pages[0].pfn == (1000 ^ 0xabcdefull), "pfn mapper applied");
	spt_frame_free(f);
	spt_encoded_free_array(frames, n);
	spt_state_free(&st);
	spt_state_free(&back);
}

static void test_delta(void)
{
	struct spt_delta_meta meta = { .watch_id = 2, .seq = 5, .base_seq = 4 };
	struct spt_state a, b;
	struct spt_delta d;
	struct spt_encoded e;

	spt_state_init(&a);
	spt_state_init(&b);
	spt_delta_init(&d);
	build(&a, 10);
	build(&b, 4);
	spt_state_diff(&a, &b, &d);
	CHECK(spt_delta_encode(&d, &meta, NULL, NULL, &e) == 0, "encode delta");
	SptFrame *f = decode(&e);
	CHECK(f && f->delta->seq == 5 && f->delta->base_seq == 4, "delta seq and base");
	CHECK(f && spt_delta_apply_pb(&a, f->delta) == 0 && spt_state_equal(&a, &b),
	      "decoded delta turns a into b");
	/* Applying it again fails: the removed VMA is gone. */
	CHECK(f && spt_delta_apply_pb(&a, f->delta) == -EINVAL, "replayed delta refused");
	spt_frame_free(f);
	spt_encoded_free(&e);

	/* A delta that cannot fit one frame asks for a resync instead. */
	spt_state_clear(&a);
	spt_state_clear(&b);
	build(&b, 100000);
	spt_state_diff(&a, &b, &d);
	CHECK(spt_delta_encode(&d, &meta, NULL, NULL, &e) == -EMSGSIZE, "oversize delta is -EMSGSIZE");
	spt_delta_free(&d);
	spt_state_free(&a);
	spt_state_free(&b);
}

static void test_bad_messages(void)
{
	Shadowpt__Vma vma = SHADOWPT__VMA__INIT, *vp = &vma;
	Shadowpt__Snapshot snap = SHADOWPT__SNAPSHOT__INIT;
	struct spt_state st;

	spt_state_init(&st);
	vma.has_start = vma.has_end = vma.has_kind = 1;
	vma.start = 0x1000, vma.end = 0x2000, vma.kind = 77;
	snap.n_vmas = 1, snap.vmas = &vp;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 0) == -EINVAL, "unknown vma kind refused");
	vma.kind = SHADOWPT__VMA_KIND__VMA_ANON, vma.has_end = 0;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 0) == -EINVAL, "vma without end refused");
	spt_state_free(&st);
}

int main(void)
{
	test_chunked_snapshot();
	test_empty_snapshot_and_tokens();
	test_delta();
	test_bad_messages();
	return spt_test_done();
}
