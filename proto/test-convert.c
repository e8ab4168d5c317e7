// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Snapshots and deltas, both protocols, encoded and decoded back through
 * the wire: chunking (all at once and one chunk at a time), protocol 1
 * expansion and its cap, chunked protocol 2 deltas, the protocol 2 delta
 * fields, frame mapping, and hostile messages.
 */
#include <errno.h>
#include <string.h>

#include "convert.h"
#include "test-common.h"

#define PG 4096ull
#define BASE 0x100000000ull

static SptFrame *decode(const struct spt_encoded *e)
{
	size_t plen;

	if (spt_frame_check(e->data, e->len, SPT_MAX_SERVER_FRAME, &plen) != 1)
		return NULL;
	return spt_frame_decode(e->data + SPT_FRAME_HEADER_SIZE, plen);
}

/* Splits every run into single pages whose frames are xor'ed: a worst-case mapper. */
static void xor_map(void *ctx, struct spt_run *r)
{
	(void)ctx;
	r->pfn ^= 0xabcdefull;
	r->npages = 1;
	r->stride = 0;
}

static void add_vma(struct spt_state *st, uint64_t start, uint64_t end)
{
	struct spt_vma v = {.start = start, .end = end, .prot = 3, .kind = SPT_VMA_ANON,
			    .name = "[anon:big]"};

	if (spt_state_append_vma(st, &v))
		abort();
}

/* npages pages whose frames never continue each other: npages runs. */
static void build(struct spt_state *st, size_t npages, uint64_t pfn0)
{
	add_vma(st, BASE, BASE + (npages + 1) * PG);
	for (size_t i = 0; i < npages; i++) {
		struct spt_page p = {.vaddr = BASE + i * PG, .flags = 7, .pfn = pfn0 + 2 * i};

		if (spt_state_append_page(st, &p))
			abort();
	}
}

static void add_run(struct spt_state *st, uint64_t va, uint64_t n, uint64_t pfn, uint8_t stride,
		    uint32_t flags)
{
	struct spt_run r = {.vaddr = va, .npages = n, .pfn = pfn, .stride = stride, .flags = flags};

	if (spt_state_append_run(st, &r))
		abort();
}

/* Decodes frames as snapshot chunks into back; checks numbering and meta. */
static bool reassemble(struct spt_encoded *frames, size_t n, struct spt_state *back, uint64_t seq,
		       bool want_runs)
{
	bool ok = true;

	for (size_t i = 0; i < n && ok; i++) {
		SptFrame *f = decode(&frames[i]);

		ok = f && f->msg_case == SHADOWPT__FRAME__MSG_SNAPSHOT &&
		     f->snapshot->last_chunk == (i == n - 1) && f->snapshot->seq == seq &&
		     frames[i].len <= SPT_MAX_SERVER_FRAME + SPT_FRAME_HEADER_SIZE &&
		     (want_runs ? !f->snapshot->n_pages : !f->snapshot->n_runs) &&
		     spt_snapshot_apply_chunk(back, f->snapshot, (uint32_t)i) == 0;
		spt_frame_free(f);
	}
	return ok;
}

static void test_chunked_snapshot(void)
{
	struct spt_snapshot_meta meta = {.watch_id = 3, .seq = 9, .timestamp_ns = 1};
	struct spt_state st, back;
	struct spt_encoded *frames;
	size_t n;

	spt_state_init(&st);
	spt_state_init(&back);
	build(&st, 100000, 1000);
	for (uint32_t proto = 1; proto <= 2; proto++) {
		meta.proto = proto;
		CHECK(spt_snapshot_encode(&st, &meta, NULL, NULL, &frames, &n) == 0 && n > 1,
		      "protocol %u: 100k runs in %zu chunks", proto, n);
		CHECK(reassemble(frames, n, &back, 9, proto == 2) && spt_state_equal(&st, &back),
		      "protocol %u: chunks decode, apply in order, equal the original", proto);
		/* Replaying chunk 1 where chunk 0 is expected is refused. */
		SptFrame *f = decode(&frames[1]);
		CHECK(f && spt_snapshot_apply_chunk(&back, f->snapshot, 0) == -EINVAL,
		      "protocol %u: out-of-order chunk refused", proto);
		spt_frame_free(f);
		spt_encoded_free_array(frames, n);
	}
	spt_state_free(&st);
	spt_state_free(&back);
}

