/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PAGEMAP_SCAN ioctl (Linux 6.7+) for headers that predate it
 * (Debian 12 ships 6.1 UAPI headers). Values copied from Linux 6.12
 * include/uapi/linux/fs.h; they are ABI and never change.
 */
#ifndef SHADOWPTD_PAGEMAP_SCAN_COMPAT_H
#define SHADOWPTD_PAGEMAP_SCAN_COMPAT_H

#include <linux/fs.h>
#include <linux/ioctl.h>
#include <linux/types.h>

#ifndef PAGEMAP_SCAN

#define PROCFS_IOCTL_MAGIC 'f'

#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
	__u64 start;
	__u64 end; /* exclusive */
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
	__u64 size; /* sizeof(struct pm_scan_arg) */
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end; /* written by the kernel: where the walk stopped */
	__u64 vec; /* struct page_region array */
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR(PROCFS_IOCTL_MAGIC, 16, struct pm_scan_arg)

#endif /* PAGEMAP_SCAN */

/* /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define SPT_PM_PFRAME_MASK ((1ull << 55) - 1)
#define SPT_PM_SOFT_DIRTY (1ull << 55)
#define SPT_PM_MMAP_EXCLUSIVE (1ull << 56)
#define SPT_PM_UFFD_WP (1ull << 57)
#define SPT_PM_GUARD_REGION (1ull << 58) /* Linux 6.14+: a guard marker, not swap */
#define SPT_PM_FILE (1ull << 61)
#define SPT_PM_SWAP (1ull << 62)
#define SPT_PM_PRESENT (1ull << 63)

/* /proc/kpageflags bits (include/uapi/linux/kernel-page-flags.h). */
#define SPT_KPF_THP 22

#endif
