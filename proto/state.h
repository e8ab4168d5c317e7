/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The page-state model shared by daemon and client (DESIGN.md section 2):
 * a sorted list of VMAs and a sorted, sparse set of pages that have
 * page-level state (mapped or swapped), held as runs (run.h) in a
 * chunked sorted array (runvec.h). A page with no entry has the state its
 * VMA implies (allocated, maybe anonymous) or none at all.
 *
 * The daemon builds a fresh state per sample and diffs it against the
 * previous one, or updates ranges in place (spt_state_update_pages); the
 * client rebuilds the same state from a snapshot plus deltas. Cost is
 * proportional to VMAs plus runs, never to the size of the address space
 * or the number of pages a run covers: a 1 TiB mapping of the zero page
 * is one run.
 */
#ifndef SHADOWPT_STATE_H
#define SHADOWPT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "linux/shadowpt.h" /* SPTE_* from kernel/include/uapi */
#include "run.h"
#include "runvec.h"

/* The three spec flags keep the kernel's values. */
#define SPT_F_ALLOCATED SPTE_VADDR_ALLOCATED
#define SPT_F_ANONYMOUS SPTE_VADDR_ANONYMOUS
#define SPT_F_MAPPED SPTE_PTE_MAPPED
#define SPT_F_SPEC_MASK (SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED)
/* Extended flags: userspace and wire only, from what procfs can tell. */
#define SPT_F_SWAPPED (1u << 8)
#define SPT_F_SOFT_DIRTY (1u << 9)
#define SPT_F_EXCLUSIVE (1u << 10) /* mapped exactly once */
#define SPT_F_THP (1u << 11) /* part of a PMD-mapped huge page */
#define SPT_F_FILE (1u << 12) /* file page or shared-anon (shmem) */
#define SPT_F_KNOWN_MASK                                                       \
	(SPT_F_SPEC_MASK | SPT_F_SWAPPED | SPT_F_SOFT_DIRTY | SPT_F_EXCLUSIVE | \
	 SPT_F_THP | SPT_F_FILE)

/* Same numbering as shadowpt.proto's VmaKind. */
enum spt_vma_kind {
	SPT_VMA_ANON = 1,
	SPT_VMA_SHARED_ANON = 2,
	SPT_VMA_FILE = 3,
	SPT_VMA_SPECIAL = 4,
};

struct spt_vma {
	uint64_t start, end; /* [start, end), page aligned */
	uint64_t offset;
	uint32_t prot; /* PROT_READ | PROT_WRITE | PROT_EXEC */
	bool shared;
	enum spt_vma_kind kind;
	char *name; /* owned, never NULL ("" when anonymous) */
};

/* One page's entry, by value (a one-page view of a run). */
struct spt_page {
	uint64_t vaddr;
	uint64_t pfn; /* raw pfn, opaque token, or 0 */
	uint32_t flags; /* full effective flags, spec + extended */
};

struct spt_range {
	uint64_t start, end;
};

struct spt_state {
	struct spt_vma *vmas; /* sorted by start, non-overlapping */
	size_t nvmas, vmas_cap;
	struct spt_runvec runs; /* canonical runs (run.h), flags != 0 */
	/* Caps (0 = unlimited): changes that would exceed them fail with -E2BIG. */
	size_t max_runs, max_vmas;
};

/* A change between two states; removals apply before additions. */
struct spt_delta {
	struct spt_range *vmas_removed;
	size_t nvmas_removed, vmas_removed_cap;
	struct spt_vma *vmas_added;
	size_t nvmas_added, vmas_added_cap;
	/* Sorted, non-overlapping; each sets its pages; flags == 0 removes them. */
	struct spt_run *runs;
	size_t nruns, runs_cap;
};

void spt_state_init(struct spt_state *st);
/* Empties st (VMAs and runs); caps are kept. */
void spt_state_clear(struct spt_state *st);
void spt_state_free(struct spt_state *st);
/* Moves src into dst (dst freed first); src is left empty. */
void spt_state_move(struct spt_state *dst, struct spt_state *src);
/* dst becomes a deep copy of src, caps included. 0 or -ENOMEM (dst empty). */
int spt_state_copy(struct spt_state *dst, const struct spt_state *src);
/* Replaces dst's VMAs with copies of src's; runs untouched. 0, -ENOMEM, -E2BIG. */
int spt_state_copy_vmas(struct spt_state *dst, const struct spt_state *src);
void spt_state_set_limits(struct spt_state *st, size_t max_runs, size_t max_vmas);

/*
 * Appends in ascending order (the way maps and pagemap are read). The
 * vma's name is copied. A page or run that continues the last run is
 * merged into it. Return 0, -ENOMEM, -E2BIG (a cap), or -EINVAL when the
 * entry is out of order, overlaps, is unaligned, is empty, has flags 0,
 * or (runs) is not spt_run_valid().
 */
int spt_state_append_vma(struct spt_state *st, const struct spt_vma *vma);
int spt_state_append_page(struct spt_state *st, const struct spt_page *page);
int spt_state_append_run(struct spt_state *st, const struct spt_run *run);

static inline size_t spt_state_nruns(const struct spt_state *st)
{
	return st->runs.nruns;
}

/* Pages with an entry (the sum of the runs' lengths). */
static inline uint64_t spt_state_npages(const struct spt_state *st)
{
	return st->runs.npages;
}

/* Bytes st holds on the heap (VMAs, names, runs): for memory accounting. */
size_t spt_state_memory(const struct spt_state *st);