/* One chunk at a time, the state changing in between: no crash, same numbering. */
static void test_cursor(void)
{
	struct spt_snapshot_meta meta = {.watch_id = 4, .seq = 2, .proto = 2};
	struct spt_snapshot_cursor c;
	struct spt_state st, back;
	struct spt_encoded e;
	uint32_t chunks = 0;
	bool ok = true;
	int r;

	spt_state_init(&st);
	spt_state_init(&back);
	build(&st, 60000, 5);
	spt_snapshot_cursor_init(&c, &meta);
	do {
		SptFrame *f;

		r = spt_snapshot_encode_next(&c, &st, NULL, NULL, &e);
		f = r >= 0 ? decode(&e) : NULL;
		ok = ok && f && f->snapshot->chunk == chunks && f->snapshot->last_chunk == (r == 1) &&
		     spt_snapshot_apply_chunk(&back, f->snapshot, chunks) == 0;
		chunks++;
		spt_frame_free(f);
		spt_encoded_free(&e);
	} while (r == 0);
	CHECK(ok && r == 1 && chunks > 1 && spt_state_equal(&st, &back),
	      "cursor: %u chunks, one per call, reassemble", chunks);
	CHECK(spt_snapshot_encode_next(&c, &st, NULL, NULL, &e) == -EINVAL, "nothing after the last");
	/* A state replaced under the cursor: it resumes by address, never by pointer. */
	spt_snapshot_cursor_init(&c, &meta);
	r = spt_snapshot_encode_next(&c, &st, NULL, NULL, &e);
	spt_encoded_free(&e);
	spt_state_clear(&st);
	build(&st, 10, 5);
	while (r == 0) {
		r = spt_snapshot_encode_next(&c, &st, NULL, NULL, &e);
		spt_encoded_free(&e);
	}
	CHECK(r == 1, "a state that shrank under the cursor ends the snapshot cleanly");
	spt_state_free(&st);
	spt_state_free(&back);
}

static void test_runs_and_protocol1(void)
{
	struct spt_snapshot_meta meta = {.watch_id = 1, .seq = 1, .resync = true, .proto = 2};
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

	/* 1 TiB of the zero page and a THP: two runs, one small frame. */
	add_vma(&st, BASE, BASE + (1ull << 40) + (2ull << 20));
	add_run(&st, BASE, (1ull << 40) / PG, 0x3b34, 0, 7);
	add_run(&st, BASE + (1ull << 40), 512, 512 * 77, 1, 7 | SPT_F_THP);
	CHECK(spt_snapshot_encode(&st, &meta, NULL, NULL, &frames, &n) == 0 && n == 1 &&
		      frames[0].len < 200,
	      "protocol 2: 1 TiB zero page + THP in one %zu-byte frame", frames[0].len);
	CHECK(reassemble(frames, n, &back, 1, true) && spt_state_equal(&st, &back),
	      "and decodes to the same two runs");
	spt_encoded_free_array(frames, n);
	meta.proto = 1;
	CHECK(spt_snapshot_encode(&st, &meta, NULL, NULL, &frames, &n) == -EMSGSIZE,
	      "protocol 1: 268M pages refused with -EMSGSIZE");

	/* Within the cap, protocol 1 gets one Page per page. */
	spt_state_clear(&st);
	add_vma(&st, BASE, BASE + 4096 * PG);
	add_run(&st, BASE, 3000, 0x3b34, 0, 7);
	add_run(&st, BASE + 3000 * PG, 512, 512 * 9, 1, 7 | SPT_F_THP);
	CHECK(spt_snapshot_encode(&st, &meta, NULL, NULL, &frames, &n) == 0, "protocol 1 encode");
	f = decode(&frames[0]);
	CHECK(n == 1 && f && f->snapshot->n_pages == 3512 && !f->snapshot->n_runs,
	      "protocol 1: runs expanded to %zu pages", f ? f->snapshot->n_pages : 0);
	spt_frame_free(f);
	CHECK(reassemble(frames, n, &back, 1, false) && spt_state_equal(&st, &back),
	      "and the pages merge back into the same runs");
	spt_encoded_free_array(frames, n);

	/* A mapper that splits every run: the viewer still sees the same pages. */
	meta.proto = 2;
	CHECK(spt_snapshot_encode(&st, &meta, xor_map, NULL, &frames, &n) == 0 &&
		      reassemble(frames, n, &back, 1, true),
	      "mapped snapshot decodes");
	{
		struct spt_page p;

		CHECK(spt_state_get_page(&back, BASE + 3001 * PG, &p) &&
			      p.pfn == ((512 * 9 + 1) ^ 0xabcdefull) &&
			      spt_state_npages(&back) == 3512,
		      "mapper applied per piece");
	}
	spt_encoded_free_array(frames, n);
	spt_state_free(&st);
	spt_state_free(&back);
}

