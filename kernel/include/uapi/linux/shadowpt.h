/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
#ifndef _UAPI_LINUX_SHADOWPT_H
#define _UAPI_LINUX_SHADOWPT_H

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
 * Syscall numbers (x86_64). The spec asks for 462..466, but Linux 6.12
 * already uses 462 for mseal(), so the five calls take 463..467 in the
 * same order. Defined here only when the installed kernel headers do
 * not already provide them.
 */
#if defined(__x86_64__) && !defined(__NR_shadowpt_open)
#define __NR_shadowpt_open 463
#define __NR_shadowpt_close 464
#define __NR_shadowpt_start 465
#define __NR_shadowpt_stop 466
#define __NR_shadowpt_page_contents 467
#endif

#endif /* _UAPI_LINUX_SHADOWPT_H */