/* Flags a VMA implies for every page in it: ALLOCATED, maybe ANONYMOUS. */
uint32_t spt_vma_flags(const struct spt_vma *vma);
/* The VMA containing vaddr, or NULL. Binary search. */
const struct spt_vma *spt_state_find_vma(const struct spt_state *st, uint64_t vaddr);
/* The entry of the page holding vaddr, by value; false if it has none. */
bool spt_state_get_page(const struct spt_state *st, uint64_t vaddr, struct spt_page *out);
/* The run holding vaddr, by value; false if none does. */
bool spt_state_get_run(const struct spt_state *st, uint64_t vaddr, struct spt_run *out);
/* Effective flags of any page-aligned address (entry, else VMA, else 0). */
uint32_t spt_state_flags_at(const struct spt_state *st, uint64_t vaddr);

/*
 * Ordered iteration over the runs that intersect [start, end), clipped
 * to it. The state must not change while an iterator is in use.
 */
struct spt_run_iter {
	const struct spt_runvec *rv;
	struct spt_runpos pos;
	uint64_t start, end;
};

void spt_run_iter_init(struct spt_run_iter *it, const struct spt_state *st, uint64_t start,
		       uint64_t end);
/* All runs. */
void spt_run_iter_all(struct spt_run_iter *it, const struct spt_state *st);
bool spt_run_iter_next(struct spt_run_iter *it, struct spt_run *out);

/* Deep equality of VMAs and runs (caps ignored). */
bool spt_state_equal(const struct spt_state *a, const struct spt_state *b);
/* Checks every invariant (order, canonical runs, counts); for tests. */
bool spt_state_check(const struct spt_state *st);

void spt_delta_init(struct spt_delta *d);
void spt_delta_clear(struct spt_delta *d);
void spt_delta_free(struct spt_delta *d);
bool spt_delta_empty(const struct spt_delta *d);
/*
 * Appends a change run (flags 0: removal) above the last one, merging
 * with it where it continues it (removals always do when adjacent).
 * 0, -ENOMEM or -EINVAL (out of order, invalid run).
 */
int spt_delta_add_run(struct spt_delta *d, const struct spt_run *r);
/* Pages the delta's runs cover. */
uint64_t spt_delta_npages(const struct spt_delta *d);
/* Sets the cause of every run of d. */
void spt_delta_set_cause(struct spt_delta *d, uint8_t cause);
/* The one cause all of d's runs share, CAUSE_MULTIPLE if not, 0 if d has none. */
uint8_t spt_delta_common_cause(const struct spt_delta *d);
/*
 * Gives the pages d maps (not those it removes) inside [start, end) the
 * cause cause, splitting runs at the edges: a later look said better why
 * they changed. 0 or -ENOMEM.
 */
int spt_delta_relabel_present(struct spt_delta *d, uint64_t start, uint64_t end, uint8_t cause);
/* Appends a VMA removal / a VMA addition (name copied). 0 or -ENOMEM. */
int spt_delta_remove_vma(struct spt_delta *d, uint64_t start, uint64_t end);
int spt_delta_add_vma(struct spt_delta *d, const struct spt_vma *v);
/*
 * Appends src's changes to dst (a delta that came in parts): its VMA
 * removals, additions and runs (above dst's). 0, -ENOMEM or -EINVAL.
 */
int spt_delta_append(struct spt_delta *dst, const struct spt_delta *src);

/*
 * Computes the delta that turns old into new (out is cleared first):
 * VMAs that differ in any field are removed and re-added; page ranges
 * whose flags or frames differ are listed as runs, flags 0 where entries
 * disappear. O(VMAs + runs), a merge walk.
 */
int spt_state_diff(const struct spt_state *old, const struct spt_state *new,
		   struct spt_delta *out);
/* The VMA part of spt_state_diff alone, appended to out (not cleared). */
int spt_state_diff_vmas(const struct spt_state *old, const struct spt_state *new,
			struct spt_delta *out);

/*
 * Replaces st's page entries inside [start, end) with fresh's entries
 * inside [start, end) (fresh's entries elsewhere and its VMAs are
 * ignored), in place, and appends the changes to out in ascending order,
 * each carrying cause. Calls for one out must come with ascending,
 * non-overlapping ranges (-EINVAL otherwise). O(log n + runs in range).
 * On error (-ENOMEM, -E2BIG, -EINVAL) neither st nor out has changed.
 */
int spt_state_update_pages(struct spt_state *st, uint64_t start, uint64_t end,
			   const struct spt_state *fresh, uint8_t cause, struct spt_delta *out);

/*
 * Applies a delta in place: O(VMAs + delta runs * log n). Everything is
 * validated first (removal of a VMA that does not exist, overlap after
 * adding, unsorted, overlapping or invalid runs): -EINVAL leaves st as it
 * was. -ENOMEM or -E2BIG (a cap) may leave part of the delta applied; st
 * is consistent and freeable either way. 0 on success.
 */
int spt_state_apply(struct spt_state *st, const struct spt_delta *d);

/*
 * Sets the pages in [start, end) to runs[0..n) (sorted, inside the range,
 * flags != 0), dropping every other entry in the range. All or nothing:
 * 0, -EINVAL, -ENOMEM, -E2BIG.
 */
int spt_state_replace_range(struct spt_state *st, uint64_t start, uint64_t end,
			    const struct spt_run *runs, size_t n);

/* Flag names, e.g. "allocated","anonymous","mapped"; for JSON and text. */
const char *spt_flag_name(uint32_t bit);
/* The printable kind name: "anon", "shared-anon", "file", "special". */
const char *spt_vma_kind_name(enum spt_vma_kind kind);

#endif
