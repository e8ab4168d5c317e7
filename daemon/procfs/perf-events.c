// SPDX-License-Identifier: GPL-2.0-or-later
/* Page faults and mm syscalls of a target, from perf rings (perf-events.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../clock.h"
#include "perf-events.h"
#include "tracefs.h"
#include "wire.h" /* SPT_PAGE_SIZE, SPT_USER_ADDR_MAX */

#ifndef CLONE_VM
#define CLONE_VM 0x00000100
#endif
#ifndef CLONE_THREAD
#define CLONE_THREAD 0x00010000
#endif
#ifndef CLONE_VFORK
#define CLONE_VFORK 0x00004000
#endif
#define PR_SET_VMA_OPTION	 0x53564d41 /* prctl(PR_SET_VMA, ...): names anon VMAs */
#define SPT_MADV_DONTNEED_LOCKED 24	    /* Linux 5.18, newer than Debian 12's headers */

/* x86 page-fault error code bits (arch/x86/include/asm/trap_pf.h). */
#define X86_PF_PROT  (1ul << 0)
#define X86_PF_WRITE (1ul << 1)

enum { EV_FAULT_USER, EV_FAULT_KERNEL, EV_SYS_ENTER, EV_SYS_EXIT, EV_NEW_TASK, EV_COUNT };

struct perf_ring {
	pid_t tid;    /* the thread it was opened on */
	int owner_fd; /* SW_DUMMY event owning the mmap */
	/*
	 * Inherited tracepoint events, output redirected here, in two sets of
	 * which one is enabled: fds wake the reader at every sample (quiet
	 * target: latency), batch_fds only every SPT_PERF_BATCH_BYTES (a
	 * burst: a wakeup per sample would cost the target more than the
	 * fault itself).
	 */
	int fds[EV_COUNT];
	int batch_fds[EV_COUNT];
	/*
	 * PERF_COUNT_SW_PAGE_FAULTS_MAJ, counted as a fault ends: a fault that
	 * had to wait (I/O, a locked page, userfaultfd) says when it is done.
	 * Those are rare and slow, so it wakes the reader at every sample.
	 */
	int done_fd;
	void *base;
	size_t len;
	struct perf_event_mmap_page *meta;
	const uint8_t *data;
	uint64_t mask; /* data size - 1 */
	bool gone;     /* thread and children gone, or duplicate: drain, then close */
	bool budgeted; /* holds one of the daemon's rings (spt_perf_set_ring_budget) */
	pid_t foreign; /* last tid of an inherited thread seen here */
};

/* A syscall whose exit we wait for: its number and arguments from enter. */
struct pending_sys {
	int32_t tid;
	long nr;
	uint64_t args[6];
};

struct spt_perf {
	pid_t pid;
	int epfd;	/* ours, holding every ring's readiness fd (data.u64 = tid) */
	int outer_epfd; /* the reader's, holding epfd */
	const struct spt_tracefs *tf;
	uint64_t fault_lo, fault_hi; /* the faults sampled: the window and its slack */
	bool inherit_thread; /* kernel has attr.inherit_thread (5.13+) */
	struct perf_ring *rings;
	size_t nrings, rings_cap;
	struct pending_sys *sys;
	size_t nsys, sys_cap;
	uint8_t *scratch; /* a record that wraps the ring end */
	uint64_t samples, lost;
	bool burst;		 /* batch_fds enabled */
	uint64_t last_sample_ns; /* of the last drain that found samples */
};

/* The syscalls that change a process's VMAs or pages, by what they do. */
static const long watched_syscalls[] = {
    SYS_mmap,
    SYS_munmap,
    SYS_mremap,
    SYS_brk,
    SYS_madvise,
    SYS_mprotect,
    SYS_pkey_mprotect,
    SYS_mlock,
    SYS_mlock2,
    SYS_munlock,
    SYS_mlockall,
    SYS_munlockall,
    SYS_remap_file_pages,
    SYS_shmat,
    SYS_shmdt,
    SYS_mbind,
    SYS_migrate_pages,
    SYS_move_pages,
    SYS_execve,
    SYS_execveat,
    SYS_clone,
    SYS_clone3,
    SYS_fork,
    SYS_vfork,
    SYS_prctl,
    SYS_process_madvise,
    /* Credentials: who may watch it may change (see spt_batch.creds). */
    SYS_setuid,
    SYS_setgid,
    SYS_setreuid,
    SYS_setregid,
    SYS_setresuid,
    SYS_setresgid,
    SYS_setfsuid,
    SYS_setfsgid,
    SYS_capset,
#ifdef SYS_mseal
    SYS_mseal,
#endif
};

