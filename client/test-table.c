/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit tests of the client's reconstruction: snapshots split in chunks by
 * the real encoder (both protocols), deltas and chunked deltas, base_seq
 * mismatches, chunk order, resyncs.
 */
#include <errno.h>
#include <string.h>

#include "convert.h"
#include "table.h"
#include "test-common.h"

#define PG   4096ull
#define BASE 0x7f0000000000ull

static void add_vma(struct spt_state *st, uint64_t start, uint64_t end, const char *name)
{
	struct spt_vma v = {
	    .start = start, .end = end, .prot = 3, .kind = SPT_VMA_ANON, .name = (char *)name};

	if (spt_state_append_vma(st, &v))
		abort();
}

static void add_page(struct spt_state *st, uint64_t vaddr, uint64_t pfn)
{
	struct spt_page p = {.vaddr = vaddr, .pfn = pfn, .flags = 7};

	if (spt_state_append_page(st, &p))
		abort();
}

/* The protocol the encoders speak in this pass of the tests. */
static uint32_t proto = 1;

/* A state big enough to need several snapshot chunks (frames never continue). */
static void make_big_state(struct spt_state *st, size_t npages)
{
	size_t i;

	add_vma(st, BASE, BASE + (npages + 16) * PG, "[anon:big]");
	for (i = 0; i < npages; i++)
		add_page(st, BASE + i * PG, 0x100000 + 2 * i);
}

/* Decodes (and frees) n encoded frames, like the wire does; each must be a `kind`. */
static SptFrame **decode_all(struct spt_encoded *enc, size_t n, int kind)
{
	SptFrame **frames = calloc(n, sizeof(*frames));
	size_t len;

	for (size_t i = 0; i < n; i++) {
		if (spt_frame_check(enc[i].data, enc[i].len, SPT_MAX_SERVER_FRAME, &len) != 1)
			abort();
		frames[i] = spt_frame_decode(enc[i].data + SPT_FRAME_HEADER_SIZE, len);
		if (!frames[i] || (int)frames[i]->msg_case != kind)
			abort();
	}
	spt_encoded_free_array(enc, n);
	return frames;
}

/* Encodes st and decodes each chunk. */
static SptFrame **encode_snapshot(const struct spt_state *st, uint64_t seq, bool resync, size_t *n)
{
	struct spt_snapshot_meta meta = {.watch_id = 1, .seq = seq, .resync = resync,
					 .proto = proto};
	struct spt_encoded *enc;

	if (spt_snapshot_encode(st, &meta, NULL, NULL, &enc, n))
		abort();
	return decode_all(enc, *n, SHADOWPT__FRAME__MSG_SNAPSHOT);
}

static void free_frames(SptFrame **f, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		spt_frame_free(f[i]);
	free(f);
}

/* The frames of the delta old -> new, decoded; *n of them (chunks). */
static SptFrame **encode_delta_frames(const struct spt_state *old, const struct spt_state *new,
				      uint64_t base_seq, uint64_t seq, size_t *n)
{
	struct spt_delta_meta meta = {.watch_id = 1, .seq = seq, .base_seq = base_seq,
				      .proto = proto};
	struct spt_encoded *enc;
	struct spt_delta d;

	spt_delta_init(&d);
	if (spt_state_diff(old, new, &d) || spt_delta_encode(&d, &meta, NULL, NULL, &enc, n))
		abort();
	spt_delta_free(&d);
	return decode_all(enc, *n, SHADOWPT__FRAME__MSG_DELTA);
}

/* A delta that fits one frame. */
static SptFrame *encode_delta(const struct spt_state *old, const struct spt_state *new,
			      uint64_t base_seq, uint64_t seq)
{
	size_t n;
	SptFrame **arr = encode_delta_frames(old, new, base_seq, seq, &n), *f;

	if (n != 1)
		abort();
	f = arr[0];
	free(arr);
	return f;
}

