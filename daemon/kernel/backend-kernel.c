// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel backend: the patched kernel keeps a shadow page table of the
 * window up to date; each sample reads it without tearing and pairs it
 * with /proc/PID/maps for VMA names. The kernel allows one table system
 * wide, so one session (all viewers of that window) holds it at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../backend.h"
#include "../procfs/maps.h"
#include "../procfs/mm-thread.h"
#include "../procfs/pagemap.h"
#include "kernel-state.h"
#include "kernel-table.h"
#include "wire.h"

/* Re-reads of maps + table before a sample is declared failed (-EAGAIN). */
#define KERNEL_SAMPLE_TRIES 4

struct kernel_handle {
	struct spt_kernel_table table;
	int procdir; /* /proc/PID, opened once: pid reuse cannot redirect it */
	struct spt_procfs_buf maps;
	struct spt_state vmas;
};

static int kernel_open(pid_t pid, int pidfd, uint64_t start, uint64_t end, void **handle,
		       char *why, size_t whylen)
{
	struct kernel_handle *h;
	char path[32];
	int ret;

	if (end - start > MAX_SPT_RANGE) {
		snprintf(why, whylen, "range larger than the kernel table (%u KiB)",
			 MAX_SPT_RANGE / 1024);
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	spt_state_init(&h->vmas);
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	h->procdir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* The pidfd names the verified process: still alive means same pid. */
	if (h->procdir < 0 || spt_pidfd_exited(pidfd)) {
		snprintf(why, whylen, "target process is gone");
		ret = -ESRCH;
		goto fail;
	}
	ret = spt_kernel_table_open(&h->table, pid, start, end);
	if (ret) {
		if (ret == -EBUSY)
			snprintf(why, whylen, "kernel table in use by another watch");
		else
			snprintf(why, whylen, "kernel refused the table: %s", strerror(-ret));
		if (ret == -EBUSY)
			ret = -ENOSPC;
		goto fail;
	}
	*handle = h;
	return 0;
fail:
	if (h->procdir >= 0)
		close(h->procdir);
	free(h);
	return ret;
}

/*
 * The VMAs of the window into h->vmas. A leader that exited before its
 * threads has empty maps while the table still follows the mm: read them
 * through a thread that has it, or the table's pages would lie outside
 * every VMA and each read fail until the last thread exits.
 */
static int kernel_read_vmas(struct kernel_handle *h)
{
	size_t lines = 0;
	int tfd, ret;

	ret = spt_maps_read(h->procdir, h->table.start, h->table.end, &h->maps, &h->vmas, &lines);
	if (ret || lines)
		return ret;
	tfd = spt_procfs_mm_thread_dir(h->procdir);
	if (tfd < 0)
		return 0; /* no mm at all: the process exited, and its pidfd ends the session */
	spt_state_clear(&h->vmas);
	ret = spt_maps_read(tfd, h->table.start, h->table.end, &h->maps, &h->vmas, NULL);
	close(tfd);
	return ret;
}

/* /proc/PID/pagemap, or a thread's when the leader has no mm any more. */
static int kernel_open_pagemap(struct kernel_handle *h)
{
	int fd = openat(h->procdir, "pagemap", O_RDONLY | O_CLOEXEC), tfd;

	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ESRCH)
		return -ESRCH;
	tfd = spt_procfs_mm_thread_dir(h->procdir);
	if (tfd < 0)
		return -EACCES;
	fd = openat(tfd, "pagemap", O_RDONLY | O_CLOEXEC);
	close(tfd);
	return fd >= 0 ? fd : errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
}

static int kernel_sample(void *handle, struct spt_state *out)
{
	struct kernel_handle *h = handle;
	int ret = -EAGAIN;

	for (int i = 0; i < KERNEL_SAMPLE_TRIES && ret == -EAGAIN; i++) {
		spt_state_clear(&h->vmas);
		spt_state_clear(out);
		ret = kernel_read_vmas(h);
		if (!ret)
			ret = spt_kernel_table_read(&h->table);
		if (!ret)
			ret = spt_kernel_state_build(h->table.copy, h->table.npages,
						     h->table.start, &h->vmas, out);
	}
	return ret;
}

static int kernel_peek(void *handle, uint64_t vaddr, uint8_t page[4096],
		       int (*authorize)(void *ctx), void *ctx)
{
	struct kernel_handle *h = handle;
	const struct shadow_pte *e;
	int mm_fd, ret;

	if (vaddr < h->table.start || vaddr >= h->table.end)
		return -EINVAL;
	/*
	 * The kernel reads the page of whatever mm the table tracks now. A
	 * pagemap fd binds the mm of this moment: if it still reads after the
	 * copy, no exec happened between the credential check and the copy.
	 */
	mm_fd = kernel_open_pagemap(h);
	if (mm_fd < 0)
		return mm_fd;
	ret = authorize(ctx);
	if (!ret)
		ret = spt_kernel_table_read(&h->table);
	if (!ret) {
		e = &h->table.copy[(vaddr - h->table.start) / 4096];
		ret = is_pte_mapped(e->state_flags) ? spt_kernel_table_page(e->pfn, page) : -ENXIO;
		/* Unmapped between our read and the call: the kernel says EINVAL. */
		if (ret == -EINVAL)
			ret = -ENXIO;
	}
	if (!ret && !spt_pagemap_live(mm_fd))
		ret = -EAGAIN;
	close(mm_fd);
	return ret;
}

static void kernel_close(void *handle)
{
	struct kernel_handle *h = handle;

	spt_kernel_table_close(&h->table);
	close(h->procdir);
	spt_procfs_buf_free(&h->maps);
	spt_state_free(&h->vmas);
	free(h);
}

const struct spt_backend_ops spt_backend_kernel = {
	.name = "kernel",
	.id = SHADOWPT__BACKEND__BACKEND_KERNEL,
	.open = kernel_open,
	.sample = kernel_sample,
	.peek = kernel_peek,
	.close = kernel_close,
};