/* Decodes delta frames and applies them in order; checks chunking and meta. */
static bool apply_frames(struct spt_encoded *frames, size_t n, struct spt_state *st,
			 const struct spt_delta_meta *m, bool v2)
{
	bool ok = true;

	for (size_t i = 0; i < n && ok; i++) {
		SptFrame *f = decode(&frames[i]);
		const Shadowpt__Delta *d = f ? f->delta : NULL;

		ok = f && f->msg_case == SHADOWPT__FRAME__MSG_DELTA && d->seq == m->seq &&
		     d->base_seq == m->base_seq &&
		     (v2 ? d->has_chunk && d->chunk == i && d->last_chunk == (i == n - 1) &&
				   !d->n_pages && (i == 0 || (!d->n_vmas_added && !d->n_vmas_removed))
			 : !d->has_chunk && !d->has_last_chunk && !d->n_runs && n == 1) &&
		     spt_delta_apply_pb(st, d) == 0;
		spt_frame_free(f);
	}
	return ok;
}

static void test_delta(void)
{
	struct spt_delta_meta meta = {.watch_id = 2, .seq = 5, .base_seq = 4};
	struct spt_state a, b, c;
	struct spt_encoded *frames;
	struct spt_delta d;
	size_t n;

	spt_state_init(&a);
	spt_state_init(&b);
	spt_state_init(&c);
	spt_delta_init(&d);
	build(&a, 10, 1000);
	build(&b, 4, 1000);
	spt_state_diff(&a, &b, &d);
	for (uint32_t proto = 1; proto <= 2; proto++) {
		meta.proto = proto;
		spt_state_copy(&c, &a);
		CHECK(spt_delta_encode(&d, &meta, NULL, NULL, &frames, &n) == 0 && n == 1,
		      "protocol %u: encode a small delta", proto);
		CHECK(apply_frames(frames, n, &c, &meta, proto == 2) && spt_state_equal(&c, &b),
		      "protocol %u: decoded delta turns a into b", proto);
		/* Applying it again fails: the removed VMA is gone. */
		SptFrame *f = decode(&frames[0]);
		CHECK(f && spt_delta_apply_pb(&c, f->delta) == -EINVAL, "protocol %u: replay refused",
		      proto);
		spt_frame_free(f);
		spt_encoded_free_array(frames, n);
	}

	/* Too big for one frame: protocol 1 resyncs, protocol 2 chunks. */
	spt_state_clear(&a);
	spt_state_clear(&b);
	build(&b, 100000, 7);
	spt_state_diff(&a, &b, &d);
	meta.proto = 1;
	CHECK(spt_delta_encode(&d, &meta, NULL, NULL, &frames, &n) == -EMSGSIZE,
	      "protocol 1: oversize delta is -EMSGSIZE");
	meta.proto = 2;
	spt_state_copy(&c, &a);
	CHECK(spt_delta_encode(&d, &meta, NULL, NULL, &frames, &n) == 0 && n > 1,
	      "protocol 2: 100k runs in %zu chunks", n);
	CHECK(apply_frames(frames, n, &c, &meta, true) && spt_state_equal(&c, &b),
	      "chunks of one seq, applied in order, give b");
	spt_encoded_free_array(frames, n);

	/* Removing it all again: one removal run; 100k removed pages for protocol 1. */
	spt_state_diff(&b, &a, &d);
	for (uint32_t proto = 1; proto <= 2; proto++) {
		meta.proto = proto;
		spt_state_copy(&c, &b);
		CHECK(spt_delta_encode(&d, &meta, NULL, NULL, &frames, &n) == 0 && n == 1 &&
			      (proto == 1 || frames[0].len < 100) &&
			      apply_frames(frames, n, &c, &meta, proto == 2) && spt_state_equal(&c, &a),
		      "protocol %u: removing 100k pages: one %zu-byte frame", proto, frames[0].len);
		spt_encoded_free_array(frames, n);
	}
	spt_delta_free(&d);
	spt_state_free(&a);
	spt_state_free(&b);
	spt_state_free(&c);
}

