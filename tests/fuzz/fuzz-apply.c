// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Fuzz target: the client's decoders (proto/convert-decode.c) on
 * messages the input describes field by field, so that mutations reach
 * the checks behind the protobuf layer: Snapshot chunks and Deltas,
 * protocol 1 pages and protocol 2 runs, chunk numbers, VMAs, raw or
 * window addresses, counts, strides, causes, optional fields present
 * or not. Checked after each message: the state's invariants, and that
 * spt_delta_apply_pb agrees with spt_delta_from_pb + spt_state_apply.
 * At the end the encoders are checked against the decoders: the state
 * encoded as a snapshot, and the diff from where it started as a delta,
 * each in protocol 1 and 2, decode back to the same state.
 *
 * libFuzzer with -Dfuzzers=true; in normal builds the replay driver runs
 * the built-in seed with mutations.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "fuzz-input.h"
#include "fuzz-replay.h"

#define PG	SPT_PAGE_SIZE
#define BASE	0x40000000ull
#define MAX_MSG 24u

/* A page address: mostly in a small window, sometimes any number. */
static uint64_t addr(struct fuzz_in *in, uint8_t b)
{
	return b >= 0xf0 ? fuzz_u64(in) : BASE + (uint64_t)b * PG;
}

static const uint32_t flag_pool[] = {
	0, 7, 5 | SPT_F_FILE, 7 | SPT_F_THP, 1 | SPT_F_SWAPPED, 3, 0xffffffffu, 7 | SPT_F_EXCLUSIVE,
};
static const char *const names[] = {"", "[heap]", "/lib/x.so", "[stack]"};

/* Storage for one message built from the input. */
struct msg {
	Shadowpt__Vma vma[4], *vmap[4];
	Shadowpt__Range rm[3], *rmp[3];
	Shadowpt__Page page[10], *pagep[10];
	Shadowpt__PageRun run[8], *runp[8];
};

static size_t gen_vmas(struct fuzz_in *in, struct msg *m)
{
	size_t n = fuzz_u8(in) % 4;

	for (size_t k = 0; k < n; k++) {
		Shadowpt__Vma *v = &m->vma[k];
		uint8_t a = fuzz_u8(in), b = fuzz_u8(in), c = fuzz_u8(in);

		shadowpt__vma__init(v);
		v->has_start = !(c & 0x80);
		v->start = addr(in, a);
		v->has_end = !(c & 0x40);
		v->end = v->start + (uint64_t)(b % 64) * PG + (c & 0x20 ? 1 : 0);
		v->has_kind = 1;
		v->kind = (Shadowpt__VmaKind)(c % 6);
		v->has_prot = v->has_shared = v->has_offset = c & 1;
		v->prot = c >> 1 & 7;
		v->shared = c & 4;
		v->offset = (uint64_t)b << 12;
		v->name = c & 0x10 ? NULL : (char *)names[(c >> 2) % 4];
		m->vmap[k] = v;
	}
	return n;
}

static size_t gen_pages(struct fuzz_in *in, struct msg *m)
{
	size_t n = fuzz_u8(in) % 11;
	uint64_t at = BASE;

	for (size_t k = 0; k < n; k++) {
		Shadowpt__Page *p = &m->page[k];
		uint8_t a = fuzz_u8(in), f = fuzz_u8(in);

		shadowpt__page__init(p);
		at = a >= 0xf0 ? fuzz_u64(in) : at + (uint64_t)(a % 8) * PG;
		p->has_vaddr = !(f & 0x80);
		p->vaddr = at;
		p->has_flags = !(f & 0x40);
		p->flags = flag_pool[f % 8];
		p->has_pfn = 1;
		p->pfn = f >> 3 & 7;
		m->pagep[k] = p;
		at += PG;
	}
	return n;
}

static size_t gen_runs(struct fuzz_in *in, struct msg *m)
{
	size_t n = fuzz_u8(in) % 9;
	uint64_t at = BASE;

	for (size_t k = 0; k < n; k++) {
		Shadowpt__PageRun *r = &m->run[k];
		uint8_t a = fuzz_u8(in), c = fuzz_u8(in), f = fuzz_u8(in);

		shadowpt__page_run__init(r);
		at = a >= 0xf0 ? fuzz_u64(in) : at + (uint64_t)(a % 8) * PG;
		r->has_vaddr = !(f & 0x80);
		r->vaddr = at;
		r->has_count = c != 0xff;
		r->count = c >= 0xf8 ? fuzz_u64(in) : c % 48;
		r->has_flags = 1;
		r->flags = flag_pool[f % 8];
		r->has_pfn = f & 8;
		r->pfn = f & 0x10 ? fuzz_u64(in) : f >> 5;
		r->has_pfn_stride = f & 0x20;
		r->pfn_stride = f >> 6;
		r->has_cause = f & 0x40;
		r->cause = (Shadowpt__Cause)(c % 12);
		m->runp[k] = r;
		at += (r->has_count ? r->count : 1) * PG;
	}
	return n;
}