static long perf_event_open(struct perf_event_attr *a, pid_t pid, int cpu, int group,
			    unsigned long flags)
{
	return syscall(SYS_perf_event_open, a, pid, cpu, group, flags);
}

static void attr_init(struct perf_event_attr *a, uint32_t type, uint64_t config)
{
	memset(a, 0, sizeof(*a));
	a->size = sizeof(*a);
	a->type = type;
	a->config = config;
	a->use_clockid = 1;
	a->clockid = CLOCK_MONOTONIC;
	a->sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
	a->disabled = 0;
}

/* Rings of all sessions together, taken and given back from any reader thread. */
static unsigned ring_budget = SPT_MAX_PERF_RINGS, rings_held;

void spt_perf_set_ring_budget(unsigned rings)
{
	__atomic_store_n(&ring_budget, rings, __ATOMIC_RELAXED);
}

unsigned spt_perf_rings_held(void)
{
	return __atomic_load_n(&rings_held, __ATOMIC_RELAXED);
}

static bool ring_budget_take(void)
{
	unsigned held = __atomic_load_n(&rings_held, __ATOMIC_RELAXED);

	do {
		if (held >= __atomic_load_n(&ring_budget, __ATOMIC_RELAXED))
			return false;
	} while (!__atomic_compare_exchange_n(&rings_held, &held, held + 1, true, __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

static void ring_close(struct spt_perf *p, struct perf_ring *r)
{
	for (int i = 0; i < EV_COUNT; i++) {
		if (r->fds[i] >= 0) {
			if (i == EV_FAULT_USER)
				epoll_ctl(p->epfd, EPOLL_CTL_DEL, r->fds[i], NULL);
			close(r->fds[i]);
		}
		if (r->batch_fds[i] >= 0)
			close(r->batch_fds[i]);
	}
	if (r->done_fd >= 0)
		close(r->done_fd);
	if (r->base)
		munmap(r->base, r->len);
	if (r->owner_fd >= 0)
		close(r->owner_fd);
	if (r->budgeted)
		__atomic_fetch_sub(&rings_held, 1, __ATOMIC_RELAXED);
	r->budgeted = false;
}

static int filter_string(char *buf, size_t len)
{
	size_t off = 0;

	for (size_t i = 0; i < sizeof(watched_syscalls) / sizeof(watched_syscalls[0]); i++) {
		int n = snprintf(buf + off, len - off, "%sid == %ld", i ? " || " : "",
				 watched_syscalls[i]);

		if (n < 0 || (size_t)n >= len - off)
			return -ENOSPC;
		off += (size_t)n;
	}
	return 0;
}

/* Opens one ring on tid; -errno (with why) if any part fails. */
static int ring_open(struct spt_perf *p, pid_t tid, struct perf_ring *r, char *why, size_t whylen)
{
	const struct spt_tracepoint *tps[EV_COUNT] = {&p->tf->fault_user, &p->tf->fault_kernel,
						      &p->tf->sys_enter, &p->tf->sys_exit,
						      &p->tf->new_task};
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct perf_event_attr a;
	char filter[1024];
	int ret;

	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->owner_fd = r->done_fd = -1;
	for (int i = 0; i < EV_COUNT; i++)
		r->fds[i] = r->batch_fds[i] = -1;

	_Static_assert(SPT_PERF_FDS_PER_RING == 2 + 2 * EV_COUNT, "fds of one ring");
	r->budgeted = ring_budget_take();
	if (!r->budgeted) {
		ret = -E2BIG;
		snprintf(why, whylen, "the daemon's %u perf rings are all in use",
			 __atomic_load_n(&ring_budget, __ATOMIC_RELAXED));
		goto fail;
	}
	attr_init(&a, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_DUMMY);
	r->owner_fd = (int)perf_event_open(&a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (r->owner_fd < 0) {
		ret = -errno;
		snprintf(why, whylen, "perf_event_open(thread %d): %s", (int)tid, strerror(errno));
		goto fail;
	}
	r->len = (1 + SPT_PERF_RING_PAGES) * page;
	r->base = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, r->owner_fd, 0);
	if (r->base == MAP_FAILED) {
		ret = -errno;
		r->base = NULL;
		snprintf(why, whylen, "perf ring of %zu KiB: %s%s", r->len / 1024, strerror(errno),
			 errno == EPERM ? " (RLIMIT_MEMLOCK too low?)" : "");
		goto fail;
	}
	r->meta = r->base;
	r->data = (const uint8_t *)r->base + page;
	r->mask = SPT_PERF_RING_PAGES * page - 1;

	for (int set = 0; set < 2; set++) {
		int *fds = set ? r->batch_fds : r->fds;

		for (int i = 0; i < EV_COUNT; i++) {
			if (tps[i]->id < 0)
				continue; /* the optional one */
			attr_init(&a, PERF_TYPE_TRACEPOINT, (uint64_t)tps[i]->id);
			a.sample_type |= PERF_SAMPLE_RAW;
			a.sample_period = 1;
			a.inherit = 1;
			a.inherit_thread = p->inherit_thread;
			if (set) {
				a.watermark = 1;
				a.wakeup_watermark = SPT_PERF_BATCH_BYTES;
			} else {
				a.wakeup_events = 1;
			}
			a.disabled = p->burst ? set == 0 : set == 1;
			fds[i] = (int)perf_event_open(&a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
			if (fds[i] < 0 && errno == EINVAL && p->inherit_thread) {
				/* Before 5.13: forked children are filtered by pid instead. */
				p->inherit_thread = false;
				a.inherit_thread = 0;
				fds[i] =
				    (int)perf_event_open(&a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
			}
			if (fds[i] < 0) {
				ret = -errno;
				snprintf(why, whylen,
					 "perf_event_open(tracepoint %lld, thread %d): %s",
					 (long long)tps[i]->id, (int)tid, strerror(errno));
				goto fail;
			}
			if (ioctl(fds[i], PERF_EVENT_IOC_SET_OUTPUT, r->owner_fd) < 0) {
				ret = -errno;
				snprintf(why, whylen, "PERF_EVENT_IOC_SET_OUTPUT: %s",
					 strerror(errno));
				goto fail;
			}
		}
	}
	/* Optional: without it, a slow fault is found by the reader's retries. */
	attr_init(&a, PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ);
	a.sample_type |= PERF_SAMPLE_ADDR;
	a.sample_period = 1;
	a.inherit = 1;
	a.inherit_thread = p->inherit_thread;
	a.wakeup_events = 1;
	r->done_fd = (int)perf_event_open(&a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (r->done_fd >= 0 && ioctl(r->done_fd, PERF_EVENT_IOC_SET_OUTPUT, r->owner_fd) < 0) {
		close(r->done_fd);
		r->done_fd = -1;
	}
	/* Only faults that can change the window (never a kernel address). */
	for (int set = 0; set < 2; set++) {
		int *fds = set ? r->batch_fds : r->fds;

		snprintf(filter, sizeof(filter), "address >= %llu && address < %llu",
			 (unsigned long long)p->fault_lo, (unsigned long long)p->fault_hi);
		if (ioctl(fds[EV_FAULT_USER], PERF_EVENT_IOC_SET_FILTER, filter) < 0 ||
		    ioctl(fds[EV_FAULT_KERNEL], PERF_EVENT_IOC_SET_FILTER, filter) < 0 ||
		    filter_string(filter, sizeof(filter)) < 0 ||
		    ioctl(fds[EV_SYS_ENTER], PERF_EVENT_IOC_SET_FILTER, filter) < 0 ||
		    ioctl(fds[EV_SYS_EXIT], PERF_EVENT_IOC_SET_FILTER, filter) < 0) {
			ret = -errno;
			snprintf(why, whylen, "tracepoint filter: %s", strerror(errno));
			goto fail;
		}
	}
	/*
	 * Readiness from an inherited event: the ring wakes every event
	 * attached to it, and this fd reports HUP only once the thread and
	 * every thread it created are gone (the owner's fd would say HUP as
	 * soon as the thread itself exits, while its children still write).
	 */
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)tid};

		if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, r->fds[EV_FAULT_USER], &ev) < 0) {
			ret = -errno;
			snprintf(why, whylen, "epoll_ctl: %s", strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	ring_close(p, r);
	r->fds[EV_FAULT_USER] = -1; /* not registered */
	return ret;
}

static struct perf_ring *ring_of_tid(struct spt_perf *p, pid_t tid)
{
	for (size_t i = 0; i < p->nrings; i++)
		if (p->rings[i].tid == tid)
			return &p->rings[i];
	return NULL;
}

/*
 * Attaches every thread of the target that has no ring yet. Returns how
 * many it attached, or -errno. ESRCH on a thread that just exited is not
 * an error.
 */
static int attach_threads(struct spt_perf *p, char *why, size_t whylen)
{
	char path[64];
	struct dirent *de;
	int added = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)p->pid);
	d = opendir(path);
	if (!d) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? -ESRCH : -errno;
	}
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)strtol(de->d_name, NULL, 10);
		int ret;

		if (tid <= 0 || ring_of_tid(p, tid))
			continue;
		if (p->nrings >= SPT_PERF_MAX_RINGS_PER_SESSION) {
			closedir(d);
			snprintf(why, whylen, "more than %u threads", SPT_PERF_MAX_RINGS_PER_SESSION);
			return -E2BIG;
		}
		if (p->nrings == p->rings_cap) {
			size_t ncap = p->rings_cap ? p->rings_cap * 2 : 8;
			void *n = realloc(p->rings, ncap * sizeof(*p->rings));

			if (!n) {
				closedir(d);
				return -ENOMEM;
			}
			p->rings = n;
			p->rings_cap = ncap;
		}
		ret = ring_open(p, tid, &p->rings[p->nrings], why, whylen);
		if (ret == -ESRCH)
			continue; /* that thread exited meanwhile */
		if (ret < 0) {
			closedir(d);
			return ret;
		}
		p->nrings++;
		added++;
	}
	closedir(d);
	return added;
}