static void test_chunked_snapshot_and_deltas(void)
{
	struct spt_state a, b, c;
	struct sctl_table t;
	SptFrame **snap, *d1, *d2;
	size_t n, i;
	const char *why = NULL;
	int r = 0;

	spt_state_init(&a);
	spt_state_init(&b);
	spt_state_init(&c);
	make_big_state(&a, 100000);
	snap = encode_snapshot(&a, 10, false, &n);
	CHECK(n >= 2, "protocol %u: snapshot of 100000 pages needs %zu chunks", proto, n);

	sctl_table_init(&t);
	for (i = 0; i < n; i++) {
		r = sctl_table_snapshot(&t, snap[i]->snapshot, 0, &why);
		if (i + 1 < n && (r != SCTL_TABLE_MORE || t.valid))
			break;
	}
	CHECK(i == n && r == SCTL_TABLE_COMPLETE, "complete only after the last chunk");
	CHECK(t.valid && t.seq == 10 && t.last_chunks == n, "seq %llu, %u chunks",
	      (unsigned long long)t.seq, t.last_chunks);
	CHECK(spt_state_equal(&t.st, &a), "reconstructed state equals the source");

	/* delta 10 -> 11: unmap a page, map a new one, add a VMA */
	spt_state_clear(&b);
	add_vma(&b, BASE, BASE + 100016 * PG, "[anon:big]");
	for (i = 1; i < 100000; i++)
		add_page(&b, BASE + i * PG, 0x100000 + 2 * i);
	add_page(&b, BASE + 100005 * PG, 0x42);
	add_vma(&b, BASE + 200000 * PG, BASE + 200010 * PG, "new");
	d1 = encode_delta(&a, &b, 10, 11);
	r = sctl_table_delta(&t, d1->delta, 1000, &why);
	CHECK(r == SCTL_TABLE_COMPLETE && t.seq == 11, "delta applied");
	CHECK(spt_state_equal(&t.st, &b), "state after the delta");
	CHECK(sctl_table_recent(&t, BASE, 1500) && sctl_table_recent(&t, BASE + 100005 * PG, 1500),
	      "changed pages are recent");
	CHECK(!sctl_table_recent(&t, BASE + PG, 1500), "unchanged page is not");
	CHECK(!sctl_table_recent(&t, BASE, 1000 + 5000), "highlight fades");

	/* A delta based on an older seq is a protocol violation. */
	d2 = encode_delta(&b, &a, 10, 12);
	r = sctl_table_delta(&t, d2->delta, 2000, &why);
	CHECK(r == -EPROTO && strstr(why, "based on seq 10"), "base_seq mismatch: %s", why);
	CHECK(t.seq == 11 && spt_state_equal(&t.st, &b), "table untouched by the bad delta");
	spt_frame_free(d2);

	/* The right base applies. */
	d2 = encode_delta(&b, &a, 11, 12);
	CHECK(sctl_table_delta(&t, d2->delta, 2000, &why) == SCTL_TABLE_COMPLETE &&
		  spt_state_equal(&t.st, &a),
	      "delta back to the first state");
	spt_frame_free(d2);

	/* Resync: stale deltas during it are ignored, then the snapshot replaces. */
	free_frames(snap, n);
	spt_state_clear(&c);
	add_vma(&c, BASE, BASE + 10 * PG, "small");
	add_page(&c, BASE + 3 * PG, 9);
	snap = encode_snapshot(&c, 50, true, &n);
	CHECK(n == 1, "small resync is one chunk");
	snap[0]->snapshot->last_chunk = 0; /* pretend more chunks follow */
	CHECK(sctl_table_snapshot(&t, snap[0]->snapshot, 3000, &why) == SCTL_TABLE_MORE,
	      "resync chunk 0 stored");
	CHECK(t.seq == 12 && spt_state_equal(&t.st, &a), "old state kept while assembling");
	CHECK(sctl_table_delta(&t, d1->delta, 3000, &why) == SCTL_TABLE_IGNORED &&
		  t.deltas_ignored == 1,
	      "stale delta ignored during a resync");
	snap[0]->snapshot->last_chunk = 1;
	snap[0]->snapshot->chunk = 1;
	CHECK(sctl_table_snapshot(&t, snap[0]->snapshot, 3000, &why) < 0 && t.valid,
	      "chunk 1 repeating chunk 0 entries is refused (%s)", why ? why : "");
	free_frames(snap, n);
	spt_frame_free(d1);

	sctl_table_free(&t);
	spt_state_free(&a);
	spt_state_free(&b);
	spt_state_free(&c);
}

