// SPDX-License-Identifier: GPL-2.0-or-later
/* Reader of the kernel's shadowpt event ring (see kernel-events.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "kernel-events.h"

#define REC_SIZE ((uint64_t)sizeof(struct shadowpt_event))

int spt_kernel_events_probe(char *why, size_t whylen)
{
	char buf[16] = "";
	ssize_t n;
	int fd;

	fd = open(SPT_KERNEL_EVENTS_FILE, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen, "kernel has no shadowpt events");
		return -ENOSYS;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0 || atoi(buf) != SPT_KERNEL_EVENTS_ABI_VERSION) {
		snprintf(why, whylen, "kernel shadowpt events version %s not supported",
			 n > 0 ? strtok(buf, "\n") : "?");
		return -ENOSYS;
	}
	if (whylen)
		why[0] = '\0';
	return 0;
}

static uint64_t load_acquire(volatile const __u64 *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void store_release(volatile __u64 *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

int spt_kernel_events_attach(struct spt_kernel_events *ev, int fd, void *map,
			     size_t map_len)
{
	volatile struct shadowpt_events_page *ctl = map;
	uint64_t size, off;

	memset(ev, 0, sizeof(*ev));
	ev->fd = fd;
	if (map_len < sizeof(*ctl))
		return -EPROTO;
	size = ctl->data_size;
	off = ctl->data_offset;
	if (ctl->version != SHADOWPT_EVENTS_VERSION || ctl->record_size != REC_SIZE ||
	    !size || (size & (size - 1)) || size % REC_SIZE || off < sizeof(*ctl) ||
	    off > map_len || size > map_len - off)
		return -EPROTO;
	ev->map = map;
	ev->map_len = map_len;
	ev->ctl = ctl;
	ev->data = (const unsigned char *)map + off;
	ev->data_size = size;
	/* Start where the kernel's consumer position is. */
	ev->tail = load_acquire(&ctl->data_tail);
	return 0;
}

int spt_kernel_events_open(struct spt_kernel_events *ev, unsigned int data_pages)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len;
	void *map;
	int fd, err;

	memset(ev, 0, sizeof(*ev));
	ev->fd = -1;
	if (!data_pages)
		data_pages = SPT_KERNEL_EVENTS_DEFAULT_PAGES;
	if (data_pages > SHADOWPT_EVENTS_MAX_PAGES || (data_pages & (data_pages - 1)))
		return -EINVAL;
#ifdef __NR_shadowpt_events
	fd = (int)syscall(__NR_shadowpt_events, SHADOWPT_EVENTS_CLOEXEC);
#else
	errno = ENOSYS;
	fd = -1;
#endif
	if (fd < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	len = (size_t)(data_pages + 1) * (size_t)page;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		close(fd);
		return err;
	}
	err = spt_kernel_events_attach(ev, fd, map, len);
	if (err) {
		munmap(map, len);
		close(fd);
		ev->fd = -1;
		return err;
	}
	ev->owns_map = 1;
	return 0;
}

uint64_t spt_kernel_events_table_seq(const struct spt_kernel_events *ev)
{
	return load_acquire(&ev->ctl->table_seq);
}

uint64_t spt_kernel_events_kernel_lost(const struct spt_kernel_events *ev)
{
	return load_acquire(&ev->ctl->lost);
}

size_t spt_kernel_events_pending(const struct spt_kernel_events *ev)
{
	uint64_t head = load_acquire(&ev->ctl->data_head);

	return head - ev->tail <= ev->data_size ? (head - ev->tail) / REC_SIZE : 0;
}

/* Hand one record to fn, reporting a seq gap first as a LOST record. */
static int deliver(struct spt_kernel_events *ev, const struct shadowpt_event *rec,
		   spt_kernel_event_fn fn, void *arg)
{
	int r;

	if (rec->type == SHADOWPT_EVENT_LOST) {
		ev->lost += rec->count;
		if (rec->count)
			ev->next_seq = rec->seq + rec->count;
	} else {
		if (ev->next_seq && rec->seq > ev->next_seq) {
			struct shadowpt_event gap = {
				.seq = ev->next_seq,
				.time_ns = rec->time_ns,
				.count = rec->seq - ev->next_seq,
				.type = SHADOWPT_EVENT_LOST,
			};

			ev->lost += gap.count;
			/* The record is consumed: deliver it in any case. */
			r = fn(&gap, arg);
			ev->next_seq = rec->seq + 1;
			ev->records++;
			return fn(rec, arg) ?: r;
		}
		ev->next_seq = rec->seq + 1;
	}
	ev->records++;
	return fn(rec, arg);
}