int spt_perf_open(pid_t pid, uint64_t start, uint64_t end, int epfd, struct spt_perf **out,
		  char *why, size_t whylen)
{
	struct spt_perf *p;
	int ret = 0;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->pid = pid;
	p->fault_lo = start & ~(SPT_PERF_FAULT_SLACK - 1);
	p->fault_hi = end < SPT_USER_ADDR_MAX - SPT_PERF_FAULT_SLACK
			  ? (end + SPT_PERF_FAULT_SLACK - 1) & ~(SPT_PERF_FAULT_SLACK - 1)
			  : SPT_USER_ADDR_MAX;
	p->outer_epfd = epfd;
	p->inherit_thread = true;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0) {
		ret = -errno;
		free(p);
		return ret;
	}
	p->tf = spt_tracefs_probe();
	if (p->tf->fault_user.id < 0 || p->tf->fault_kernel.id < 0 || p->tf->sys_enter.id < 0 ||
	    p->tf->sys_exit.id < 0) {
		snprintf(why, whylen, "%s", p->tf->why[0] ? p->tf->why : "tracepoints unavailable");
		spt_perf_close(p);
		return -ENOENT;
	}
	p->scratch = malloc(SPT_PERF_RING_PAGES * (size_t)sysconf(_SC_PAGESIZE));
	if (!p->scratch) {
		spt_perf_close(p);
		return -ENOMEM;
	}
	/*
	 * A thread created between reading /proc/PID/task and attaching its
	 * creator is in neither: list again until a pass finds nobody new.
	 */
	for (int pass = 0; pass < 16; pass++) {
		ret = attach_threads(p, why, whylen);
		if (ret <= 0)
			break;
	}
	if (ret < 0 || !p->nrings) {
		if (!ret) {
			ret = -ESRCH;
			snprintf(why, whylen, "process %d has no threads", (int)pid);
		}
		spt_perf_close(p);
		return ret;
	}
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = p};

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, p->epfd, &ev) < 0) {
			ret = -errno;
			snprintf(why, whylen, "epoll_ctl: %s", strerror(errno));
			spt_perf_close(p);
			return ret;
		}
	}
	*out = p;
	return 0;
}

