// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The kernel backend: the patched kernel keeps a shadow page table of the
 * window up to date; each sample reads it without tearing and pairs it
 * with /proc/PID/maps for VMA names. The kernel allows one table system
 * wide, so one session (all viewers of that window) holds it at a time.
 * Where the kernel has shadowpt_events(), the session is driven by the
 * table's own transition records: each names the page it changed and
 * why, so the reader re-reads that entry (and the VMAs, when the page's
 * allocated/anonymous state changed) and nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "../backend.h"
#include "../events.h"
#include "../procfs/maps-query.h"
#include "../procfs/maps.h"
#include "../procfs/mm-thread.h"
#include "../procfs/pagemap.h"
#include "kernel-events.h"
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
	int pidfd;
	int maps_fd; /* PROCMAP_QUERY for targeted VMA reads, -1 without */
	bool no_query;
	struct spt_kernel_events ev; /* ev.fd -1: no event ring */
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
		return -ERANGE;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	spt_state_init(&h->vmas);
	h->ev.fd = -1;
	h->pidfd = pidfd;
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
	h->maps_fd = openat(h->procdir, "maps", O_RDONLY | O_CLOEXEC);
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
		return -ERANGE;
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

	spt_kernel_events_close(&h->ev);
	spt_kernel_table_close(&h->table);
	if (h->maps_fd >= 0)
		close(h->maps_fd);
	close(h->procdir);
	spt_procfs_buf_free(&h->maps);
	spt_state_free(&h->vmas);
	free(h);
}

static int kernel_events_start(void *handle, int epfd, char *desc, size_t desclen)
{
	struct kernel_handle *h = handle;
	struct epoll_event e = {.events = EPOLLIN, .data.ptr = h};
	int ret = spt_kernel_events_probe(desc, desclen);

	if (ret)
		return ret;
	ret = spt_kernel_events_open(&h->ev, 0);
	if (ret) {
		snprintf(desc, desclen, "shadowpt_events: %s", strerror(-ret));
		return ret;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, spt_kernel_events_fd(&h->ev), &e) < 0) {
		ret = -errno;
		snprintf(desc, desclen, "epoll: %s", strerror(-ret));
		spt_kernel_events_close(&h->ev);
		return ret;
	}
	snprintf(desc, desclen, "every transition of the kernel table (event ring of %llu KiB)",
		 (unsigned long long)(h->ev.data_size / 1024));
	return 0;
}

/* The kernel's cause (SHADOWPT_CAUSE_*) as the protocol's. */
static uint8_t protocol_cause(unsigned int c)
{
	switch (c) {
	case SHADOWPT_CAUSE_READ_FAULT:
		return SHADOWPT__CAUSE__CAUSE_READ_FAULT;
	case SHADOWPT_CAUSE_WRITE_FAULT:
		return SHADOWPT__CAUSE__CAUSE_WRITE_FAULT;
	case SHADOWPT_CAUSE_COW:
		return SHADOWPT__CAUSE__CAUSE_COW;
	case SHADOWPT_CAUSE_SWAP_IN:
	case SHADOWPT_CAUSE_SWAPOFF:
		return SHADOWPT__CAUSE__CAUSE_SWAP_IN;
	case SHADOWPT_CAUSE_MMAP:
		return SHADOWPT__CAUSE__CAUSE_MMAP;
	case SHADOWPT_CAUSE_MUNMAP:
		return SHADOWPT__CAUSE__CAUSE_MUNMAP;
	case SHADOWPT_CAUSE_BRK:
		return SHADOWPT__CAUSE__CAUSE_BRK;
	case SHADOWPT_CAUSE_STACK:
		return SHADOWPT__CAUSE__CAUSE_STACK_GROWTH;
	case SHADOWPT_CAUSE_MREMAP:
		return SHADOWPT__CAUSE__CAUSE_MREMAP;
	case SHADOWPT_CAUSE_MADVISE:
		return SHADOWPT__CAUSE__CAUSE_MADVISE;
	case SHADOWPT_CAUSE_ZAP:
		return SHADOWPT__CAUSE__CAUSE_ZAP;
	case SHADOWPT_CAUSE_EXEC:
		return SHADOWPT__CAUSE__CAUSE_EXEC;
	case SHADOWPT_CAUSE_EXIT:
		return SHADOWPT__CAUSE__CAUSE_EXIT;
	case SHADOWPT_CAUSE_THP_COLLAPSE:
		return SHADOWPT__CAUSE__CAUSE_THP_COLLAPSE;
	case SHADOWPT_CAUSE_THP_SPLIT:
		return SHADOWPT__CAUSE__CAUSE_THP_SPLIT;
	case SHADOWPT_CAUSE_MIGRATION:
		return SHADOWPT__CAUSE__CAUSE_MIGRATION;
	case SHADOWPT_CAUSE_RECLAIM:
		return SHADOWPT__CAUSE__CAUSE_RECLAIM;
	case SHADOWPT_CAUSE_UFFD:
		return SHADOWPT__CAUSE__CAUSE_UFFD;
	case SHADOWPT_CAUSE_RESYNC:
		return SHADOWPT__CAUSE__CAUSE_RESYNC;
	default:
		return SHADOWPT__CAUSE__CAUSE_VMA_CHANGE; /* START, OTHER: some change */
	}
}

