/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The procfs backend's event source: the target's own page faults and
 * memory-map syscalls, sampled with perf_event_open, so that a session
 * re-reads exactly what changed, when it changed (DESIGN.md section 4).
 *
 * Per thread of the target, one ring (a PERF_COUNT_SW_DUMMY event owns the
 * mmap) receives, through PERF_EVENT_IOC_SET_OUTPUT, every sample of four
 * tracepoint events on that thread, each with sample_period 1,
 * wakeup_events 1 and CLOCK_MONOTONIC timestamps:
 *   exceptions:page_fault_user, exceptions:page_fault_kernel (address and
 *     x86 error code: read, write, or write to a present page = COW; the
 *     kernel one for faults on user addresses taken inside syscalls),
 *     filtered in the kernel to the window (SPT_PERF_FAULT_SLACK);
 *   raw_syscalls:sys_enter and sys_exit, filtered to the syscalls that
 *     change VMAs or pages (mmap, munmap, mremap, brk, madvise, mprotect,
 *     mlock*, execve, fork/clone, shmat/shmdt, mbind, ...): enter gives the
 *     range, exit says it is done.
 * (Each in two copies, see SPT_PERF_BURST_SAMPLES.) The four are inherit +
 * inherit_thread: threads the thread creates later
 * send their samples to its ring, forked processes do not. (A per-task
 * inherited event cannot be mmap'ed itself; redirecting it into a ring
 * that a non-inherited event owns is allowed.) Threads that exist at
 * attach time get rings of their own; a ring is closed once its thread and
 * all threads it created are gone (the inherited event's fd reports HUP).
 *
 * Needs CAP_SYS_ADMIN (or CAP_PERFMON) for tracepoint samples and
 * CAP_SYS_PTRACE over the target; each ring is SPT_PERF_RING_PAGES of
 * locked memory, charged to RLIMIT_MEMLOCK beyond perf_event_mlock_kb
 * (see spt_perf_set_ring_budget).
 * A lost or throttled record asks for a full re-read.
 */
#ifndef SHADOWPTD_PROCFS_PERF_EVENTS_H
#define SHADOWPTD_PROCFS_PERF_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../events.h"

/* Data pages per ring (a power of two); 8 pages hold ~500 samples. */
#define SPT_PERF_RING_PAGES 8u
/* Threads one session follows with rings; beyond, the session polls. */
#define SPT_PERF_MAX_RINGS_PER_SESSION 512u
/*
 * File descriptors one ring holds: the owner, two sets of five events and
 * the major-fault completions.
 */
#define SPT_PERF_FDS_PER_RING 12u
/*
 * Bursts. A wakeup per sample costs the target more than a fault (tens of
 * microseconds in a VM): a drain that finds this many samples switches to
 * events that wake every SPT_PERF_BATCH_BYTES, with the reader coming back
 * every SPT_PERF_BURST_POLL_US; four such periods without samples switch
 * back.
 */
#define SPT_PERF_BURST_SAMPLES 4u
#define SPT_PERF_BATCH_BYTES   16384u
#define SPT_PERF_BURST_POLL_US 2000u

struct spt_perf;

/*
 * Rings of all sessions together: at most SPT_MAX_PERF_RINGS, fewer as
 * set at startup from RLIMIT_MEMLOCK and the fd budget. A session that
 * would need one more falls back to polling. Thread-safe.
 */
void spt_perf_set_ring_budget(unsigned rings);
unsigned spt_perf_rings_held(void);

/*
 * Faults are filtered in the kernel to the watched window [start, end)
 * rounded out to 2 MiB: a fault elsewhere writes no sample and wakes
 * nobody, and one just outside that may map the window (a THP, a large
 * folio, fault-around: all within the fault's PMD) is still seen. What a
 * fault farther away still changes inside (a 1 GiB hugetlb page, a stack
 * grown by more than 2 MiB at once) is left to the reconcile pass.
 */
#define SPT_PERF_FAULT_SLACK (2ull << 20)

/*
 * Attaches to every thread of pid and registers the rings with epfd
 * (EPOLLIN; data.ptr is the spt_perf); [start, end) is the watched window.
 * Returns 0, or -errno with why saying what is missing (tracefs,
 * permission, memlock, too many threads).
 */
int spt_perf_open(pid_t pid, uint64_t start, uint64_t end, int epfd, struct spt_perf **out,
		  char *why, size_t whylen);

/*
 * Drains every ring into b, and closes rings whose threads are all gone.
 * Returns 0 or -ENOMEM (b then holds what fit, plus a full re-read).
 */
int spt_perf_drain(struct spt_perf *p, struct spt_batch *b);

/* "page faults and mm syscalls of 3 threads (perf tracepoints)". */
void spt_perf_describe(const struct spt_perf *p, char *buf, size_t len);

void spt_perf_close(struct spt_perf *p);

#endif