static struct pending_sys *pending_find(struct spt_perf *p, int32_t tid)
{
	for (size_t i = 0; i < p->nsys; i++)
		if (p->sys[i].tid == tid)
			return &p->sys[i];
	return NULL;
}

static void on_sys_enter(struct spt_perf *p, int32_t tid, long nr, const uint64_t args[6])
{
	struct pending_sys *ps = pending_find(p, tid);

	if (!ps) {
		if (p->nsys == p->sys_cap) {
			size_t ncap = p->sys_cap ? p->sys_cap * 2 : 16;
			void *n = realloc(p->sys, ncap * sizeof(*p->sys));

			if (!n)
				return; /* the exit then re-reads all VMAs */
			p->sys = n;
			p->sys_cap = ncap;
		}
		ps = &p->sys[p->nsys++];
	}
	ps->tid = tid;
	ps->nr = nr;
	memcpy(ps->args, args, sizeof(ps->args));
}

static uint64_t page_down(uint64_t a)
{
	return a & ~(SPT_PAGE_SIZE - 1);
}

static uint64_t page_up(uint64_t a)
{
	return a > SPT_USER_ADDR_MAX ? SPT_USER_ADDR_MAX
				     : (a + SPT_PAGE_SIZE - 1) & ~(SPT_PAGE_SIZE - 1);
}