/*
 * One record into the batch: its page to re-read, merged with the range
 * before it when that ends here for the same reason (an munmap of 2048
 * pages is one range).
 */
static int add_record(const struct shadowpt_event *rec, void *arg)
{
	struct spt_batch *b = arg;
	struct spt_event ev = {.start = rec->vaddr & ~(uint64_t)(SPT_PAGE_SIZE - 1),
			       .time_ns = rec->time_ns,
			       .cause = protocol_cause(rec->cause)};
	struct spt_event *last = b->nev ? &b->ev[b->nev - 1] : NULL;

	if (rec->type == SHADOWPT_EVENT_LOST) {
		b->lost += rec->count;
		spt_batch_full(b, rec->time_ns, 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
		return 0;
	}
	if (rec->type != SHADOWPT_EVENT_TRANSITION)
		return 0; /* a record type of a newer kernel: the table stays the truth */
	if (rec->cause == SHADOWPT_CAUSE_EXEC) {
		spt_batch_full(b, rec->time_ns, 0, SHADOWPT__CAUSE__CAUSE_EXEC);
		return 0;
	}
	ev.end = ev.start + SPT_PAGE_SIZE;
	/* A page that came or went as allocated/anonymous: its VMA changed. */
	ev.vmas = ((rec->old_flags ^ rec->new_flags) &
		   (SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS)) != 0;
	if (last && last->end == ev.start && last->cause == ev.cause && last->vmas == ev.vmas &&
	    !last->fault) {
		last->end = ev.end;
		spt_batch_note(b, ev.time_ns, 0, ev.cause, ev.start);
		return 0;
	}
	return spt_batch_add(b, &ev);
}

static int kernel_events_drain(void *handle, struct spt_batch *b)
{
	struct kernel_handle *h = handle;
	long n = spt_kernel_events_drain(&h->ev, 0, add_record, b);

	return n < 0 ? (int)n : 0;
}

/*
 * A leader without an mm (exited before its threads) fails the query with
 * -ESRCH while the pidfd lives: -EAGAIN, and the reader's full read goes
 * through a thread (kernel_read_vmas).
 */
static int kernel_read_vmas_range(void *handle, uint64_t start, uint64_t end,
				  struct spt_state *out)
{
	struct kernel_handle *h = handle;
	int ret = spt_maps_read_range(h->procdir, h->maps_fd, &h->no_query, &h->maps, start, end,
				      h->table.start, h->table.end, out);

	return ret == -ESRCH && !spt_pidfd_exited(h->pidfd) ? -EAGAIN : ret;
}

static int kernel_read_pages(void *handle, const struct spt_state *vmas, uint64_t start,
			     uint64_t end, struct spt_state *out)
{
	struct kernel_handle *h = handle;
	size_t first, n;
	int ret;

	if (start < h->table.start)
		start = h->table.start;
	if (end > h->table.end)
		end = h->table.end;
	if (start >= end)
		return 0;
	first = (start - h->table.start) / SPT_PAGE_SIZE;
	n = (end - start) / SPT_PAGE_SIZE;
	ret = spt_kernel_table_read_range(&h->table, first, n);
	if (ret)
		return ret;
	return spt_kernel_state_pages(h->table.copy + first, n, start, vmas, out);
}

const struct spt_backend_ops spt_backend_kernel = {
	.name = "kernel",
	.id = SHADOWPT__BACKEND__BACKEND_KERNEL,
	.open = kernel_open,
	.sample = kernel_sample,
	.peek = kernel_peek,
	.events_start = kernel_events_start,
	.events_drain = kernel_events_drain,
	.read_vmas = kernel_read_vmas_range,
	.read_pages = kernel_read_pages,
	.close = kernel_close,
};
