/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Raw syscall wrappers for the shadowpt system calls (x86_64 numbers from
 * the project's UAPI header). Each returns -1 and sets errno on failure.
 */
#ifndef SPT_SYS_H
#define SPT_SYS_H

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/shadowpt.h>

static inline long spt_open(pid_t target, struct user_shadow_pt *dest)
{
	return syscall(__NR_shadowpt_open, target, dest);
}

static inline long spt_close(void)
{
	return syscall(__NR_shadowpt_close);
}

static inline long spt_start(void)
{
	return syscall(__NR_shadowpt_start);
}

static inline long spt_stop(void)
{
	return syscall(__NR_shadowpt_stop);
}

static inline long spt_page_contents(unsigned long pfn, void *buffer)
{
	return syscall(__NR_shadowpt_page_contents, pfn, buffer);
}

/* Bytes of entries needed for [start, end), rounded up to whole pages. */
static inline size_t spt_entries_bytes(unsigned long start, unsigned long end,
				       size_t page)
{
	unsigned long first = start & ~(page - 1);
	unsigned long last = (end + page - 1) & ~(page - 1);
	size_t n = last > first ? (last - first) / page : 0;
	size_t bytes = n * sizeof(struct shadow_pte);

	return (bytes + page - 1) & ~(page - 1);
}

#endif /* SPT_SYS_H */