static int add_range(struct spt_batch *b, uint64_t a, uint64_t len, uint64_t t, int32_t tid,
		     uint8_t cause)
{
	struct spt_event ev = {
	    .time_ns = t,
	    .tid = tid,
	    .cause = cause,
	    .vmas = true,
	};

	if (a >= SPT_USER_ADDR_MAX || !len)
		return 0;
	ev.start = page_down(a);
	ev.end = len > SPT_USER_ADDR_MAX - a ? SPT_USER_ADDR_MAX : page_up(a + len);
	return spt_batch_add(b, &ev);
}

/*
 * Did this clone make a process that shares our pages copy-on-write? A
 * new thread (CLONE_THREAD: inheritance follows it) or a CLONE_VM child
 * changes nothing. Without the task_newtask tracepoint, clone3's flags
 * (in the target's memory, not read from here) are guessed: a thread is
 * told by its /proc/PID/task entry (a thread gone already is taken for a
 * fork, which costs only a full read).
 */
static bool is_fork(const struct spt_perf *p, long nr, const uint64_t *a, pid_t child)
{
	char path[64];

	if (nr == SYS_vfork)
		return false;
	if (nr == SYS_clone)
		return !(a[0] & CLONE_VM);
	if (nr == SYS_fork)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)p->pid, (int)child);
	return access(path, F_OK) != 0;
}

