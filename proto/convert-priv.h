/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The entry lists shared by the snapshot and delta encoders (convert*.c). */
#ifndef SHADOWPT_CONVERT_PRIV_H
#define SHADOWPT_CONVERT_PRIV_H

#include "convert.h"

/* Tag plus length prefix of an embedded message, at most. */
#define SPT_FIELD_OVERHEAD 6u

/*
 * The page entries of one message under construction: Page items
 * (protocol 1, one per page) or PageRun items (protocol 2, a run that
 * continues the previous item merges into it).
 */
struct spt_pb_entries {
	bool runs;		/* protocol 2 */
	uint32_t delta_cause;	/* runs with this cause leave theirs out */
	Shadowpt__Page *pages;
	Shadowpt__PageRun *prs;
	size_t n, cap;
	void **ptrs; /* filled in by spt_pb_entries_finish */
	size_t ptrs_cap;
	struct spt_run last; /* what the last PageRun item says */
	size_t bytes;	     /* packed size of the items, with their field overhead */
};

void spt_pb_entries_init(struct spt_pb_entries *e, bool runs, uint32_t delta_cause);
void spt_pb_entries_reset(struct spt_pb_entries *e);
void spt_pb_entries_free(struct spt_pb_entries *e);
/* Protocol 2: adds a (mapped) run, merging it into the last item if it continues it. */
int spt_pb_entries_add_run(struct spt_pb_entries *e, const struct spt_run *r);
/* Protocol 1: adds one page. */
int spt_pb_entries_add_page(struct spt_pb_entries *e, uint64_t vaddr, uint32_t flags,
			    uint64_t pfn);
/* Fills e->ptrs, the pointer array protobuf-c wants (valid until the next add). */
int spt_pb_entries_finish(struct spt_pb_entries *e);

/* The part of r the viewer sees first (map applied); *r keeps the rest. */
struct spt_run spt_map_next_piece(struct spt_run *r, spt_run_map_fn map, void *ctx);

void spt_vma_to_pb(Shadowpt__Vma *pb, const struct spt_vma *v);
/* Room for frame n of *arr (grown by one): the new slot, or NULL. */
struct spt_encoded *spt_encoded_slot(struct spt_encoded **arr, size_t n);
int spt_pack_frame(Shadowpt__Frame *frame, struct spt_encoded *out);

static inline uint32_t spt_meta_proto(uint32_t proto)
{
	return proto >= 2 ? 2 : 1;
}

#endif