static void check_state(const struct spt_state *st, const char *what)
{
	if (!spt_state_check(st)) {
		fprintf(stderr, "fuzz-apply: %s broke an invariant\n", what);
		abort();
	}
}

static void do_delta(struct fuzz_in *in, struct spt_state *st, uint8_t op)
{
	Shadowpt__Delta pb = SHADOWPT__DELTA__INIT;
	struct msg m;
	struct spt_state copy;
	struct spt_delta d;
	int r, r2;

	pb.n_vmas_removed = fuzz_u8(in) % 4;
	for (size_t k = 0; k < pb.n_vmas_removed; k++) {
		uint8_t a = fuzz_u8(in), b = fuzz_u8(in);

		shadowpt__range__init(&m.rm[k % 3]);
		m.rm[k % 3].has_start = m.rm[k % 3].has_end = !(b & 0x80);
		/* An existing VMA by index, or anything. */
		if (st->nvmas && b & 1) {
			m.rm[k % 3].start = st->vmas[a % st->nvmas].start;
			m.rm[k % 3].end = st->vmas[a % st->nvmas].end;
		} else {
			m.rm[k % 3].start = addr(in, a);
			m.rm[k % 3].end = m.rm[k % 3].start + (uint64_t)(b % 16) * PG;
		}
		m.rmp[k % 3] = &m.rm[k % 3];
	}
	pb.n_vmas_removed = pb.n_vmas_removed > 3 ? 3 : pb.n_vmas_removed;
	pb.vmas_removed = m.rmp;
	pb.n_vmas_added = gen_vmas(in, &m);
	pb.vmas_added = m.vmap;
	if (op & 0x10) {
		pb.n_runs = gen_runs(in, &m);
		pb.runs = m.runp;
	} else {
		pb.n_pages = gen_pages(in, &m);
		pb.pages = m.pagep;
	}
	if (op & 0x20) { /* both: must be refused */
		pb.n_pages = gen_pages(in, &m);
		pb.pages = m.pagep;
	}
	pb.has_cause = op & 0x40;
	pb.cause = (Shadowpt__Cause)(op % 12);
	pb.has_chunk = pb.has_last_chunk = op & 0x80;
	pb.chunk = op & 1;
	pb.last_chunk = op & 2;

	spt_state_init(&copy);
	spt_delta_init(&d);
	if (spt_state_copy(&copy, st))
		abort();
	r = spt_delta_from_pb(&d, &pb);
	if (r == 0)
		r = spt_state_apply(&copy, &d);
	r2 = spt_delta_apply_pb(st, &pb);
	check_state(st, "a delta");
	if (r != r2 || (r == 0 && !spt_state_equal(&copy, st))) {
		fprintf(stderr, "fuzz-apply: apply_pb %d, from_pb + apply %d\n", r2, r);
		abort();
	}
	spt_delta_free(&d);
	spt_state_free(&copy);
}

static void do_chunk(struct fuzz_in *in, struct spt_state *st, uint8_t op, uint32_t *next)
{
	Shadowpt__Snapshot pb = SHADOWPT__SNAPSHOT__INIT;
	struct msg m;
	int r;

	pb.has_chunk = !(op & 0x80);
	pb.chunk = op & 0x40 ? fuzz_u8(in) % 4 : *next;
	pb.has_last_chunk = 1;
	pb.last_chunk = op & 0x20;
	pb.n_vmas = gen_vmas(in, &m);
	pb.vmas = m.vmap;
	if (op & 0x10) {
		pb.n_runs = gen_runs(in, &m);
		pb.runs = m.runp;
	} else {
		pb.n_pages = gen_pages(in, &m);
		pb.pages = m.pagep;
	}
	r = spt_snapshot_apply_chunk(st, &pb, *next);
	if (r != 0 && r != -EINVAL && r != -E2BIG)
		abort();
	*next = r == 0 && !pb.last_chunk ? *next + 1 : 0;
	/* A failed chunk leaves a state to be thrown away, still a valid one. */
	check_state(st, "a snapshot chunk");
}