/* A watched syscall returned: what it may have changed. */
static int on_sys_exit(struct spt_perf *p, struct spt_batch *b, int32_t tid, long nr, long ret,
		       uint64_t t)
{
	struct pending_sys *ps = pending_find(p, tid);
	const uint64_t *a;
	int r = 0;

	if (!ps || ps->nr != nr) {
		/* Entered before we attached: the range is unknown. */
		if (ret < 0 && ret > -4096)
			return 0;
		b->all_vmas = true;
		spt_batch_note(b, t, tid, SHADOWPT__CAUSE__CAUSE_VMA_CHANGE, 0);
		return 0;
	}
	a = ps->args;
	*ps = p->sys[--p->nsys];
	if (ret < 0 && ret > -4096 && nr != SYS_munmap && nr != SYS_mremap)
		return 0; /* failed: nothing changed (a failed move may have moved back) */

	switch (nr) {
	case SYS_mmap:
		r = add_range(b, (uint64_t)ret, a[1], t, tid, SHADOWPT__CAUSE__CAUSE_MMAP);
		break;
	case SYS_munmap:
		r = add_range(b, a[0], a[1], t, tid, SHADOWPT__CAUSE__CAUSE_MUNMAP);
		break;
	case SYS_mremap:
		r = add_range(b, a[0], a[1], t, tid, SHADOWPT__CAUSE__CAUSE_MREMAP);
		if (!r && !(ret < 0 && ret > -4096))
			r = add_range(b, (uint64_t)ret, a[2], t, tid,
				      SHADOWPT__CAUSE__CAUSE_MREMAP);
		break;
	case SYS_brk:
		/* The old break is not in the arguments: the heap VMA is found by the reader. */
		b->all_vmas = true;
		spt_batch_note(b, t, tid, SHADOWPT__CAUSE__CAUSE_BRK, (uint64_t)ret);
		break;
	case SYS_madvise:
		r = add_range(b, a[0], a[1], t, tid, SHADOWPT__CAUSE__CAUSE_MADVISE);
		/* These empty the range's page tables, whatever comes after. */
		if (!r && (a[2] == MADV_DONTNEED || a[2] == MADV_REMOVE ||
			   a[2] == SPT_MADV_DONTNEED_LOCKED))
			b->ev[b->nev - 1].zap = true;
		break;
	case SYS_mprotect:
	case SYS_pkey_mprotect:
		r = add_range(b, a[0], a[1], t, tid, SHADOWPT__CAUSE__CAUSE_MPROTECT);
		break;
	case SYS_mlock:
	case SYS_mlock2:
	case SYS_munlock:
	case SYS_remap_file_pages:
#ifdef SYS_mseal
	case SYS_mseal:
#endif
		r = add_range(b, a[0], a[1], t, tid, SHADOWPT__CAUSE__CAUSE_VMA_CHANGE);
		break;
	case SYS_mbind:
		r = add_range(b, a[0], a[1], t, tid, SHADOWPT__CAUSE__CAUSE_MIGRATION);
		break;
	case SYS_shmat:
		/* The segment's size is not an argument: one page finds its VMA. */
		r = add_range(b, (uint64_t)ret, SPT_PAGE_SIZE, t, tid, SHADOWPT__CAUSE__CAUSE_MMAP);
		break;
	case SYS_shmdt:
		r = add_range(b, a[0], SPT_PAGE_SIZE, t, tid, SHADOWPT__CAUSE__CAUSE_MUNMAP);
		break;
	case SYS_prctl:
		if (a[0] == PR_SET_VMA_OPTION)
			r = add_range(b, a[2], a[3], t, tid, SHADOWPT__CAUSE__CAUSE_VMA_CHANGE);
		else
			b->creds = true; /* PR_SET_DUMPABLE, among others */
		break;
	case SYS_setuid:
	case SYS_setgid:
	case SYS_setreuid:
	case SYS_setregid:
	case SYS_setresuid:
	case SYS_setresgid:
	case SYS_setfsuid:
	case SYS_setfsgid:
	case SYS_capset:
		b->creds = true;
		break;
	case SYS_execve:
	case SYS_execveat:
		b->creds = true; /* a setuid program */
		spt_batch_full(b, t, tid, SHADOWPT__CAUSE__CAUSE_EXEC);
		break;
	case SYS_clone:
	case SYS_clone3:
	case SYS_fork:
	case SYS_vfork:
		/* With task_newtask, its clone_flags say (on_new_task). */
		if (ret > 0 && p->tf->new_task.id < 0 && is_fork(p, nr, a, (pid_t)ret)) {
			/* fork: private pages are shared copy-on-write now. */
			spt_batch_full(b, t, tid, SHADOWPT__CAUSE__CAUSE_FORK);
		}
		break;
	case SYS_mlockall:
	case SYS_munlockall:
	case SYS_migrate_pages:
	case SYS_move_pages:
	case SYS_process_madvise:
		spt_batch_full(b, t, tid,
			       nr == SYS_process_madvise ? SHADOWPT__CAUSE__CAUSE_MADVISE
			       : nr == SYS_migrate_pages || nr == SYS_move_pages
				   ? SHADOWPT__CAUSE__CAUSE_MIGRATION
				   : SHADOWPT__CAUSE__CAUSE_VMA_CHANGE);
		break;
	default:
		break;
	}
	return r;
}

static uint64_t raw_u64(const uint8_t *raw, uint32_t rawlen, uint16_t off)
{
	uint64_t v = 0;

	if ((uint32_t)off + sizeof(v) <= rawlen)
		memcpy(&v, raw + off, sizeof(v));
	return v;
}

/* A fault that waited has ended: the reader reads its page again now. */
static int on_fault_done(struct spt_perf *p, struct spt_batch *b, uint32_t pid, uint32_t tid,
			 uint64_t t, const uint8_t *addrp)
{
	uint64_t addr;
	struct spt_event ev = {
	    .time_ns = t,
	    .tid = (int32_t)tid,
	    .cause = SHADOWPT__CAUSE__CAUSE_FAULT,
	    .fault = true,
	    .done = true,
	};

	memcpy(&addr, addrp, 8);
	if ((pid_t)pid != p->pid || addr < p->fault_lo || addr >= p->fault_hi ||
	    addr >= SPT_USER_ADDR_MAX)
		return 0;
	p->samples++;
	ev.start = page_down(addr);
	ev.end = ev.start + SPT_PAGE_SIZE;
	return spt_batch_add(b, &ev);
}

