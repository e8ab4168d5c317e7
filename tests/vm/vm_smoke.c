// SPDX-License-Identifier: GPL-2.0
/*
 * vm_smoke: proves the VM harness (boot, run, log check) on any kernel.
 * Checks that /proc/self/pagemap is readable and shows a touched anonymous
 * page as present with a pfn (root sees pfns), and an untouched one as not
 * present; reports (without judging) whether the shadowpt syscalls exist.
 * TAP output.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/shadowpt.h>

#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)

static int failed, n;

static void tap(int ok, const char *what)
{
	printf("%sok %d - %s\n", ok ? "" : "not ", ++n, what);
	if (!ok)
		failed++;
}

static int pagemap_entry(int fd, const void *addr, uint64_t *e)
{
	long page = sysconf(_SC_PAGESIZE);
	off_t off = (off_t)((uintptr_t)addr / (uintptr_t)page * sizeof(*e));

	return pread(fd, e, sizeof(*e), off) == (ssize_t)sizeof(*e) ? 0 : -1;
}

int main(void)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t e1 = 0, e2 = 0;
	char *p;
	int fd;
	long r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..4\n");
	p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	tap(p != MAP_FAILED, "mmap two anonymous pages");
	if (p == MAP_FAILED)
		return 1;
	p[0] = 1;
	fd = open("/proc/self/pagemap", O_RDONLY);
	tap(fd >= 0 && !pagemap_entry(fd, p, &e1) && !pagemap_entry(fd, p + page, &e2),
	    "read /proc/self/pagemap");
	printf("# touched 0x%016llx untouched 0x%016llx\n",
	       (unsigned long long)e1, (unsigned long long)e2);
	tap((e1 & PM_PRESENT) && (e1 & PM_PFN_MASK),
	    "touched page is present with a pfn");
	tap(!(e2 & PM_PRESENT), "untouched page is not present");

	errno = 0;
	r = syscall(__NR_shadowpt_close);
	printf("# shadowpt_close() = %ld (%s): syscalls %s\n", r, strerror(errno),
	       r < 0 && errno == ENOSYS ? "absent" : "present");
	return failed ? 1 : 0;
}