static void test_delta_meta(void)
{
	struct spt_delta_meta meta = {.watch_id = 2, .seq = 5, .base_seq = 4, .proto = 2,
				      .cause = SHADOWPT__CAUSE__CAUSE_WRITE_FAULT,
				      .cause_vaddr = BASE + PG, .event_time_ns = 123456789,
				      .cause_tid = 4242, .events = 3, .exec = true};
	struct spt_run r1 = {.vaddr = BASE, .npages = 2, .flags = 7, .pfn = 10, .stride = 1,
			     .cause = SHADOWPT__CAUSE__CAUSE_WRITE_FAULT};
	struct spt_run r2 = {.vaddr = BASE + 4 * PG, .npages = 1, .flags = 7, .pfn = 10,
			     .cause = SHADOWPT__CAUSE__CAUSE_COW};
	struct spt_encoded *frames;
	struct spt_delta d, back;
	size_t n;

	spt_delta_init(&d);
	spt_delta_init(&back);
	spt_delta_add_run(&d, &r1);
	spt_delta_add_run(&d, &r2);
	CHECK(spt_delta_encode(&d, &meta, NULL, NULL, &frames, &n) == 0 && n == 1, "encode");
	SptFrame *f = decode(&frames[0]);
	const Shadowpt__Delta *pb = f ? f->delta : NULL;
	CHECK(pb && pb->has_cause && pb->cause == SHADOWPT__CAUSE__CAUSE_WRITE_FAULT &&
		      pb->has_cause_vaddr && pb->cause_vaddr == BASE + PG &&
		      pb->event_time_ns == 123456789 && pb->cause_tid == 4242 && pb->events == 3 &&
		      pb->exec && pb->last_chunk,
	      "the protocol 2 fields are carried");
	CHECK(pb && pb->n_runs == 2 && !pb->runs[0]->has_cause && pb->runs[1]->has_cause &&
		      pb->runs[1]->cause == SHADOWPT__CAUSE__CAUSE_COW && pb->runs[0]->count == 2 &&
		      pb->runs[0]->pfn_stride == 1 && !pb->runs[1]->has_count,
	      "a run says its cause only when it is not the delta's");
	CHECK(pb && spt_delta_from_pb(&back, pb) == 0 && back.nruns == 2 &&
		      back.runs[0].cause == SHADOWPT__CAUSE__CAUSE_WRITE_FAULT &&
		      back.runs[1].cause == SHADOWPT__CAUSE__CAUSE_COW,
	      "and decodes back with each run's cause");
	spt_frame_free(f);
	spt_encoded_free_array(frames, n);
	meta.proto = 1;
	CHECK(spt_delta_encode(&d, &meta, NULL, NULL, &frames, &n) == 0, "protocol 1 encode");
	f = decode(&frames[0]);
	CHECK(f && !f->delta->has_cause && !f->delta->has_event_time_ns && f->delta->n_pages == 3,
	      "protocol 1 gets none of them, and pages");
	spt_frame_free(f);
	spt_encoded_free_array(frames, n);
	spt_delta_free(&d);
	spt_delta_free(&back);
}

/* A snapshot chunk carrying one hostile run (and a valid VMA). */
static int apply_run(Shadowpt__PageRun *run)
{
	Shadowpt__Snapshot snap = SHADOWPT__SNAPSHOT__INIT;
	struct spt_state st;
	int r;

	spt_state_init(&st);
	snap.n_runs = 1;
	snap.runs = &run;
	r = spt_snapshot_apply_chunk(&st, &snap, 0);
	spt_state_free(&st);
	return r;
}