static int on_sample(struct spt_perf *p, struct perf_ring *r, struct spt_batch *b,
		     const uint8_t *rec, size_t len)
{
	const struct spt_tracefs *tf = p->tf;
	uint32_t pid, tid, rawlen;
	const uint8_t *raw;
	uint64_t t;
	uint16_t type;

	/*
	 * Tracepoints: PERF_SAMPLE_TID | TIME | RAW: u32 pid, tid; u64 time;
	 * u32 size; raw (at least 8 bytes). done_fd: TID | TIME | ADDR, 24
	 * bytes, so the length tells them apart.
	 */
	if (len < sizeof(struct perf_event_header) + 20)
		return 0;
	rec += sizeof(struct perf_event_header);
	memcpy(&pid, rec, 4);
	memcpy(&tid, rec + 4, 4);
	memcpy(&t, rec + 8, 8);
	if (len == sizeof(struct perf_event_header) + 24)
		return on_fault_done(p, b, pid, tid, t, rec + 16);
	memcpy(&rawlen, rec + 16, 4);
	raw = rec + 20;
	if (rawlen > len - sizeof(struct perf_event_header) - 20 || rawlen < 8)
		return 0;
	if ((pid_t)pid != p->pid)
		return 0; /* a forked child, on kernels without inherit_thread */
	if ((pid_t)tid != r->tid && (pid_t)tid != r->foreign) {
		/* Inherited here: a ring of its own would only duplicate this one. */
		struct perf_ring *o = ring_of_tid(p, (pid_t)tid);

		if (o)
			o->gone = true;
		r->foreign = (pid_t)tid;
	}
	p->samples++;
	memcpy(&type, raw, 2);
	if (type == tf->fault_user.id || type == tf->fault_kernel.id) {
		const struct spt_tracepoint *tp =
		    type == tf->fault_user.id ? &tf->fault_user : &tf->fault_kernel;
		uint64_t addr = raw_u64(raw, rawlen, tp->off[0]);
		uint64_t ec = raw_u64(raw, rawlen, tp->off[1]);
		struct spt_event ev = {
		    .start = page_down(addr),
		    .end = page_down(addr) + SPT_PAGE_SIZE,
		    .time_ns = t,
		    .tid = (int32_t)tid,
		    .fault = true,
		};

		if (addr >= SPT_USER_ADDR_MAX)
			return 0;
		ev.cause = !(ec & X86_PF_WRITE) ? SHADOWPT__CAUSE__CAUSE_READ_FAULT
			   : (ec & X86_PF_PROT) ? SHADOWPT__CAUSE__CAUSE_COW
						: SHADOWPT__CAUSE__CAUSE_WRITE_FAULT;
		return spt_batch_add(b, &ev);
	}
	if (type == tf->sys_enter.id) {
		uint64_t args[6];

		if ((uint32_t)tf->sys_enter.off[1] + sizeof(args) > rawlen)
			return 0;
		memcpy(args, raw + tf->sys_enter.off[1], sizeof(args));
		on_sys_enter(p, (int32_t)tid, (long)raw_u64(raw, rawlen, tf->sys_enter.off[0]),
			     args);
		return 0;
	}
	if (type == tf->new_task.id) {
		/* In the parent, as it creates the task: the flags say what it is. */
		if (!(raw_u64(raw, rawlen, tf->new_task.off[0]) & CLONE_VM))
			spt_batch_full(b, t, (int32_t)tid, SHADOWPT__CAUSE__CAUSE_FORK);
		return 0;
	}
	if (type == tf->sys_exit.id)
		return on_sys_exit(p, b, (int32_t)tid,
				   (long)raw_u64(raw, rawlen, tf->sys_exit.off[0]),
				   (long)raw_u64(raw, rawlen, tf->sys_exit.off[1]), t);
	return 0;
}

