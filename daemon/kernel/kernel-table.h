/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The kernel's shadow page table (kernel/include/uapi/linux/shadowpt.h),
 * from the daemon's side: presence probe, open/start on a buffer the
 * daemon maps read-only and never touches, torn-free reads, release.
 */
#ifndef SHADOWPTD_KERNEL_TABLE_H
#define SHADOWPTD_KERNEL_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "linux/shadowpt.h"

/*
 * The patched kernel's marker. Numbers 463..467 are other syscalls on
 * Linux >= 6.13, so the daemon never calls them without this file.
 */
#define SPT_KERNEL_ABI_FILE "/sys/kernel/mm/shadowpt/abi_version"
#define SPT_KERNEL_ABI_VERSION 1

/* Reads before a table read is declared unstable (the kernel kept writing). */
#define SPT_KERNEL_STABLE_READ_TRIES 16

struct spt_kernel_table {
	uint64_t start, end; /* as the kernel accepted them */
	size_t npages;
	struct shadow_pte *entries; /* the kernel's table, mapped read-only */
	size_t map_len;
	struct shadow_pte *copy, *copy2; /* stable-read buffers */
};

/* 0 when the patched kernel's syscalls are there, else -ENOSYS + why. */
int spt_kernel_table_probe(char *why, size_t whylen);

/*
 * Opens and starts the system's single table for [start, end) of pid.
 * Returns 0, -EBUSY (another inspector holds the table), -ERANGE (over
 * MAX_SPT_RANGE), -EINVAL (the kernel refused it), -ESRCH, -EPERM, or
 * another -errno.
 */
int spt_kernel_table_open(struct spt_kernel_table *t, pid_t pid, uint64_t start,
			  uint64_t end);

/*
 * Copies the table into t->copy so that no entry is torn: re-reads until
 * two consecutive reads agree. Returns 0 or -EAGAIN (never stable).
 */
int spt_kernel_table_read(struct spt_kernel_table *t);

/*
 * The same for the n entries from first only, into t->copy[first..]
 * (the rest of t->copy is left as it was). 0, -EAGAIN or -EINVAL.
 */
int spt_kernel_table_read_range(struct spt_kernel_table *t, size_t first, size_t n);

/* Page contents of pfn (mapped in the window). Returns 0 or -errno. */
int spt_kernel_table_page(uint64_t pfn, uint8_t page[4096]);

/* Stops tracking, closes the table, unmaps the buffer. Never fails. */
void spt_kernel_table_close(struct spt_kernel_table *t);

#endif
