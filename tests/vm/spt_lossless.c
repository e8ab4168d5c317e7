// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * spt_lossless: the kernel's event ring delivers every transition.
 *
 *   spt_lossless [-n CYCLES] [-p RING_PAGES]
 *	A target maps, touches and unmaps one page CYCLES times (10000) in a
 *	tight loop while this process reads the ring of a table on it: every
 *	transition must arrive, in order (consecutive sequence numbers, each
 *	cycle mmap 0 -> allocated+anonymous, write fault -> mapped with a pfn,
 *	munmap -> nothing), with no LOST record. TAP on stdout.
 *
 *   spt_lossless --target CYCLES
 *	Just the workload, for other readers (the daemon's tests): prints
 *	"ready PID ADDR" (ADDR: the page, in a free 2 MiB aligned region),
 *	waits for a line on stdin, runs the loop, prints "done CYCLES" and
 *	exits when stdin reaches EOF.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel-events.h"
#include "spt_sys.h"

#define PG 4096UL
#define REGION (2UL << 20)
#define AN (SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS)
#define ANM (AN | SPTE_PTE_MAPPED)

static int tap_n, tap_failed;

static void tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++tap_n);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	tap_failed += !ok;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A free, REGION aligned address (nothing mapped there afterwards). */
static unsigned long free_region(void)
{
	char *p = mmap(NULL, 2 * REGION, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned long a;

	if (p == MAP_FAILED)
		return 0;
	a = ((unsigned long)p + REGION - 1) & ~(REGION - 1);
	munmap(p, 2 * REGION);
	return a;
}

/* The workload: map, touch, unmap one page at addr, cycles times. */
static int target_loop(unsigned long addr, long cycles)
{
	long i;

	for (i = 0; i < cycles; i++) {
		char *p = mmap((void *)addr, PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

		if (p != (char *)addr)
			return -1;
		*(volatile char *)p = (char)i;
		munmap(p, PG);
	}
	return 0;
}

static int target_main(long cycles)
{
	unsigned long addr = free_region();
	char line[64];

	if (!addr)
		return 1;
	addr += 16 * PG;
	printf("ready %d 0x%lx\n", getpid(), addr);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	if (target_loop(addr, cycles))
		return 1;
	printf("done %ld\n", cycles);
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}

struct check {
	unsigned long addr;
	uint64_t seq0, next_seq, records, lost_records, bad, cycles_seen;
	uint64_t last_time;
	unsigned long state;	/* flags of addr as the records tell it */
	char why[256];
};

static void bad(struct check *c, const struct shadowpt_event *r, const char *what)
{
	if (!c->bad++)
		snprintf(c->why, sizeof(c->why),
			 "seq %llu: %s (vaddr 0x%llx %u -> %u, cause %s)",
			 (unsigned long long)r->seq, what, (unsigned long long)r->vaddr,
			 r->old_flags, r->new_flags, spt_kernel_event_cause_name(r->cause));
}

static int check_one(const struct shadowpt_event *r, void *arg)
{
	struct check *c = arg;

	if (r->type == SHADOWPT_EVENT_LOST) {
		c->lost_records += r->count;
		bad(c, r, "LOST");
		return 0;
	}
	if (r->seq <= c->seq0)
		return 0;	/* before the table was read */
	c->records++;
	if (c->next_seq && r->seq != c->next_seq)
		bad(c, r, "sequence gap");
	c->next_seq = r->seq + 1;
	if (r->time_ns < c->last_time)
		bad(c, r, "time went backwards");
	c->last_time = r->time_ns;
	if (r->vaddr != c->addr) {
		bad(c, r, "another page");
		return 0;
	}
	if (r->old_flags != c->state)
		bad(c, r, "old state differs from the previous record's new state");
	c->state = r->new_flags;
	if (r->old_flags == 0 && r->new_flags == AN) {
		if (r->cause != SHADOWPT_CAUSE_MMAP)
			bad(c, r, "mapping not caused by mmap");
	} else if (r->old_flags == AN && r->new_flags == ANM) {
		if (r->cause != SHADOWPT_CAUSE_WRITE_FAULT || !r->new_pfn)
			bad(c, r, "mapped page without a write fault or pfn");
	} else if (r->old_flags == ANM && r->new_flags == 0) {
		if (r->cause != SHADOWPT_CAUSE_MUNMAP || r->new_pfn)
			bad(c, r, "unmapping not caused by munmap");
		c->cycles_seen++;
	} else {
		bad(c, r, "unexpected transition");
	}
	return 0;
}

int main(int argc, char **argv)
{
	long cycles = 10000, pages = 256;
	int to_t[2], from_t[2], opt, st;
	struct spt_kernel_events ev;
	struct check c = { 0 };
	struct user_shadow_pt u;
	size_t max_pending = 0;
	char line[128];
	double t0, t1;
	FILE *tin, *tout;
	int done = 0;
	pid_t pid;
	void *buf;
	long r;

	if (argc == 3 && !strcmp(argv[1], "--target"))
		return target_main(atol(argv[2]));
	while ((opt = getopt(argc, argv, "n:p:")) != -1) {
		if (opt == 'n')
			cycles = atol(optarg);
		else if (opt == 'p')
			pages = atol(optarg);
		else
			return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("1..5\n");
	/* The loop's own speed, untracked, for comparison. */
	{
		unsigned long a = free_region() + 16 * PG;
		double b0 = now_s();

		if (!a || target_loop(a, cycles / 10)) {
			printf("Bail out! the loop itself fails\n");
			return 1;
		}
		printf("# untracked: %ld cycles in %.2f s\n", cycles / 10, now_s() - b0);
	}
	if (pipe(to_t) || pipe(from_t))
		return 1;
	pid = fork();
	if (pid == 0) {
		dup2(to_t[0], 0);
		dup2(from_t[1], 1);
		close(to_t[1]);
		close(from_t[0]);
		_exit(target_main(cycles));
	}
	close(to_t[0]);
	close(from_t[1]);
	tin = fdopen(to_t[1], "w");
	tout = fdopen(from_t[0], "r");
	if (!fgets(line, sizeof(line), tout) || sscanf(line, "ready %*d %lx", &c.addr) != 1) {
		printf("Bail out! target did not start\n");
		return 1;
	}

	buf = mmap(NULL, spt_entries_bytes(0, REGION, PG), PROT_READ,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	u = (struct user_shadow_pt){ c.addr & ~(REGION - 1), (c.addr & ~(REGION - 1)) + REGION,
				     buf };
	r = spt_open(pid, &u);
	tap(!r, "shadowpt_open on the target's 2 MiB region: %s", r ? strerror(errno) : "ok");
	r = r ? r : spt_kernel_events_open(&ev, (unsigned int)pages);
	tap(!r, "shadowpt_events + mmap of a %ld-page ring (%ld records): %s", pages,
	    pages * 64, r ? strerror((int)-r) : "ok");
	if (r || spt_start()) {
		printf("Bail out! cannot track the target\n");
		kill(pid, SIGKILL);
		return 1;
	}
	/* The table now holds the state as of seq0; later records apply. */
	c.seq0 = spt_kernel_events_table_seq(&ev);
	c.state = 0;

	t0 = now_s();
	fprintf(tin, "go\n");
	fflush(tin);
	while (!done || spt_kernel_events_pending(&ev)) {
		struct pollfd p[2] = {
			{ .fd = spt_kernel_events_fd(&ev), .events = POLLIN },
			{ .fd = fileno(tout), .events = POLLIN },
		};
		size_t pend;

		if (poll(p, done ? 1 : 2, 1000) < 0 && errno != EINTR)
			break;
		pend = spt_kernel_events_pending(&ev);
		if (pend > max_pending)
			max_pending = pend;
		if (spt_kernel_events_drain(&ev, 0, check_one, &c) < 0) {
			bad(&c, &(struct shadowpt_event){ 0 }, "corrupt ring");
			break;
		}
		if (!done && (p[1].revents & (POLLIN | POLLHUP))) {
			if (!fgets(line, sizeof(line), tout) || strncmp(line, "done", 4)) {
				printf("Bail out! target failed: %s\n", line);
				break;
			}
			done = 1;
		}
	}
	t1 = now_s();
	fclose(tin);
	waitpid(pid, &st, 0);

	printf("# %llu records for %ld cycles in %.2f s (%.0f records/s), ring high-water %zu of %ld, kernel lost %llu\n",
	       (unsigned long long)c.records, cycles, t1 - t0, c.records / (t1 - t0),
	       max_pending, pages * 64,
	       (unsigned long long)spt_kernel_events_kernel_lost(&ev));
	tap(c.records >= 2 * (uint64_t)cycles && c.records == 3 * (uint64_t)cycles,
	    "every transition delivered: %llu records >= %ld (3 per cycle: %ld)",
	    (unsigned long long)c.records, 2 * cycles, 3 * cycles);
	tap(c.cycles_seen == (uint64_t)cycles, "%llu of %ld map/touch/unmap cycles seen whole",
	    (unsigned long long)c.cycles_seen, cycles);
	tap(!c.bad && !c.lost_records,
	    "in order, no LOST, each with its cause%s%s", c.bad ? ": " : "", c.why);
	spt_kernel_events_close(&ev);
	spt_stop();
	spt_close();
	return tap_failed || !WIFEXITED(st) || WEXITSTATUS(st) ? 1 : 0;
}