/* Reads everything in one ring (perf's protocol: acquire head, release tail). */
static int ring_drain(struct spt_perf *p, struct perf_ring *r, struct spt_batch *b)
{
	uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->meta->data_tail;
	int ret = 0;

	while (tail < head && !ret) {
		struct perf_event_header h;
		const uint8_t *rec;
		uint64_t off = tail & r->mask;

		if (head - tail < sizeof(h))
			break;
		if (off + sizeof(h) <= r->mask + 1) {
			memcpy(&h, r->data + off, sizeof(h));
		} else {
			size_t first = r->mask + 1 - off;

			memcpy(&h, r->data + off, first);
			memcpy((uint8_t *)&h + first, r->data, sizeof(h) - first);
		}
		if (h.size < sizeof(h) || h.size > head - tail) {
			/* Corrupt or torn: drop the ring's contents, re-read all. */
			spt_batch_full(b, spt_now_ns(), 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
			tail = head;
			break;
		}
		if (off + h.size <= r->mask + 1) {
			rec = r->data + off;
		} else {
			size_t first = r->mask + 1 - off;

			memcpy(p->scratch, r->data + off, first);
			memcpy(p->scratch + first, r->data, h.size - first);
			rec = p->scratch;
		}
		switch (h.type) {
		case PERF_RECORD_SAMPLE:
			ret = on_sample(p, r, b, rec, h.size);
			break;
		case PERF_RECORD_LOST: {
			uint64_t lost = 0;

			if (h.size >= sizeof(h) + 16)
				memcpy(&lost, rec + sizeof(h) + 8, 8);
			p->lost += lost;
			b->lost += lost;
			spt_batch_full(b, spt_now_ns(), 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
			break;
		}
		case PERF_RECORD_THROTTLE:
			/* Samples are dropped until the next tick: as good as lost. */
			p->lost++;
			b->lost++;
			spt_batch_full(b, spt_now_ns(), 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
			break;
		default:
			break;
		}
		tail += h.size;
	}
	__atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
	if (ret < 0) /* out of memory for the batch: re-read everything instead */
		spt_batch_full(b, spt_now_ns(), 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
	return ret;
}

/*
 * Switches every ring between waking per sample and waking per batch.
 * The new set is enabled before the old one is disabled: a sample taken
 * in between is recorded twice (harmless), never missed.
 */
static void set_burst(struct spt_perf *p, bool burst)
{
	if (p->burst == burst)
		return;
	p->burst = burst;
	for (size_t i = 0; i < p->nrings; i++) {
		struct perf_ring *r = &p->rings[i];
		int *on = burst ? r->batch_fds : r->fds, *off = burst ? r->fds : r->batch_fds;

		for (int k = 0; k < EV_COUNT; k++)
			if (on[k] >= 0)
				ioctl(on[k], PERF_EVENT_IOC_ENABLE, 0);
		for (int k = 0; k < EV_COUNT; k++)
			if (off[k] >= 0)
				ioctl(off[k], PERF_EVENT_IOC_DISABLE, 0);
	}
}

int spt_perf_drain(struct spt_perf *p, struct spt_batch *b)
{
	struct epoll_event evs[32];
	uint64_t samples0 = p->samples, now;
	int n, ret = 0;

	/* Collects readiness (perf clears it per poll) and HUPs: thread and children gone. */
	do {
		n = epoll_wait(p->epfd, evs, 32, 0);
		for (int i = 0; i < n; i++) {
			struct perf_ring *r = ring_of_tid(p, (pid_t)evs[i].data.u64);

			if (r && (evs[i].events & (EPOLLHUP | EPOLLERR)))
				r->gone = true;
		}
	} while (n == 32);
	/* Every ring: a head that did not move costs one load. */
	for (size_t i = 0; i < p->nrings;) {
		struct perf_ring *r = &p->rings[i];

		if (ring_drain(p, r, b) < 0)
			ret = -ENOMEM;
		if (r->gone) {
			ring_close(p, r);
			*r = p->rings[--p->nrings];
			continue;
		}
		i++;
	}
	/*
	 * Many samples in one drain: a burst, batch the wakeups and come back
	 * every SPT_PERF_BURST_POLL_US instead. Quiet again for as long: wake
	 * per sample again.
	 */
	now = spt_now_ns();
	if (p->samples - samples0 >= SPT_PERF_BURST_SAMPLES)
		set_burst(p, true);
	if (p->samples != samples0) {
		p->last_sample_ns = now;
	} else if (p->burst && now - p->last_sample_ns > SPT_PERF_BURST_POLL_US * 4000ull) {
		set_burst(p, false);
		/* Samples the batch events wrote before they stopped wake nobody: take them. */
		for (size_t i = 0; i < p->nrings; i++)
			if (ring_drain(p, &p->rings[i], b) < 0)
				ret = -ENOMEM;
	}
	if (p->burst)
		b->poll_ns = SPT_PERF_BURST_POLL_US * 1000ull;
	return ret;
}

void spt_perf_describe(const struct spt_perf *p, char *buf, size_t len)
{
	snprintf(buf, len, "page faults and mm syscalls of %zu thread%s (perf tracepoints)",
		 p->nrings, p->nrings == 1 ? "" : "s");
}

void spt_perf_close(struct spt_perf *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nrings; i++)
		ring_close(p, &p->rings[i]);
	if (p->epfd >= 0) {
		epoll_ctl(p->outer_epfd, EPOLL_CTL_DEL, p->epfd, NULL);
		close(p->epfd);
	}
	free(p->rings);
	free(p->sys);
	free(p->scratch);
	free(p);
}
