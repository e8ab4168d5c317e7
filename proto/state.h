/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The page-state model shared by daemon and client (DESIGN.md section 2):
 * a sorted list of VMAs and a sorted, sparse set of pages that have
 * page-level state (mapped or swapped). A page with no entry has the
 * state its VMA implies (allocated, maybe anonymous) or none at all.
 *
 * The daemon builds a fresh state per sample and diffs it against the
 * previous one; the client rebuilds the same state from a snapshot plus
 * deltas. Cost is proportional to VMAs plus populated pages, never to the
 * size of reserved address space.
 */
#ifndef SHADOWPT_STATE_H
#define SHADOWPT_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "linux/shadowpt.h" /* SPTE_* from kernel/include/uapi */

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
	struct spt_page *pages; /* sorted by vaddr, unique, flags != 0 */
	size_t npages, pages_cap;
};

/* A change between two states; removals apply before additions. */
struct spt_delta {
	struct spt_range *vmas_removed;
	size_t nvmas_removed, vmas_removed_cap;
	struct spt_vma *vmas_added;
	size_t nvmas_added, vmas_added_cap;
	struct spt_page *pages; /* sorted; flags == 0 removes the entry */
	size_t npages, pages_cap;
};

void spt_state_init(struct spt_state *st);
void spt_state_clear(struct spt_state *st); /* keeps capacity */
void spt_state_free(struct spt_state *st);
/* Moves src into dst (dst freed first); src is left empty. */
void spt_state_move(struct spt_state *dst, struct spt_state *src);

/*
 * Appends in ascending order (the way maps and pagemap are read).
 * The vma's name is copied. Return 0, -ENOMEM, or -EINVAL when the entry
 * is out of order, overlaps, is unaligned or is empty.
 */
int spt_state_append_vma(struct spt_state *st, const struct spt_vma *vma);
int spt_state_append_page(struct spt_state *st, const struct spt_page *page);

/* Flags a VMA implies for every page in it: ALLOCATED, maybe ANONYMOUS. */
uint32_t spt_vma_flags(const struct spt_vma *vma);
/* The VMA containing vaddr, or NULL. Binary search. */
const struct spt_vma *spt_state_find_vma(const struct spt_state *st, uint64_t vaddr);
/* Index of the first page entry at or above vaddr (npages if none). */
size_t spt_state_page_index(const struct spt_state *st, uint64_t vaddr);
/* The page entry for vaddr, or NULL. Binary search. */
const struct spt_page *spt_state_find_page(const struct spt_state *st, uint64_t vaddr);
/* Effective flags of any page-aligned address (entry, else VMA, else 0). */
uint32_t spt_state_flags_at(const struct spt_state *st, uint64_t vaddr);

/* Deep equality of VMAs and pages. */
bool spt_state_equal(const struct spt_state *a, const struct spt_state *b);

void spt_delta_init(struct spt_delta *d);
void spt_delta_clear(struct spt_delta *d);
void spt_delta_free(struct spt_delta *d);
bool spt_delta_empty(const struct spt_delta *d);

/*
 * Computes the delta that turns old into new: VMAs that differ in any
 * field are removed and re-added; pages whose flags or pfn differ are
 * listed, with flags 0 for entries that disappear. O(n) merge walk.
 */
int spt_state_diff(const struct spt_state *old, const struct spt_state *new,
		   struct spt_delta *out);

/*
 * Applies a delta in place. Validates as it goes (removal of a VMA that
 * does not exist, overlap after adding, unsorted or unaligned pages) and
 * returns -EINVAL leaving st unspecified but freeable; 0 on success.
 */
int spt_state_apply(struct spt_state *st, const struct spt_delta *d);

/* Flag names, e.g. "allocated","anonymous","mapped"; for JSON and text. */
const char *spt_flag_name(uint32_t bit);
/* The printable kind name: "anon", "shared-anon", "file", "special". */
const char *spt_vma_kind_name(enum spt_vma_kind kind);

#endif