/* st encoded as a snapshot decodes back to st. */
static void check_snapshot(const struct spt_state *st, uint32_t proto)
{
	struct spt_snapshot_meta meta = {.watch_id = 1, .seq = 9, .proto = proto};
	struct spt_encoded *fr;
	struct spt_state back;
	size_t n, plen;
	int r = spt_snapshot_encode(st, &meta, NULL, NULL, &fr, &n);

	if (r == -EMSGSIZE && proto == 1)
		return; /* too many pages for protocol 1 */
	if (r)
		abort();
	spt_state_init(&back);
	for (size_t i = 0; i < n; i++) {
		SptFrame *f;

		if (spt_frame_check(fr[i].data, fr[i].len, SPT_MAX_SERVER_FRAME, &plen) != 1 ||
		    !(f = spt_frame_decode(fr[i].data + SPT_FRAME_HEADER_SIZE, plen)) ||
		    f->msg_case != SHADOWPT__FRAME__MSG_SNAPSHOT ||
		    spt_snapshot_apply_chunk(&back, f->snapshot, (uint32_t)i) ||
		    (f->snapshot->last_chunk != (i + 1 == n)))
			abort();
		spt_frame_free(f);
	}
	if (!spt_state_equal(&back, st)) {
		fprintf(stderr, "fuzz-apply: protocol %u snapshot decodes to another state\n", proto);
		abort();
	}
	spt_state_free(&back);
	spt_encoded_free_array(fr, n);
}

/* diff(base, st) encoded as a delta, decoded and applied to base, gives st. */
static void check_delta(const struct spt_state *base, const struct spt_state *st, uint32_t proto)
{
	struct spt_delta_meta meta = {.watch_id = 1, .seq = 10, .base_seq = 9, .proto = proto,
				      .cause = 2};
	struct spt_encoded *fr;
	struct spt_state back;
	struct spt_delta d;
	size_t n, plen;
	int r;

	spt_delta_init(&d);
	spt_state_init(&back);
	if (spt_state_diff(base, st, &d) || spt_state_copy(&back, base))
		abort();
	spt_state_set_limits(&back, 0, 0);
	r = spt_delta_encode(&d, &meta, NULL, NULL, &fr, &n);
	if (r == -EMSGSIZE && proto == 1)
		goto out;
	if (r)
		abort();
	for (size_t i = 0; i < n; i++) {
		SptFrame *f;

		if (spt_frame_check(fr[i].data, fr[i].len, SPT_MAX_SERVER_FRAME, &plen) != 1 ||
		    !(f = spt_frame_decode(fr[i].data + SPT_FRAME_HEADER_SIZE, plen)) ||
		    f->msg_case != SHADOWPT__FRAME__MSG_DELTA)
			abort();
		r = spt_delta_apply_pb(&back, f->delta);
		spt_frame_free(f);
		/* Chunks apply one by one: only the whole must add up. */
		if (r && n == 1) {
			fprintf(stderr, "fuzz-apply: protocol %u delta refused: %d\n", proto, r);
			abort();
		}
	}
	if (n == 1 && !spt_state_equal(&back, st)) {
		fprintf(stderr, "fuzz-apply: protocol %u delta gives another state\n", proto);
		abort();
	}
	spt_encoded_free_array(fr, n);
out:
	spt_state_free(&back);
	spt_delta_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct spt_state st, base;
	uint32_t next = 0;

	spt_state_init(&st);
	spt_state_init(&base);
	for (unsigned k = 0; in.n && k < MAX_MSG; k++) {
		uint8_t kind = fuzz_u8(&in), op = fuzz_u8(&in);

		switch (kind % 4) {
		case 0:
		case 1:
			do_chunk(&in, &st, op, &next);
			if (next == 0 && spt_state_copy(&base, &st)) /* a whole snapshot */
				abort();
			break;
		case 2:
			do_delta(&in, &st, op);
			break;
		default: /* caps at or above what st holds; 0 lifts them */
			spt_state_set_limits(&st, op & 1 ? spt_state_nruns(&st) + op % 8 : 0,
					     op & 2 ? st.nvmas + op % 3 : 0);
			break;
		}
	}
	check_snapshot(&st, 1);
	check_snapshot(&st, 2);
	check_delta(&base, &st, 1);
	check_delta(&base, &st, 2);
	spt_state_free(&base);
	spt_state_free(&st);
	return 0;
}

/* The seed: a two-chunk protocol 2 snapshot, a runs delta, a pages delta. */
int spt_fuzz_builtin_seed(uint8_t **out, size_t *out_len)
{
	static const uint8_t seed[] = {
		0, 0x10, 2, 0, 40, 0x11, 4, 80, 0x31, 3, 0, 4, 0x09, 2, 30, 0x29,
		0, 0x30, 1, 100, 20, 0x02, 1, 60, 1, 0x0a,
		2, 0x52, 1, 0, 0x01, 1, 120, 10, 0x11, 2, 0, 3, 0x00, 2, 0, 0x48,
		2, 0x03, 0, 0, 3, 0, 0x01, 1, 0x09, 2, 0x38,
	};

	*out = malloc(sizeof(seed));
	if (!*out)
		return -1;
	memcpy(*out, seed, sizeof(seed));
	*out_len = sizeof(seed);
	return 0;
}
