/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Reader of the kernel's shadowpt event ring (shadowpt_events(), see
 * kernel/include/uapi/linux/shadowpt.h): open it for the caller's table,
 * map it, and drain the transition records in order with perf's
 * acquire/release protocol. Self-contained (libc only) so that the
 * kernel's own test tools link it too.
 *
 * Typical use, in an event loop:
 *
 *	spt_kernel_events_open(&ev, 64);        after shadowpt_open()
 *	seq = spt_kernel_events_table_seq(&ev); then read the table: the state
 *	                                        as of (at least) seq
 *	poll(spt_kernel_events_fd(&ev), POLLIN) ...
 *	spt_kernel_events_drain(&ev, fn, arg);  fn() gets every record in seq
 *	                                        order; skip rec->seq <= seq
 *	on SHADOWPT_EVENT_LOST (or a gap in seq): re-read the table as above.
 *
 * Not thread-safe: one reader per ring.
 */
#ifndef SHADOWPTD_KERNEL_EVENTS_H
#define SHADOWPTD_KERNEL_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "linux/shadowpt.h"

/* The patched kernel's marker for shadowpt_events() (ABI version 1). */
#define SPT_KERNEL_EVENTS_FILE "/sys/kernel/mm/shadowpt/events_version"
#define SPT_KERNEL_EVENTS_ABI_VERSION 1

/* Default ring: 64 data pages = 4096 records of 64 bytes (256 KiB). */
#define SPT_KERNEL_EVENTS_DEFAULT_PAGES 64

struct spt_kernel_events {
	int fd;					/* -1 when closed */
	void *map;				/* control page + ring */
	size_t map_len;
	volatile struct shadowpt_events_page *ctl;
	const unsigned char *data;
	uint64_t data_size;			/* bytes, a power of two */
	uint64_t tail;				/* next byte to read */
	uint64_t next_seq;			/* expected seq, 0: any */
	uint64_t records;			/* records delivered */
	uint64_t lost;				/* records reported lost */
	int owns_map;				/* munmap/close on close */
};

/*
 * 0 when the running kernel has shadowpt_events(), else -ENOSYS and a
 * reason in why. Never calls the syscall (468 is another call elsewhere).
 */
int spt_kernel_events_probe(char *why, size_t whylen);

/*
 * shadowpt_events() for the caller's table, then mmap() a ring of
 * data_pages pages (a power of two, 1..SHADOWPT_EVENTS_MAX_PAGES; 0 for
 * the default). The fd is close-on-exec and non-blocking. Returns 0 or
 * -errno: -EINVAL (no table, bad size), -EPERM (not the opener), -EBUSY
 * (the table already has an event file), -ENOSYS, -ENOMEM.
 */
int spt_kernel_events_open(struct spt_kernel_events *ev, unsigned int data_pages);

/*
 * Use an already mapped ring (control page at map; for tests and for
 * callers that mapped it themselves). fd may be -1. Checks the control
 * page; returns 0 or -EPROTO. The mapping and fd are not closed by
 * spt_kernel_events_close().
 */
int spt_kernel_events_attach(struct spt_kernel_events *ev, int fd, void *map,
			     size_t map_len);

/* The fd to poll (POLLIN: records pending, POLLHUP: table gone). */
static inline int spt_kernel_events_fd(const struct spt_kernel_events *ev)
{
	return ev->fd;
}

/* Sequence number of the last change applied to the table (acquire). */
uint64_t spt_kernel_events_table_seq(const struct spt_kernel_events *ev);

/* Records dropped by the kernel so far (the control page's counter). */
uint64_t spt_kernel_events_kernel_lost(const struct spt_kernel_events *ev);

/*
 * Called for each record, in ring (= seq) order, including
 * SHADOWPT_EVENT_LOST records. A nonzero return stops the drain after
 * this record (it counts as consumed) and is returned by the drain.
 */
typedef int (*spt_kernel_event_fn)(const struct shadowpt_event *rec, void *arg);

/*
 * Consume up to max records (0: all there are) and give their space back
 * to the kernel. Returns the number of records consumed, fn's nonzero
 * return value, or -EPROTO if the ring is corrupt (data_head moved
 * backwards, beyond the ring or off a record boundary: re-open it).
 * A gap in seq between two transitions (which a LOST record would have
 * covered) is reported to fn as a synthetic LOST record.
 */
long spt_kernel_events_drain(struct spt_kernel_events *ev, size_t max,
			     spt_kernel_event_fn fn, void *arg);

/* The same into an array: returns records stored (<= max) or -EPROTO. */
long spt_kernel_events_read(struct spt_kernel_events *ev,
			    struct shadowpt_event *out, size_t max);

/* Records waiting in the ring right now. */
size_t spt_kernel_events_pending(const struct spt_kernel_events *ev);

/* Unmaps and closes (what open() made). Never fails; idempotent. */
void spt_kernel_events_close(struct spt_kernel_events *ev);

/* "read-fault", "munmap", ... ("cause-N" for unknown values). */
const char *spt_kernel_event_cause_name(unsigned int cause);

#endif
