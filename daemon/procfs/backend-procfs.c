// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The procfs backend: /proc/PID/maps for VMAs, /proc/PID/pagemap (and
 * PAGEMAP_SCAN) for pages, /proc/PID/mem for peeks.
 *
 * pid reuse: /proc/PID is opened once, as a directory, and checked
 * against the daemon's pidfd afterwards (if the pidfd's process is still
 * there, the number was not reused, so the directory is that process's).
 * Everything else is opened relative to that directory; once the process
 * is gone those opens fail with ESRCH/ENOENT and no other process can be
 * read through it.
 *
 * maps and pagemap bind to the target's mm when opened, so they are
 * re-opened for every sample: an fd kept across an execve would read the
 * dead mm (empty). The previous sample's pagemap fd serves as the exec
 * detector: a live target whose old pagemap fd reads EOF got a new mm.
 *
 * A leader that called pthread_exit() is a zombie without an mm while its
 * threads run on: its maps read empty. Then the mm is read through the
 * first thread in /proc/PID/task that has one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend-procfs.h"
#include "../backend.h"
#include "maps-query.h"
#include "maps.h"
#include "mm-thread.h"
#include "pagemap-scan-compat.h"
#include "pagemap.h"
#include "perf-events.h"
#include "shadowpt.pb-c.h"

/* What one read fault of a file may map besides its page (mm/filemap.c fault-around). */
#define SPT_PROCFS_FAULT_AROUND (64u * 1024u)
#define PMD_BYTES		(2ull << 20)

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

struct procfs_backend {
	pid_t pid;
	int pidfd;
	bool own_pidfd;
	int dirfd; /* /proc/PID */
	int mmdirfd; /* /proc/PID/task/TID when the leader exited before its threads, or -1 */
	uint64_t start, end;
	int pagemap_fd; /* opened by the last sample attempt; exec sentinel */
	int maps_fd;	/* opened with it: PROCMAP_QUERY for targeted VMA reads */
	bool query_unsupported;
	bool exec_pending, exec_seen;
	struct spt_perf *perf; /* event mode */
	struct spt_procfs_buf maps;
	struct spt_pagemap pm;
};

/* The /proc directory to read the mm through: a thread's, or the process's. */
static int mm_dir(const struct procfs_backend *b)
{
	return b->mmdirfd >= 0 ? b->mmdirfd : b->dirfd;
}