static void test_resync_replaces(void)
{
	struct spt_state a, c;
	struct sctl_table t;
	SptFrame **snap;
	size_t n;
	const char *why = NULL;

	spt_state_init(&a);
	spt_state_init(&c);
	add_vma(&a, BASE, BASE + 10 * PG, "a");
	add_page(&a, BASE, 1);
	add_vma(&c, BASE, BASE + 10 * PG, "a");
	add_page(&c, BASE + PG, 2);
	sctl_table_init(&t);
	snap = encode_snapshot(&a, 5, false, &n);
	CHECK(sctl_table_snapshot(&t, snap[0]->snapshot, 0, &why) == SCTL_TABLE_COMPLETE,
	      "initial snapshot");
	free_frames(snap, n);
	snap = encode_snapshot(&c, 9, true, &n);
	CHECK(sctl_table_snapshot(&t, snap[0]->snapshot, 100, &why) == SCTL_TABLE_COMPLETE &&
		  t.seq == 9 && spt_state_equal(&t.st, &c) && t.resyncs == 1,
	      "resync snapshot replaces the state");
	CHECK(sctl_table_recent(&t, BASE, 200) && sctl_table_recent(&t, BASE + PG, 200),
	      "what the resync changed is highlighted");
	free_frames(snap, n);
	sctl_table_free(&t);
	spt_state_free(&a);
	spt_state_free(&c);
}

static void test_sequencing_errors(void)
{
	Shadowpt__Snapshot s = SHADOWPT__SNAPSHOT__INIT;
	Shadowpt__Delta d = SHADOWPT__DELTA__INIT;
	struct sctl_table t;
	const char *why = NULL;

	sctl_table_init(&t);
	d.has_base_seq = 1;
	d.base_seq = 0;
	d.seq = 1;
	CHECK(sctl_table_delta(&t, &d, 0, &why) == -EPROTO && strstr(why, "before"),
	      "delta before any snapshot: %s", why);
	s.has_chunk = 1;
	s.chunk = 1;
	CHECK(sctl_table_snapshot(&t, &s, 0, &why) == -EPROTO, "chunk 1 first: %s", why);
	s.chunk = 0;
	s.seq = 3;
	CHECK(sctl_table_snapshot(&t, &s, 0, &why) == SCTL_TABLE_MORE, "chunk 0");
	s.chunk = 2;
	CHECK(sctl_table_snapshot(&t, &s, 0, &why) == -EPROTO && strstr(why, "out of order"),
	      "chunk 2 after 0: %s", why);
	s.chunk = 1;
	s.seq = 4;
	CHECK(sctl_table_snapshot(&t, &s, 0, &why) == -EPROTO, "chunks of different seq");
	s.seq = 3;
	CHECK(sctl_table_delta(&t, &d, 0, &why) == -EPROTO, "delta inside a first snapshot");
	s.has_last_chunk = 1;
	s.last_chunk = 1;
	CHECK(sctl_table_snapshot(&t, &s, 0, &why) == SCTL_TABLE_COMPLETE && t.seq == 3 &&
		  t.last_chunks == 2,
	      "two empty chunks complete");
	d.base_seq = 3;
	d.seq = 4;
	CHECK(sctl_table_delta(&t, &d, 0, &why) == SCTL_TABLE_COMPLETE && t.seq == 4,
	      "empty delta advances seq");
	d.has_base_seq = 0;
	CHECK(sctl_table_delta(&t, &d, 0, &why) == -EPROTO, "delta without base_seq");
	sctl_table_free(&t);
}

