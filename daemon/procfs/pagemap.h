/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Page entries from /proc/PID/pagemap, at a cost proportional to populated
 * pages rather than to reserved address space.
 *
 * Fast path (Linux 6.7+): one PAGEMAP_SCAN ioctl over the range asks the
 * kernel for the runs of present or swapped pages (it walks only existing
 * page tables), then only those runs are read from pagemap for the pfn
 * and the exclusive/soft-dirty/file bits. PAGE_IS_HUGE marks PMD-mapped
 * THP (and hugetlb) runs: SPT_F_THP.
 *
 * PAGEMAP_SCAN skips VM_PFNMAP VMAs ([vvar], [vvar_vclock], device
 * mappings), yet pagemap (and the kernel table) reports their present
 * PTEs; so SPECIAL VMAs and device files ("/dev/..." except /dev/zero,
 * "anon_inode:...") are read from pagemap directly (they are small).
 *
 * Fallback (ioctl fails with ENOTTY/EINVAL: kernels before 6.7): read
 * /proc/PID/smaps once and read pagemap in 4096-entry chunks only for VMAs
 * that can have page-level state: Rss or Swap nonzero, VM_PFNMAP,
 * VM_MIXEDMAP or hugetlb (VmFlags pf/mm/ht, whose pages Rss does not
 * count), or readable private-anon VMAs up to
 * SPT_PROCFS_ZERO_PAGE_PROBE_MAX bytes (a read fault maps the shared zero
 * page, which Rss does not count either). Without PAGEMAP_SCAN nothing
 * tells where in a VMA its pages are, so cost there is proportional to
 * the size of VMAs that hold pages; to bound it, a VMA larger than
 * SPT_PROCFS_ZERO_PAGE_PROBE_MAX is read only until its Rss + Swap pages
 * have been found, and never beyond its first SPT_PROCFS_FALLBACK_VMA_MAX
 * bytes (stats.vmas_truncated counts VMAs cut short). Known gaps on such
 * kernels: zero-page-only mappings in a readable anon VMA larger than
 * SPT_PROCFS_ZERO_PAGE_PROBE_MAX (or after the last Rss page of one), and
 * pages beyond the first 4 GiB of a larger VMA. THP in the
 * fallback comes from /proc/kpageflags (root only): a 2 MiB aligned block
 * of 512 present pages with contiguous, 512-aligned pfns whose head frame
 * has KPF_THP; without kpageflags SPT_F_THP stays unset.
 *
 * Per page with page-level state (present or swapped) the entry gets the
 * VMA's flags (spt_vma_flags) plus MAPPED and the pfn when present (pfn
 * 0 without CAP_SYS_ADMIN, and the zero page's pfn for zero-page
 * mappings, exactly as pagemap reports), or SWAPPED (pfn 0: pagemap's
 * frame field holds the swap entry, not a pfn); SOFT_DIRTY, EXCLUSIVE and
 * FILE from the pagemap bits. Pages without that state get no entry.
 * Guard-region markers (pagemap bit 58, Linux 6.14+) are not pages.
 */
#ifndef SHADOWPTD_PROCFS_PAGEMAP_H
#define SHADOWPTD_PROCFS_PAGEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps.h"
#include "state.h"

/* Fallback mode: largest readable anon VMA with Rss 0 still probed. */
#define SPT_PROCFS_ZERO_PAGE_PROBE_MAX (256ull << 20)
/*
 * Fallback mode: VMAs larger than this (ASan shadow, huge NORESERVE
 * heaps) are read only up to this many bytes from their start.
 */
#define SPT_PROCFS_FALLBACK_VMA_MAX (4ull << 30)
/* pagemap entries read per pread (32 KiB of entries, 16 MiB of address space). */
#define SPT_PROCFS_PAGEMAP_CHUNK 4096u
/* page_region slots offered to one PAGEMAP_SCAN call. */
#define SPT_PROCFS_SCAN_VEC 1024u

struct page_region;

/* Fallback: what smaps says about one VMA. */
struct spt_smaps_vma {
	uint64_t start, end;
	uint64_t rss_kb, swap_kb;
	bool pfnmap; /* VM_PFNMAP or VM_MIXEDMAP: pages Rss does not count */
};

enum spt_pagemap_mode {
	SPT_PAGEMAP_AUTO = 0, /* PAGEMAP_SCAN, falling back when unsupported */
	SPT_PAGEMAP_FORCE_FALLBACK, /* smaps + chunked pagemap (tests, bench) */
};

/* What the last fill did; for tests, benchmarks and status. */
struct spt_pagemap_stats {
	bool used_scan;
	uint64_t scan_calls;
	uint64_t regions;
	uint64_t entries_read; /* pagemap entries read */
	uint64_t vmas_skipped; /* fallback: VMAs skipped thanks to smaps */
	uint64_t vmas_truncated; /* fallback: VMAs read only in part (see above) */
};

struct spt_pagemap {
	enum spt_pagemap_mode mode;
	bool scan_unsupported; /* PAGEMAP_SCAN said ENOTTY/EINVAL once */
	int kpageflags_fd; /* fallback THP detection; -1 when unreadable */
	bool kpageflags_tried;
	struct page_region *regions;
	size_t nregions, regions_cap;
	uint64_t *pme; /* SPT_PROCFS_PAGEMAP_CHUNK entries */
	struct spt_procfs_buf smaps;
	struct spt_smaps_vma *svmas;
	size_t nsvmas, svmas_cap;
	struct spt_pagemap_stats stats;
};

void spt_pagemap_init(struct spt_pagemap *pm, enum spt_pagemap_mode mode);
void spt_pagemap_free(struct spt_pagemap *pm);

/*
 * Appends the page entries of every VMA already in st (clipped VMAs from
 * spt_maps_parse) to st. pagemap_fd is an open /proc/PID/pagemap;
 * procdirfd the /proc/PID directory (for smaps in the fallback).
 * Returns 0, -EAGAIN when the mm went away under us (pagemap short read
 * or ESRCH from the ioctl: exec or exit; the caller decides which),
 * -ESRCH, -ENOMEM, or another -errno.
 */
int spt_pagemap_fill(struct spt_pagemap *pm, int procdirfd, int pagemap_fd,
		     struct spt_state *st);

/*
 * The page entries of vmas' VMAs inside [start, end), appended to out
 * (the fallback reads whole 2 MiB blocks of anonymous VMAs, so out may
 * hold entries beyond). *huge, if given, is set when a THP reaches beyond
 * the range. Returns like spt_pagemap_fill.
 */
int spt_pagemap_fill_range(struct spt_pagemap *pm, int pagemap_fd, const struct spt_state *vmas,
			   uint64_t start, uint64_t end, struct spt_state *out, bool *huge);

/* Reads one raw pagemap entry. 0, -EAGAIN (mm gone) or -errno. */
int spt_pagemap_read_entry(int pagemap_fd, uint64_t vaddr, uint64_t *pme);
/* Whether the mm a pagemap fd was opened on still has users. */
bool spt_pagemap_live(int pagemap_fd);

/*
 * Fallback helper, exposed for tests: parses smaps text into per-VMA
 * {start, end, rss, swap, pfnmap}. Returns 0, -EINVAL, -ENOMEM.
 */
int spt_pagemap_parse_smaps(struct spt_pagemap *pm, const char *buf, size_t len);

#endif