long spt_kernel_events_drain(struct spt_kernel_events *ev, size_t max,
			     spt_kernel_event_fn fn, void *arg)
{
	uint64_t head = load_acquire(&ev->ctl->data_head);
	long n = 0;
	int r = 0;

	if (head - ev->tail > ev->data_size || (head - ev->tail) % REC_SIZE)
		return -EPROTO;
	while (ev->tail != head && (!max || (size_t)n < max)) {
		struct shadowpt_event rec;

		/* Copy out first: the slot is the kernel's again after the store. */
		memcpy(&rec, ev->data + (ev->tail & (ev->data_size - 1)), sizeof(rec));
		ev->tail += REC_SIZE;
		n++;
		r = deliver(ev, &rec, fn, arg);
		if (r)
			break;
	}
	/* Pairs with the kernel's smp_load_acquire() of data_tail. */
	store_release(&ev->ctl->data_tail, ev->tail);
	return r ? r : n;
}

struct read_ctx {
	struct shadowpt_event *out;
	size_t n, max;
};

static int read_one(const struct shadowpt_event *rec, void *arg)
{
	struct read_ctx *c = arg;

	c->out[c->n++] = *rec;
	/* Go on only with room for a synthetic LOST and the next record. */
	return c->max - c->n < 2;
}

long spt_kernel_events_read(struct spt_kernel_events *ev,
			    struct shadowpt_event *out, size_t max)
{
	struct read_ctx c = { out, 0, max };
	long r;

	if (max < 2)
		return -EINVAL;
	r = spt_kernel_events_drain(ev, 0, read_one, &c);
	return r < 0 ? r : (long)c.n;
}

void spt_kernel_events_close(struct spt_kernel_events *ev)
{
	if (ev->owns_map) {
		if (ev->map)
			munmap(ev->map, ev->map_len);
		if (ev->fd >= 0)
			close(ev->fd);
	}
	memset(ev, 0, sizeof(*ev));
	ev->fd = -1;
}

const char *spt_kernel_event_cause_name(unsigned int cause)
{
	static const char *const names[] = {
		[SHADOWPT_CAUSE_OTHER] = "other",
		[SHADOWPT_CAUSE_START] = "start",
		[SHADOWPT_CAUSE_READ_FAULT] = "read-fault",
		[SHADOWPT_CAUSE_WRITE_FAULT] = "write-fault",
		[SHADOWPT_CAUSE_COW] = "cow",
		[SHADOWPT_CAUSE_SWAP_IN] = "swap-in",
		[SHADOWPT_CAUSE_MMAP] = "mmap",
		[SHADOWPT_CAUSE_MUNMAP] = "munmap",
		[SHADOWPT_CAUSE_BRK] = "brk",
		[SHADOWPT_CAUSE_STACK] = "stack",
		[SHADOWPT_CAUSE_MREMAP] = "mremap",
		[SHADOWPT_CAUSE_MADVISE] = "madvise",
		[SHADOWPT_CAUSE_ZAP] = "zap",
		[SHADOWPT_CAUSE_EXEC] = "exec",
		[SHADOWPT_CAUSE_EXIT] = "exit",
		[SHADOWPT_CAUSE_THP_COLLAPSE] = "thp-collapse",
		[SHADOWPT_CAUSE_THP_SPLIT] = "thp-split",
		[SHADOWPT_CAUSE_MIGRATION] = "migration",
		[SHADOWPT_CAUSE_RECLAIM] = "reclaim",
		[SHADOWPT_CAUSE_SWAPOFF] = "swapoff",
		[SHADOWPT_CAUSE_UFFD] = "userfaultfd",
		[SHADOWPT_CAUSE_RESYNC] = "resync",
	};

	if (cause < sizeof(names) / sizeof(names[0]) && names[cause])
		return names[cause];
	return "unknown";
}