static int open_in_proc(const struct procfs_backend *b, const char *name)
{
	int fd = openat(mm_dir(b), name, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return (errno == ENOENT || errno == ESRCH) ? -ESRCH : -errno;
	return fd;
}

/* Points mmdirfd at a thread of the target that still has the mm. */
static int find_mm_thread(struct procfs_backend *b)
{
	int fd = spt_procfs_mm_thread_dir(b->dirfd);

	if (fd < 0)
		return fd;
	b->mmdirfd = fd;
	return 0;
}

static void procfs_close(void *handle)
{
	struct procfs_backend *b = handle;

	if (!b)
		return;
	spt_perf_close(b->perf);
	if (b->pagemap_fd >= 0)
		close(b->pagemap_fd);
	if (b->maps_fd >= 0)
		close(b->maps_fd);
	if (b->dirfd >= 0)
		close(b->dirfd);
	if (b->mmdirfd >= 0)
		close(b->mmdirfd);
	if (b->own_pidfd && b->pidfd >= 0)
		close(b->pidfd);
	spt_procfs_buf_free(&b->maps);
	spt_pagemap_free(&b->pm);
	free(b);
}

int spt_procfs_open(pid_t pid, int pidfd, uint64_t start, uint64_t end,
		    enum spt_pagemap_mode mode, void **handle, char *why, size_t whylen)
{
	struct procfs_backend *b;
	char path[32];
	int ret;

	*handle = NULL;
	if (pid <= 0) {
		snprintf(why, whylen, "pid %d is not a process id", (int)pid);
		return -ESRCH;
	}
	if (start >= end || (start | end) & (SPT_PAGE_SIZE - 1) || end > SPT_USER_ADDR_MAX) {
		snprintf(why, whylen, "invalid range");
		return -ERANGE;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	b->pid = pid;
	b->start = start;
	b->end = end;
	b->dirfd = b->mmdirfd = b->pagemap_fd = b->maps_fd = -1;
	b->pidfd = pidfd;
	spt_pagemap_init(&b->pm, mode);
	if (pidfd < 0) {
		b->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (b->pidfd < 0) {
			ret = -errno;
			snprintf(why, whylen, "pidfd_open(%d): %s", (int)pid, strerror(errno));
			goto fail;
		}
		b->own_pidfd = true;
	}

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	b->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (b->dirfd < 0) {
		ret = errno == ENOENT ? -ESRCH : -errno;
		snprintf(why, whylen, "cannot open %s: %s", path, strerror(-ret));
		goto fail;
	}
	/* Opened after the pidfd: if that process still runs, it is this one. */
	if (spt_pidfd_exited(b->pidfd)) {
		ret = -ESRCH;
		snprintf(why, whylen, "process %d has exited", (int)pid);
		goto fail;
	}
	ret = open_in_proc(b, "pagemap");
	/* A zombie leader's pagemap refuses to open while its threads run on. */
	if (ret < 0 && find_mm_thread(b) == 0)
		ret = open_in_proc(b, "pagemap");
	if (ret < 0) {
		snprintf(why, whylen, "cannot open /proc/%d/pagemap: %s", (int)pid,
			 strerror(-ret));
		goto fail;
	}
	b->pagemap_fd = ret;
	*handle = b;
	return 0;
fail:
	procfs_close(b);
	return ret;
}

static int procfs_open_ops(pid_t pid, int pidfd, uint64_t start, uint64_t end, void **handle,
			   char *why, size_t whylen)
{
	return spt_procfs_open(pid, pidfd, start, end, SPT_PAGEMAP_AUTO, handle, why, whylen);
}

static int sample_once(struct procfs_backend *b, struct spt_state *out)
{
	size_t lines = 0;
	int fd, ret;

	fd = open_in_proc(b, "pagemap");
	if (fd < 0 && b->mmdirfd >= 0) {
		/* That thread is gone: look again from the leader. */
		close(b->mmdirfd);
		b->mmdirfd = -1;
		return -EAGAIN;
	}
	/* A zombie leader's pagemap refuses to open while its threads run on. */
	if (fd < 0 && !spt_pidfd_exited(b->pidfd) && find_mm_thread(b) == 0)
		return -EAGAIN;
	if (fd < 0)
		return fd;
	if (b->pagemap_fd >= 0) {
		if (!spt_pagemap_live(b->pagemap_fd) && spt_pagemap_live(fd))
			b->exec_pending = true;
		close(b->pagemap_fd);
	}
	b->pagemap_fd = fd;
	/* Bound to the same mm as pagemap: targeted VMA reads until the next exec. */
	if (b->maps_fd >= 0)
		close(b->maps_fd);
	b->maps_fd = b->query_unsupported ? -1 : openat(mm_dir(b), "maps", O_RDONLY | O_CLOEXEC);

	ret = spt_maps_read(mm_dir(b), b->start, b->end, &b->maps, out, &lines);
	if (ret == -EINVAL)
		return -EAGAIN; /* VMAs changed between two reads of the text */
	if (ret)
		return ret;
	/* Empty: a kernel thread, a zombie, or a leader gone before its threads. */
	if (!lines && b->mmdirfd < 0 && !spt_pidfd_exited(b->pidfd) && find_mm_thread(b) == 0) {
		/* fd read no mm at all: not evidence of an exec next time. */
		close(b->pagemap_fd);
		b->pagemap_fd = -1;
		return -EAGAIN;
	}
	return spt_pagemap_fill(&b->pm, mm_dir(b), fd, out);
}

static int procfs_sample(void *handle, struct spt_state *out)
{
	struct procfs_backend *b = handle;
	int ret = -EAGAIN;

	for (int i = 0; i < SPT_PROCFS_SAMPLE_ATTEMPTS && ret == -EAGAIN; i++) {
		spt_state_clear(out);
		ret = sample_once(b, out);
	}
	/* Checked last: a zombie's maps and pagemap read as empty. */
	if (spt_pidfd_exited(b->pidfd))
		return -ESRCH;
	if (ret)
		return ret;
	b->exec_seen = b->exec_pending;
	b->exec_pending = false;
	return 0;
}

static int procfs_peek(void *handle, uint64_t vaddr, uint8_t page[4096],
		       int (*authorize)(void *ctx), void *ctx)
{
	struct procfs_backend *b = handle;
	int pm_fd, mem_fd, ret;
	uint64_t pme;
	ssize_t n;

	if (vaddr & (SPT_PAGE_SIZE - 1) || vaddr < b->start || vaddr >= b->end)
		return -ERANGE;
	/*
	 * Bind the mm first (both files name the mm of the moment they are
	 * opened), then check the viewer against the credentials of now: an
	 * exec after the check leaves these fds on the old, dying mm, whose
	 * reads fail; one before it is what the check sees.
	 */
	pm_fd = open_in_proc(b, "pagemap");
	if (pm_fd < 0) /* a zombie's pagemap gives EACCES to non-root callers */
		return spt_pidfd_exited(b->pidfd) ? -ESRCH : pm_fd;
	mem_fd = open_in_proc(b, "mem");
	if (mem_fd < 0) {
		close(pm_fd);
		return spt_pidfd_exited(b->pidfd) ? -ESRCH : mem_fd;
	}
	ret = authorize(ctx);
	if (ret)
		goto out;
	/*
	 * Only resident pages: reading /proc/PID/mem elsewhere would fault
	 * pages in (or swap them in) and change what we are showing.
	 */
	ret = spt_pagemap_read_entry(pm_fd, vaddr, &pme);
	if (ret) {
		ret = spt_pidfd_exited(b->pidfd) ? -ESRCH : ret == -EAGAIN ? -ENXIO : ret;
		goto out;
	}
	if (!(pme & (1ull << 63))) {
		ret = -ENXIO;
		goto out;
	}
	do
		n = pread(mem_fd, page, 4096, (off_t)vaddr);
	while (n < 0 && errno == EINTR);
	ret = n == 4096 ? 0 : n < 0 ? -errno : -EIO;
	if (ret && spt_pidfd_exited(b->pidfd))
		ret = -ESRCH;
	else if (ret == -EIO && n < 0)
		ret = -EFAULT; /* access_remote_vm failed: unmapped meanwhile */
	/* Both fds must still name the mm that was checked. */
	if (!ret && !spt_pagemap_live(pm_fd))
		ret = -EAGAIN;
out:
	close(mem_fd);
	close(pm_fd);
	return ret;
}

static int procfs_events_start(void *handle, int epfd, char *desc, size_t desclen)
{
	struct procfs_backend *b = handle;
	int ret = spt_perf_open(b->pid, b->start, b->end, epfd, &b->perf, desc, desclen);

	if (ret == 0)
		spt_perf_describe(b->perf, desc, desclen);
	return ret;
}

static int procfs_events_drain(void *handle, struct spt_batch *batch)
{
	return spt_perf_drain(((struct procfs_backend *)handle)->perf, batch);
}

static int procfs_read_vmas(void *handle, uint64_t start, uint64_t end, struct spt_state *out)
{
	struct procfs_backend *b = handle;
	int ret = spt_maps_read_range(mm_dir(b), b->maps_fd, &b->query_unsupported, &b->maps,
				      start, end, b->start, b->end, out);

	/* A query on an mm that exec replaced fails: the reader reads all again. */
	return ret == -ESRCH && !spt_pidfd_exited(b->pidfd) ? -EAGAIN : ret;
}

static int procfs_read_pages(void *handle, const struct spt_state *vmas, uint64_t start,
			     uint64_t end, struct spt_state *out)
{
	struct procfs_backend *b = handle;
	bool huge = false;
	int ret;

	if (b->pagemap_fd < 0)
		return -EAGAIN;
	ret = spt_pagemap_fill_range(&b->pm, b->pagemap_fd, vmas, start, end, out, &huge);
	if (ret)
		return ret;
	return huge ? 1 : 0;
}

/* Is vaddr mapped by a PMD (a THP) right now? */
static bool procfs_is_huge(struct procfs_backend *b, uint64_t vaddr)
{
	struct page_region pr;
	struct pm_scan_arg arg = {
	    .size = sizeof(arg),
	    .start = vaddr,
	    .end = vaddr + SPT_PAGE_SIZE,
	    .vec = (uintptr_t)&pr,
	    .vec_len = 1,
	    .category_anyof_mask = PAGE_IS_PRESENT,
	    .return_mask = PAGE_IS_HUGE,
	};

	if (b->pagemap_fd < 0 || b->pm.scan_unsupported)
		return false;
	return ioctl(b->pagemap_fd, PAGEMAP_SCAN, &arg) == 1 && (pr.categories & PAGE_IS_HUGE);
}

static void procfs_fault_window(void *handle, const struct spt_vma *v, uint64_t vaddr,
				unsigned widen, uint64_t *start, uint64_t *end)
{
	struct procfs_backend *b = handle;
	uint64_t page = vaddr & ~(SPT_PAGE_SIZE - 1), size, fa;

	switch (v->kind) {
	case SPT_VMA_FILE:
	case SPT_VMA_SHARED_ANON:
		/*
		 * Fault-around maps the neighbours a read fault finds in the page
		 * cache; a large folio may be mapped whole. Wider on each ask.
		 */
		size = widen < 6 ? (uint64_t)SPT_PROCFS_FAULT_AROUND << widen : PMD_BYTES;
		if (size > PMD_BYTES)
			size = PMD_BYTES;
		*start = page & ~(size - 1);
		*end = *start + size;
		/*
		 * Its block starts at the VMA's start when that lies inside the
		 * aligned one, and is as long all the same (do_fault_around():
		 * from_pte clamped to the VMA, to_pte = from_pte + the size, within
		 * the page table): so it reaches into the next aligned block.
		 */
		fa = page & ~((uint64_t)SPT_PROCFS_FAULT_AROUND - 1);
		if (fa < v->start)
			fa = v->start;
		fa += SPT_PROCFS_FAULT_AROUND;
		if (fa > (page & ~(PMD_BYTES - 1)) + PMD_BYTES)
			fa = (page & ~(PMD_BYTES - 1)) + PMD_BYTES;
		if (fa > *end)
			*end = fa;
		break;
	case SPT_VMA_ANON:
		if (v->end - v->start >= PMD_BYTES && procfs_is_huge(b, page)) {
			*start = page & ~(PMD_BYTES - 1);
			*end = *start + PMD_BYTES;
			break;
		}
		/* fall through */
	default:
		*start = page;
		*end = page + SPT_PAGE_SIZE;
	}
}

static bool procfs_exec_seen(void *handle)
{
	return ((struct procfs_backend *)handle)->exec_seen;
}

const struct spt_pagemap_stats *spt_procfs_last_stats(void *handle)
{
	return &((struct procfs_backend *)handle)->pm.stats;
}

const struct spt_backend_ops spt_backend_procfs = {
	.name = "procfs",
	.id = SHADOWPT__BACKEND__BACKEND_PROCFS,
	.open = procfs_open_ops,
	.sample = procfs_sample,
	.peek = procfs_peek,
	.events_start = procfs_events_start,
	.events_drain = procfs_events_drain,
	.read_vmas = procfs_read_vmas,
	.read_pages = procfs_read_pages,
	.fault_window = procfs_fault_window,
	.exec_seen = procfs_exec_seen,
	.close = procfs_close,
};