static void test_bad_messages(void)
{
	Shadowpt__Vma vma = SHADOWPT__VMA__INIT, *vp = &vma;
	Shadowpt__Snapshot snap = SHADOWPT__SNAPSHOT__INIT;
	Shadowpt__PageRun run = SHADOWPT__PAGE_RUN__INIT, run2 = SHADOWPT__PAGE_RUN__INIT;
	Shadowpt__PageRun *runs[2] = {&run, &run2};
	Shadowpt__Page page = SHADOWPT__PAGE__INIT, *pp = &page;
	Shadowpt__Delta delta = SHADOWPT__DELTA__INIT;
	struct spt_state st;

	spt_state_init(&st);
	vma.has_start = vma.has_end = vma.has_kind = 1;
	vma.start = 0x1000, vma.end = 0x2000, vma.kind = 77;
	snap.n_vmas = 1, snap.vmas = &vp;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 0) == -EINVAL, "unknown vma kind refused");
	vma.kind = SHADOWPT__VMA_KIND__VMA_ANON, vma.has_end = 0;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 0) == -EINVAL, "vma without end refused");

	run.has_vaddr = run.has_flags = run.has_count = 1;
	run.vaddr = BASE, run.flags = 7, run.count = 4;
	CHECK(apply_run(&run) == 0, "a valid run applies");
	run.count = 0;
	CHECK(apply_run(&run) == -EINVAL, "count 0 refused");
	run.count = UINT64_MAX / 4096 + 2; /* vaddr + count * 4096 wraps around */
	CHECK(apply_run(&run) == -EINVAL, "wrapping count refused");
	run.count = (SPT_USER_ADDR_MAX - BASE) / PG + 1;
	CHECK(apply_run(&run) == -EINVAL, "a run past SPT_USER_ADDR_MAX refused");
	run.count = (SPT_USER_ADDR_MAX - BASE) / PG;
	CHECK(apply_run(&run) == 0, "a run up to SPT_USER_ADDR_MAX accepted");
	run.count = 4, run.has_pfn_stride = 1, run.pfn_stride = 2;
	CHECK(apply_run(&run) == -EINVAL, "stride 2 refused");
	run.pfn_stride = 1, run.has_pfn = 1, run.pfn = UINT64_MAX - 1;
	CHECK(apply_run(&run) == -EINVAL, "frames that wrap refused");
	run.pfn = 5, run.vaddr = BASE + 1;
	CHECK(apply_run(&run) == -EINVAL, "unaligned run refused");
	run.vaddr = BASE, run.flags = 0;
	CHECK(apply_run(&run) == -EINVAL, "flags 0 in a snapshot refused");
	run.flags = 7, run.has_vaddr = 0;
	CHECK(apply_run(&run) == -EINVAL, "run without vaddr refused");
	run.has_vaddr = 1;

	snap = (Shadowpt__Snapshot)SHADOWPT__SNAPSHOT__INIT;
	run2 = run;
	run2.vaddr = BASE + 2 * PG; /* overlaps run's 4 pages */
	snap.n_runs = 2, snap.runs = runs;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 0) == -EINVAL, "overlapping runs refused");
	run2.vaddr = BASE - 2 * PG;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 0) == -EINVAL, "unsorted runs refused");
	run2.vaddr = BASE + 4 * PG;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 0) == 0, "adjacent runs accepted");
	page.has_vaddr = page.has_flags = 1, page.vaddr = BASE + 100 * PG, page.flags = 7;
	snap.n_pages = 1, snap.pages = &pp;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 0) == -EINVAL, "pages and runs together refused");
	snap.n_pages = 0;
	snap.chunk = 1, snap.has_chunk = 1;
	CHECK(spt_snapshot_apply_chunk(&st, &snap, 2) == -EINVAL, "chunk out of order refused");

	delta.n_runs = 2, delta.runs = runs;
	run2.vaddr = BASE;
	CHECK(spt_delta_apply_pb(&st, &delta) == -EINVAL, "overlapping delta runs refused");
	run2.vaddr = BASE + 8 * PG, run2.flags = 0;
	CHECK(spt_delta_apply_pb(&st, &delta) == 0, "a delta run with flags 0 removes");
	delta.has_cause = 1, delta.cause = 1000;
	CHECK(spt_delta_apply_pb(&st, &delta) == -EINVAL, "a cause out of range refused");
	delta.has_cause = 0;
	delta.n_pages = 1, delta.pages = &pp;
	CHECK(spt_delta_apply_pb(&st, &delta) == -EINVAL, "a delta with pages and runs refused");
	CHECK(spt_state_check(&st), "the state is still consistent");
	spt_state_free(&st);
}

int main(void)
{
	test_chunked_snapshot();
	test_cursor();
	test_runs_and_protocol1();
	test_delta();
	test_delta_meta();
	test_bad_messages();
	return spt_test_done();
}