/* Protocol 2: a delta too big for a frame comes in chunks, applied one by one. */
static void test_chunked_delta(void)
{
	struct spt_state a, b;
	struct sctl_table t;
	SptFrame **snap, **d;
	size_t n, nd, i;
	const char *why = NULL;
	int r = 0;

	proto = 2;
	spt_state_init(&a);
	spt_state_init(&b);
	add_vma(&a, BASE, BASE + 200016 * PG, "[anon:big]");
	add_vma(&b, BASE, BASE + 200016 * PG, "[anon:big]");
	for (i = 0; i < 120000; i++)
		add_page(&b, BASE + i * PG, 0x100000 + 2 * i);
	snap = encode_snapshot(&a, 1, false, &n);
	sctl_table_init(&t);
	CHECK(sctl_table_snapshot(&t, snap[0]->snapshot, 0, &why) == SCTL_TABLE_COMPLETE,
	      "snapshot");
	d = encode_delta_frames(&a, &b, 1, 2, &nd);
	CHECK(nd >= 2, "120k changed runs in %zu delta chunks", nd);
	for (i = 0; i < nd; i++) {
		r = sctl_table_delta(&t, d[i]->delta, 100, &why);
		if (i + 1 < nd && (r != SCTL_TABLE_MORE || t.seq != 1 || !t.delta_open))
			break;
	}
	CHECK(i == nd && r == SCTL_TABLE_COMPLETE && t.seq == 2 && !t.delta_open,
	      "seq advances at the last chunk only");
	CHECK(spt_state_equal(&t.st, &b) && t.delta_info.chunks == nd && t.delta.nruns == 120000 &&
		      t.deltas == 1,
	      "state after the chunks; the event holds the whole delta");
	CHECK(sctl_table_recent(&t, BASE + 119999 * PG, 150), "its pages are recent");

	/* Chunks out of order, of another seq, without chunk 0. */
	spt_state_copy(&t.st, &a);
	t.seq = 1;
	CHECK(sctl_table_delta(&t, d[1]->delta, 0, &why) == -EPROTO && strstr(why, "chunk 0"),
	      "a chunk without chunk 0: %s", why);
	CHECK(sctl_table_delta(&t, d[0]->delta, 0, &why) == SCTL_TABLE_MORE, "chunk 0");
	d[1]->delta->seq = 3;
	CHECK(sctl_table_delta(&t, d[1]->delta, 0, &why) == -EPROTO &&
		      strstr(why, "different sequence"),
	      "chunks of different seq: %s", why);
	d[1]->delta->seq = 2;
	d[1]->delta->chunk = 5;
	CHECK(sctl_table_delta(&t, d[1]->delta, 0, &why) == -EPROTO && strstr(why, "out of order"),
	      "chunk out of order: %s", why);
	d[1]->delta->chunk = 1;
	CHECK(sctl_table_delta(&t, d[0]->delta, 0, &why) == -EPROTO && strstr(why, "restarted"),
	      "chunk 0 again: %s", why);
	free_frames(snap, n);
	/* A snapshot in the middle: only a resync may replace a half-applied delta. */
	snap = encode_snapshot(&a, 7, false, &n);
	CHECK(sctl_table_snapshot(&t, snap[0]->snapshot, 0, &why) == -EPROTO,
	      "plain snapshot inside a chunked delta refused: %s", why);
	free_frames(snap, n);
	snap = encode_snapshot(&a, 7, true, &n);
	CHECK(sctl_table_snapshot(&t, snap[0]->snapshot, 0, &why) == SCTL_TABLE_COMPLETE &&
		      t.seq == 7 && !t.delta_open && spt_state_equal(&t.st, &a),
	      "a resync replaces it");
	free_frames(snap, n);
	free_frames(d, nd);
	sctl_table_free(&t);
	spt_state_free(&a);
	spt_state_free(&b);
}

static void test_stats(void)
{
	struct spt_state st;
	struct sctl_table_stats s;
	struct spt_vma f = {.start = BASE + 100 * PG,
			    .end = BASE + 110 * PG,
			    .prot = 1,
			    .kind = SPT_VMA_FILE,
			    .name = (char *)"/lib/x.so"};
	struct spt_page sw = {.vaddr = BASE + 5 * PG, .flags = 3 | SPT_F_SWAPPED};

	spt_state_init(&st);
	add_vma(&st, BASE, BASE + 10 * PG, "");
	spt_state_append_vma(&st, &f);
	add_page(&st, BASE, 1);
	spt_state_append_page(&st, &sw);
	sctl_table_stats(&st, &s);
	CHECK(s.vmas == 2 && s.allocated == 20 && s.anonymous == 10 && s.mapped == 1 &&
		  s.swapped == 1,
	      "stats");
	spt_state_free(&st);
}

int main(void)
{
	for (proto = 1; proto <= 2; proto++) {
		test_chunked_snapshot_and_deltas();
		test_resync_replaces();
	}
	test_chunked_delta();
	test_sequencing_errors();
	test_stats();
	return spt_test_done();
}
