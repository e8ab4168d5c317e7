/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _UAPI_LINUX_SHADOWPT_H
#define _UAPI_LINUX_SHADOWPT_H

#include <linux/types.h>

/*
 * Shadow page tables: a privileged inspector process maps a read-only,
 * kernel-maintained table describing one window of a target process's
 * address space.
 */

/* The data structure representing a single entry in the page table */
struct shadow_pte {
	unsigned long vaddr; /* Virtual address of the base of this page */
	unsigned long pfn; /* Physical frame number of the associated physical page */
	unsigned long state_flags; /* Flags describing the mapping state */
};

#define SPTE_VADDR_ALLOCATED 1 /* the page is allocated */
#define SPTE_VADDR_ANONYMOUS 2 /* the page is for anonymous memory */
#define SPTE_PTE_MAPPED 4 /* a physical frame of memory is mapped */

/* Macros for testing whether each state flag is set */
#define is_vaddr_allocated(state) ((state) & SPTE_VADDR_ALLOCATED)
#define is_vaddr_anonymous(state) ((state) & SPTE_VADDR_ANONYMOUS)
#define is_pte_mapped(state) ((state) & SPTE_PTE_MAPPED)

/* Max range 2048 4K pages */
#define MAX_SPT_RANGE (0x800000)

/* The data structure representing the full page table */
struct user_shadow_pt {
	unsigned long start_vaddr; /* first virtual address in the target range */
	unsigned long end_vaddr; /* last virtual address in the target range + 1 */
	struct shadow_pte *entries; /* array of all page table entries */
};

/*
 * Syscall numbers (x86_64 only: not i386, and not x32, where unsigned long
 * and pointers are 32 bits wide and the structures above have another
 * layout). The spec asks for 462..466, but Linux 6.12 already uses 462 for
 * mseal(), so the five calls take 463..467 in the same order. Defined here
 * only when the installed kernel headers do not already provide them.
 *
 * Linux 6.13 and later use 463..468 for other system calls: check
 * /sys/kernel/mm/shadowpt/abi_version before making any of these calls.
 */
#if defined(__x86_64__) && !defined(__ILP32__) && !defined(__NR_shadowpt_open)
#define __NR_shadowpt_open 463
#define __NR_shadowpt_close 464
#define __NR_shadowpt_start 465
#define __NR_shadowpt_stop 466
#define __NR_shadowpt_page_contents 467
#endif
#if defined(__x86_64__) && !defined(__ILP32__) && !defined(__NR_shadowpt_events)
#define __NR_shadowpt_events 468
#endif

/*
 * int shadowpt_events(unsigned int flags);
 *
 * Change notification for the caller's table (only the thread group that
 * opened it may call this; -EPERM otherwise, -EINVAL without a table,
 * -EBUSY while another event file of the table is open). Returns a file
 * descriptor; /sys/kernel/mm/shadowpt/events_version says the call exists.
 *
 * mmap() the file (offset 0, MAP_SHARED, PROT_READ | PROT_WRITE) with
 * 1 + 2^n pages, 1 <= 2^n <= SHADOWPT_EVENTS_MAX_PAGES: the first page is
 * struct shadowpt_events_page, the rest a ring of struct shadowpt_event
 * records, one for every change of a table entry, in sequence order. The
 * first mmap() sets the ring size; later ones must use the same length.
 * Transitions before the first mmap() are not kept.
 *
 * Reading (perf's protocol): head = smp_load_acquire(&page->data_head),
 * read the records from data_tail up to head (byte offsets that only grow;
 * a record is at data_offset + (offset & (data_size - 1))), then
 * smp_store_release(&page->data_tail, head) to give the space back.
 *
 * poll() reports EPOLLIN while records are unread (data_head != data_tail),
 * EPOLLHUP once the table is closed or its opener gone, and EPOLLERR while
 * no ring is mapped.
 *
 * When the ring is full, records are dropped; the next record written once
 * there is room (or at the next poll()) is SHADOWPT_EVENT_LOST with seq the
 * first dropped sequence number and count how many. The table is the
 * authoritative state: after LOST (and at the start) a reader re-reads it
 * and applies only records with seq > table_seq as read before the table.
 */
#define SHADOWPT_EVENTS_CLOEXEC		(1U << 0) /* close-on-exec fd */

#define SHADOWPT_EVENTS_VERSION		1
#define SHADOWPT_EVENTS_MAX_PAGES	1024	/* data pages */

struct shadowpt_events_page {
	__u32 version;		/* SHADOWPT_EVENTS_VERSION */
	__u32 record_size;	/* sizeof(struct shadowpt_event) */
	__u64 data_offset;	/* of the ring from the start of the mapping */
	__u64 data_size;	/* bytes in the ring, a power of two */
	__u64 table_seq;	/* seq of the last change applied to the table */
	__u64 lost;		/* records dropped so far */
	__u64 __reserved0[3];
	__u64 data_head;	/* kernel: bytes written (store-release) */
	__u64 __reserved1[7];
	__u64 data_tail;	/* reader: bytes consumed (store-release) */
	__u64 __reserved2[7];
};

/*
 * One change of one table entry (64 bytes). A TRANSITION record has
 * count 0; a LOST record has only seq, time_ns (when it was written),
 * count and type set, the rest 0. Readers must ignore __reserved.
 */
