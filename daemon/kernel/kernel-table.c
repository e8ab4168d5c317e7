// SPDX-License-Identifier: GPL-2.0-or-later
/* Syscall layer of the kernel backend: one table, read without tearing. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kernel-table.h"
#include "shadowpt-limits.h"

int spt_kernel_table_probe(char *why, size_t whylen)
{
	char buf[16] = "";
	ssize_t n;
	int fd;

	fd = open(SPT_KERNEL_ABI_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "kernel syscalls not available");
		return -ENOSYS;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || atoi(buf) != SPT_KERNEL_ABI_VERSION) {
		snprintf(why, whylen, "kernel shadowpt ABI version %s not supported",
			 n > 0 ? strtok(buf, "\n") : "?");
		return -ENOSYS;
	}
	why[0] = '\0';
	return 0;
}

int spt_kernel_table_open(struct spt_kernel_table *t, pid_t pid, uint64_t start,
			  uint64_t end)
{
	struct user_shadow_pt u;
	size_t bytes;

	memset(t, 0, sizeof(*t));
	if (start >= end || end - start > MAX_SPT_RANGE)
		return -ERANGE;
	t->npages = (end - start) / SPT_PAGE_SIZE;
	bytes = t->npages * sizeof(struct shadow_pte);
	t->map_len = (bytes + SPT_PAGE_SIZE - 1) & ~(SPT_PAGE_SIZE - 1);
	/* Never touched by us: the kernel refuses an already-populated buffer. */
	t->entries = mmap(NULL, t->map_len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->entries == MAP_FAILED)
		return -errno;
	t->copy = calloc(t->npages, sizeof(*t->copy));
	t->copy2 = calloc(t->npages, sizeof(*t->copy2));
	if (!t->copy || !t->copy2) {
		spt_kernel_table_close(t);
		return -ENOMEM;
	}
	u.start_vaddr = start;
	u.end_vaddr = end;
	u.entries = t->entries;
	if (syscall(__NR_shadowpt_open, pid, &u) < 0) {
		int err = -errno;

		munmap(t->entries, t->map_len);
		t->entries = NULL;
		spt_kernel_table_close(t);
		return err;
	}
	t->start = u.start_vaddr;
	t->end = u.end_vaddr;
	if (syscall(__NR_shadowpt_start) < 0) {
		int err = -errno;

		spt_kernel_table_close(t);
		return err;
	}
	return 0;
}

int spt_kernel_table_read_range(struct spt_kernel_table *t, size_t first, size_t n)
{
	size_t bytes = n * sizeof(struct shadow_pte);
	struct shadow_pte *prev = t->copy2 + first, *cur = t->copy + first;
	const struct shadow_pte *src = t->entries + first;

	if (first > t->npages || n > t->npages - first)
		return -EINVAL;
	memcpy(prev, src, bytes);
	for (int i = 0; i < SPT_KERNEL_STABLE_READ_TRIES; i++) {
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		memcpy(cur, src, bytes);
		if (memcmp(cur, prev, bytes) == 0)
			return 0;
		memcpy(prev, cur, bytes);
	}
	return -EAGAIN;
}

int spt_kernel_table_read(struct spt_kernel_table *t)
{
	return spt_kernel_table_read_range(t, 0, t->npages);
}

int spt_kernel_table_page(uint64_t pfn, uint8_t page[4096])
{
	if (syscall(__NR_shadowpt_page_contents, (unsigned long)pfn, page) < 0)
		return -errno;
	return 0;
}

void spt_kernel_table_close(struct spt_kernel_table *t)
{
	if (t->entries) {
		syscall(__NR_shadowpt_stop);
		syscall(__NR_shadowpt_close);
		munmap(t->entries, t->map_len);
	}
	free(t->copy);
	free(t->copy2);
	memset(t, 0, sizeof(*t));
}