struct shadowpt_event {
	__u64 seq;		/* 1, 2, ... for every change of the table */
	/* ktime_get_ns(), CLOCK_MONOTONIC; one change's records share it */
	__u64 time_ns;
	__u64 vaddr;		/* the page */
	__u64 old_pfn;
	__u64 new_pfn;
	__u64 count;		/* SHADOWPT_EVENT_LOST: records dropped */
	__u32 old_flags;	/* SPTE_* */
	__u32 new_flags;
	__u16 type;		/* SHADOWPT_EVENT_* */
	__u16 cause;		/* SHADOWPT_CAUSE_* */
	__u32 __reserved;
};

#define SHADOWPT_EVENT_TRANSITION	1	/* vaddr went old -> new */
#define SHADOWPT_EVENT_LOST		2	/* seq .. seq + count - 1 dropped */

/*
 * Why an entry changed, and the hooks that report each cause (mm/ files;
 * "hint" is the per-task cause a syscall sets for the mmu notifier
 * changes it makes). A migration or swap entry in the new state wins over
 * a hint, and reclaim wins over everything but migration.
 *
 * OTHER         anything else: a KSM merge, mprotect()'s notifier change
 * START         shadowpt_start() reading the current state
 * READ_FAULT,   do_anonymous_page(), set_pte_range() (also fault-around),
 * WRITE_FAULT   do_set_pmd(), the anonymous THP and huge zero page faults;
 *               insert_pfn(), insert_page_into_pte_locked() and hugetlb
 *               faults through the fault's hint
 * COW           wp_page_copy(); set_pte_range() from do_cow_fault()
 * SWAP_IN       do_swap_page()
 * MMAP          mmap_region() (and, by hint, what MAP_FIXED unmaps);
 *               __install_special_mapping()
 * MUNMAP        vms_complete_munmap_vmas(); MMU_NOTIFY_UNMAP without a hint
 * BRK           do_brk_flags(); brk()'s shrink by hint
 * STACK         expand_downwards(), expand_upwards()
 * MREMAP        the mremap() hook on both ranges (also after a failed
 *               move), and its zaps by hint
 * MADVISE       notifier changes during do_madvise() (DONTNEED, REMOVE, ...)
 * ZAP           MMU_NOTIFY_CLEAR without a hint: truncation, hole punch
 * EXEC, EXIT    the notifier's release() of the target's mm (EXEC when
 *               during execve()), and shadowpt_exec_done()'s re-read
 * THP_COLLAPSE  collapse_huge_page(); khugepaged's and MADV_COLLAPSE's
 *               notifier changes and do_set_pmd() by hint
 * THP_SPLIT     __split_huge_pmd(); unmap_folio() and remap_page() of
 *               split_huge_page() by hint, zero-page subpages
 * MIGRATION     a PTE that became a migration entry (notifier);
 *               remove_migration_pte/pmd(), migrate_vma_insert_page()
 * RECLAIM       a PTE that became a swap entry; any notifier change in a
 *               reclaiming task (PF_MEMALLOC, PF_KSWAPD): kswapd, direct
 *               reclaim, MADV_PAGEOUT
 * SWAPOFF       unuse_pte()
 * UFFD          mfill_atomic_install_pte(), mfill_atomic_pte_zeropage(),
 *               move_present_pte(), move_zeropage_pte(),
 *               move_pages_huge_pmd(); the UFFDIO_MOVE source by hint
 * RESYNC        the re-read queued when pte_offset_map_lock() kept failing
 */
#define SHADOWPT_CAUSE_OTHER		0  /* none of the below */
#define SHADOWPT_CAUSE_START		1  /* shadowpt_start() read the state */
#define SHADOWPT_CAUSE_READ_FAULT	2  /* read fault (also fault-around) */
#define SHADOWPT_CAUSE_WRITE_FAULT	3  /* write fault on a fresh page */
#define SHADOWPT_CAUSE_COW		4  /* copy on write */
#define SHADOWPT_CAUSE_SWAP_IN		5  /* fault on a swapped-out page */
#define SHADOWPT_CAUSE_MMAP		6  /* mmap(), also over old mappings */
#define SHADOWPT_CAUSE_MUNMAP		7  /* munmap() */
#define SHADOWPT_CAUSE_BRK		8  /* brk() */
#define SHADOWPT_CAUSE_STACK		9  /* stack growth */
#define SHADOWPT_CAUSE_MREMAP		10 /* mremap() */
#define SHADOWPT_CAUSE_MADVISE		11 /* madvise(): DONTNEED, REMOVE, ... */
#define SHADOWPT_CAUSE_ZAP		12 /* other zaps: truncate, hole punch */
#define SHADOWPT_CAUSE_EXEC		13 /* execve() replaced the mm */
#define SHADOWPT_CAUSE_EXIT		14 /* the target's mm was torn down */
#define SHADOWPT_CAUSE_THP_COLLAPSE	15 /* khugepaged, MADV_COLLAPSE */
#define SHADOWPT_CAUSE_THP_SPLIT	16 /* huge page or PMD split */
#define SHADOWPT_CAUSE_MIGRATION	17 /* page migration, compaction */
#define SHADOWPT_CAUSE_RECLAIM		18 /* reclaim, swap-out, MADV_PAGEOUT */
#define SHADOWPT_CAUSE_SWAPOFF		19 /* swapoff() brought the page in */
#define SHADOWPT_CAUSE_UFFD		20 /* userfaultfd COPY/ZEROPAGE/MOVE/... */
#define SHADOWPT_CAUSE_RESYNC		21 /* re-read after a walk gave up */
#define SHADOWPT_CAUSE_MAX		21

#endif /* _UAPI_LINUX_SHADOWPT_H */
