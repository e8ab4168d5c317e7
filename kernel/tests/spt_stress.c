// SPDX-License-Identifier: GPL-2.0
/*
 * spt_stress: stress the shadowpt open/start/stop/close life cycle.
 *
 *   spt_stress [-c CYCLES] [-k KILLS] [-s SEED]
 *
 * A forked "target" child churns its address space (mmap, touch, madvise,
 * mprotect, munmap in a fixed 8 MiB window) for the whole run. Then:
 *  1. CYCLES (default 1000) open/start/read/stop/close cycles on that window,
 *     checking the table's vaddr column and flag bits each time;
 *  2. KILLS (default 200) inspector children, each SIGKILLed at a random
 *     moment (right after open, right after start, or in the middle of its
 *     read loop; a few also just exit without closing); after each one the
 *     parent's own open must succeed -- EBUSY is retried for at most
 *     EBUSY_RETRY_MS while the dead inspector is torn down;
 *  3. RACES (default 1000) start/stop pairs against a second target that
 *     maps, touches and unmaps the only VMA of its own 1 GiB-aligned region
 *     over and over: each munmap() frees the region's page tables after
 *     downgrading the mmap_lock, while start walks the window holding it
 *     for read (KASAN reports any walk that strays into freed tables);
 *  4. SCAN_SECONDS (default 5) of tracking a target whose one thread maps
 *     and unmaps like step 3's while another write-protects the whole
 *     window with PAGEMAP_SCAN: that mmu notifier range spans the gaps
 *     whose page tables the munmap() is freeing, under the read lock;
 *  5. a leak check from /proc/meminfo taken before step 1 (after a warm-up)
 *     and after step 4.
 *
 * Leak tolerance. KASAN's quarantine keeps freed slab objects (up to 1/32 of
 * RAM) so "Slab" may grow legitimately: only growth above SLAB_TOL_KB fails.
 * Memory used outside slab, page cache, page tables and stacks (i.e. pages
 * taken straight from the page allocator, such as the shadow tables: 48 KiB
 * for each of the ~1200 opens here, ~57 MiB if every table leaked) must not
 * grow by more than OTHER_TOL_KB (a fresh boot showed +12 MiB of such noise,
 * e.g. KASAN's stack depot and per-cpu page lists, hence the warm-up), and
 * KernelStack (a leaked task keeps its stack) by more than STACK_TOL_KB.
 * /proc/slabinfo, when present, is only summarised.
 * Output is TAP.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pagemap-scan-compat.h"
#include "spt_sys.h"

#define WINDOW_BASE 0x5a0000000000UL
/* Alone in its 512 GiB: an unmap there frees PTE, PMD and PUD tables. */
#define RACE_BASE 0x5c0000000000UL
#define WINDOW_SIZE ((unsigned long)MAX_SPT_RANGE)
#define EBUSY_RETRY_MS 5000
#define SLAB_TOL_KB (128 * 1024)
#define OTHER_TOL_KB (24 * 1024)
#define STACK_TOL_KB 2048

static size_t page_sz;
static int test_no;
static int failed;

static void tap(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tap(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", ok ? "" : "not ", ++test_no);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failed++;
}

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ target */

static void churn_forever(void)
{
	unsigned int seed = (unsigned int)getpid();
	size_t npages = WINDOW_SIZE / page_sz;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (;;) {
		size_t off = (size_t)rand_r(&seed) % npages;
		size_t len = 1 + (size_t)rand_r(&seed) % 64;
		char *p;
		size_t i;

		if (off + len > npages)
			len = npages - off;
		p = mmap((void *)(WINDOW_BASE + off * page_sz), len * page_sz,
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			continue;
		for (i = 0; i < len; i++)
			p[i * page_sz] = (char)i;
		switch (rand_r(&seed) % 4) {
		case 0:
			madvise(p, len * page_sz / 2, MADV_DONTNEED);
			break;
		case 1:
			mprotect(p, len * page_sz, PROT_READ);
			break;
		default:
			break;
		}
		if (rand_r(&seed) % 8)
			munmap(p, len * page_sz);
	}
}

/* Maps, touches and unmaps the only VMA near RACE_BASE, forever. */
static void *unmap_loop(void *arg)
{
	unsigned int seed = (unsigned int)getpid();
	size_t npages = WINDOW_SIZE / page_sz;

	(void)arg;
	for (;;) {
		size_t len = 1 + (size_t)rand_r(&seed) % 16;
		size_t off = (size_t)rand_r(&seed) % (npages - len);
		char *p;
		size_t i;

		p = mmap((void *)(RACE_BASE + off * page_sz), len * page_sz,
			 PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED)
			continue;
		for (i = 0; i < len; i++)
			p[i * page_sz] = (char)i;
		munmap(p, len * page_sz);
	}
	return NULL;
}

static void unmap_forever(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	unmap_loop(NULL);
}

/* unmap_loop() in a thread; this one write-protects the window forever. */
static void scan_and_unmap_forever(void)
{
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	pthread_t th;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (fd < 0 || pthread_create(&th, NULL, unmap_loop, NULL))
		_exit(20);
	for (;;) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_WP_MATCHING,
			.start = RACE_BASE,
			.end = RACE_BASE + WINDOW_SIZE,
			.category_anyof_mask = PAGE_IS_PRESENT,
			.return_mask = PAGE_IS_PRESENT,
		};

		if (ioctl(fd, PAGEMAP_SCAN, &a) < 0)
			_exit(errno == ENOTTY || errno == EINVAL ? 21 : 22);
	}
}

/* ---------------------------------------------------------------- helpers */

/* A child running @body (which never returns); bails out if fork fails. */
static pid_t spawn(void (*body)(void))
{
	pid_t pid = fork();

	if (pid < 0) {
		printf("Bail out! fork: %s\n", strerror(errno));
		exit(1);
	}
	if (pid == 0)
		body();
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static char *map_entries(size_t *bytes)
{
	char *buf;

	*bytes = spt_entries_bytes(WINDOW_BASE, WINDOW_BASE + WINDOW_SIZE, page_sz);
	buf = mmap(NULL, *bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return buf == MAP_FAILED ? NULL : buf;
}

static int open_at(pid_t target, unsigned long base, struct user_shadow_pt *pt, void *buf)
{
	pt->start_vaddr = base;
	pt->end_vaddr = base + WINDOW_SIZE;
	pt->entries = buf;
	return (int)spt_open(target, pt);
}

static int open_window(pid_t target, struct user_shadow_pt *pt, void *buf)
{
	return open_at(target, WINDOW_BASE, pt, buf);
}

/* Returns the number of bad entries. */
static size_t check_table(const struct user_shadow_pt *pt, unsigned long *mapped)
{
	size_t i, n = WINDOW_SIZE / page_sz, bad = 0;

	*mapped = 0;
	for (i = 0; i < n; i++) {
		const struct shadow_pte *e = &pt->entries[i];

		if (e->vaddr != WINDOW_BASE + i * page_sz ||
		    (e->state_flags & ~7UL))
			bad++;
		if (is_pte_mapped(e->state_flags))
			(*mapped)++;
	}
	return bad;
}

struct meminfo {
	long memfree, slab, cached, buffers, pagetables, kernelstack, anon;
};

static long meminfo_field(const char *text, const char *name)
{
	const char *p = strstr(text, name);

	return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

static int read_meminfo(struct meminfo *m)
{
	char text[8192];
	FILE *f = fopen("/proc/meminfo", "r");
	size_t len;

	if (!f)
		return -1;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	m->memfree = meminfo_field(text, "MemFree:");
	m->slab = meminfo_field(text, "\nSlab:");
	m->cached = meminfo_field(text, "\nCached:");
	m->buffers = meminfo_field(text, "\nBuffers:");
	m->pagetables = meminfo_field(text, "\nPageTables:");
	m->kernelstack = meminfo_field(text, "\nKernelStack:");
	m->anon = meminfo_field(text, "\nAnonPages:");
	return m->memfree < 0 || m->slab < 0 ? -1 : 0;
}

static long slabinfo_active_kb(void)
{
	FILE *f = fopen("/proc/slabinfo", "r");
	char line[512];
	long total = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[128];
		long active, num, objsize;

		if (sscanf(line, "%127s %ld %ld %ld", name, &active, &num, &objsize) == 4)
			total += active * objsize / 1024;
	}
	fclose(f);
	return total;
}

/* --------------------------------------------------------------- phase 1 */

static int cycles(pid_t target, unsigned int count)
{
	unsigned int i, bad_cycles = 0;
	unsigned long total_mapped = 0;
	struct user_shadow_pt pt;

	for (i = 0; i < count; i++) {
		unsigned long mapped;
		size_t bytes;
		char *buf = map_entries(&bytes);
		const char *what = NULL;

		if (!buf) {
			diag("cycle %u: mmap: %s", i, strerror(errno));
			return -1;
		}
		if (open_window(target, &pt, buf)) {
			what = "shadowpt_open";
		} else {
			if (spt_start()) {
				what = "shadowpt_start";
			} else {
				if (check_table(&pt, &mapped)) {
					diag("cycle %u: table has bad vaddr/flags entries", i);
					bad_cycles++;
				}
				total_mapped += mapped;
				if (spt_stop())
					what = "shadowpt_stop";
			}
			if (spt_close() && !what)
				what = "shadowpt_close";
		}
		if (what) {
			diag("cycle %u: %s: %s", i, what, strerror(errno));
			munmap(buf, bytes);
			return -1;
		}
		munmap(buf, bytes);
	}
	diag("%u cycles, average %lu mapped pages seen per cycle", count,
	     count ? total_mapped / count : 0);
	return bad_cycles ? -1 : 0;
}

/* --------------------------------------------------------------- phase 2 */

enum phase { PH_OPENED = 'o', PH_STARTED = 's', PH_READING = 'r' };

/* Inspector child: report progress on fd, never close. */
static void inspector_child(pid_t target, int fd, int exit_after_start)
{
	struct user_shadow_pt pt;
	unsigned long mapped;
	size_t bytes;
	char *buf = map_entries(&bytes);
	char c;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (!buf || open_window(target, &pt, buf))
		_exit(10);
	c = PH_OPENED;
	if (write(fd, &c, 1) != 1)
		_exit(11);
	if (spt_start())
		_exit(12);
	c = PH_STARTED;
	if (write(fd, &c, 1) != 1)
		_exit(13);
	if (exit_after_start)
		_exit(0); /* exit without stop/close: the kernel must clean up */
	c = PH_READING;
	if (write(fd, &c, 1) != 1)
		_exit(14);
	for (;;)
		check_table(&pt, &mapped);
}

static int kills(pid_t target, unsigned int count, unsigned int *seed)
{
	unsigned int i, voluntary = 0, per_phase[3] = { 0, 0, 0 };
	unsigned long total_retries = 0, max_wait_ms = 0;

	for (i = 0; i < count; i++) {
		int pfd[2], status, exit_after_start = (i % 20) == 19;
		char want, c = 0;
		pid_t child;
		struct user_shadow_pt pt;
		size_t bytes;
		char *buf;
		uint64_t t0;
		unsigned long retries = 0;
		int r = rand_r(seed) % 3;

		want = r == 0 ? PH_OPENED : r == 1 ? PH_STARTED : PH_READING;
		if (pipe(pfd)) {
			diag("pipe: %s", strerror(errno));
			return -1;
		}
		child = fork();
		if (child < 0) {
			diag("fork: %s", strerror(errno));
			return -1;
		}
		if (child == 0) {
			close(pfd[0]);
			inspector_child(target, pfd[1], exit_after_start);
		}
		close(pfd[1]);
		/* A voluntary exiter is read to EOF (no SIGPIPE for it). */
		while (read(pfd[0], &c, 1) == 1 && (exit_after_start || c != want))
			;
		if (exit_after_start) {
			voluntary++;
		} else {
			if (c != want) {
				/* the child died before reaching the phase */
				waitpid(child, &status, 0);
				close(pfd[0]);
				diag("inspector %u failed before phase '%c' (status 0x%x)",
				     i, want, status);
				return -1;
			}
			per_phase[r]++;
			if (want == PH_READING)
				sleep_us(rand_r(seed) % 20000);
			else if (rand_r(seed) % 2)
				sleep_us(rand_r(seed) % 2000);
			kill(child, SIGKILL);
		}
		close(pfd[0]);
		if (waitpid(child, &status, 0) != child) {
			diag("waitpid: %s", strerror(errno));
			return -1;
		}
		if (exit_after_start && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
			diag("inspector %u (voluntary exit) failed: status 0x%x", i, status);
			return -1;
		}

		/* The next open must succeed once the dead inspector is gone. */
		buf = map_entries(&bytes);
		if (!buf) {
			diag("mmap: %s", strerror(errno));
			return -1;
		}
		t0 = now_ms();
		while (open_window(target, &pt, buf)) {
			if (errno != EBUSY || now_ms() - t0 > EBUSY_RETRY_MS) {
				diag("open after inspector %u died: %s (after %lu EBUSY retries, %lu ms)",
				     i, strerror(errno), retries,
				     (unsigned long)(now_ms() - t0));
				munmap(buf, bytes);
				return -1;
			}
			retries++;
			sleep_us(1000);
		}
		if (now_ms() - t0 > max_wait_ms)
			max_wait_ms = (unsigned long)(now_ms() - t0);
		total_retries += retries;
		if (spt_close()) {
			diag("close after inspector %u: %s", i, strerror(errno));
			munmap(buf, bytes);
			return -1;
		}
		munmap(buf, bytes);
	}
	diag("killed after open %u, after start %u, mid-read %u; %u exited without close",
	     per_phase[0], per_phase[1], per_phase[2], voluntary);
	diag("EBUSY retries %lu in total, longest wait for the next open %lu ms",
	     total_retries, max_wait_ms);
	return 0;
}

/* --------------------------------------------------------------- phase 3 */

/* start/stop pairs on RACE_BASE's window; the table stays open. */
static int races(pid_t target, unsigned int count)
{
	struct user_shadow_pt pt;
	unsigned int i;
	size_t bytes;
	char *buf = map_entries(&bytes);
	uint64_t t0 = now_ms();
	int ret = 0;

	if (!buf || open_at(target, RACE_BASE, &pt, buf)) {
		diag("races: %s: %s", buf ? "shadowpt_open" : "mmap", strerror(errno));
		if (buf)
			munmap(buf, bytes);
		return -1;
	}
	for (i = 0; i < count && !ret; i++) {
		if (spt_start() || spt_stop()) {
			diag("race %u: shadowpt_start/stop: %s", i, strerror(errno));
			ret = -1;
		}
	}
	if (spt_close()) {
		diag("races: shadowpt_close: %s", strerror(errno));
		ret = -1;
	}
	diag("%u start/stop pairs in %llu ms", i, (unsigned long long)(now_ms() - t0));
	munmap(buf, bytes);
	return ret;
}

/* --------------------------------------------------------------- phase 4 */

/* Tracks the scanning target for @secs seconds; it must stay alive. */
static int scans(pid_t target, unsigned int secs)
{
	struct user_shadow_pt pt;
	size_t bytes;
	char *buf = map_entries(&bytes);
	int ret = 0, status;

	if (!buf || open_at(target, RACE_BASE, &pt, buf) || spt_start()) {
		diag("scans: %s", strerror(errno));
		if (buf)
			munmap(buf, bytes);
		spt_close();
		return -1;
	}
	sleep_us((long)secs * 1000000);
	if (waitpid(target, &status, WNOHANG) == target) {
		diag("scans: the target died (%s %d)", WIFEXITED(status) ? "exit" : "signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
		ret = -1;
	}
	if (spt_stop() || spt_close()) {
		diag("scans: shadowpt_stop/close: %s", strerror(errno));
		ret = -1;
	}
	munmap(buf, bytes);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned int ncycles = 1000, nkills = 200, nraces = 1000, nscan_secs = 5;
	unsigned int seed = (unsigned int)time(NULL);
	struct meminfo before, after;
	long slabinfo_before, slabinfo_after;
	pid_t target, unmapper;
	int opt;

	while ((opt = getopt(argc, argv, "c:k:r:S:s:")) != -1) {
		switch (opt) {
		case 'c':
			ncycles = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'k':
			nkills = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'r':
			nraces = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 'S':
			nscan_secs = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-c CYCLES] [-k KILLS] [-r RACES] [-S SCAN_SECONDS] [-s SEED]\n", argv[0]);
			return 2;
		}
	}
	page_sz = (size_t)sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..6\n");
	diag("seed %u, %u cycles, %u kills, %u races, %u s of scans", seed, ncycles, nkills,
	     nraces, nscan_secs);

	target = spawn(churn_forever);

	/*
	 * Warm up (and detect a kernel without shadowpt) before measuring:
	 * run every path once so that one-time allocations (KASAN's stack
	 * depot records each new allocation stack trace) happen before.
	 */
	if (cycles(target, 20) || kills(target, 20, &seed)) {
		tap(0, "warm-up cycles and kills (is this a shadowpt kernel?)");
		reap(target);
		printf("Bail out! shadowpt open/start/stop/close does not work\n");
		return 1;
	}
	tap(1, "warm-up: 20 open/start/stop/close cycles, 20 killed inspectors");
	if (read_meminfo(&before)) {
		printf("Bail out! cannot read /proc/meminfo\n");
		return 1;
	}
	slabinfo_before = slabinfo_active_kb();

	tap(cycles(target, ncycles) == 0,
	    "%u open/start/stop/close cycles against a churning target", ncycles);
	tap(kills(target, nkills, &seed) == 0,
	    "%u inspectors killed at random moments; the next open always succeeds",
	    nkills);

	reap(target);

	unmapper = spawn(unmap_forever);
	tap(races(unmapper, nraces) == 0,
	    "%u start/stop pairs while the target unmaps its region's last VMA", nraces);
	reap(unmapper);

	unmapper = spawn(scan_and_unmap_forever);
	tap(scans(unmapper, nscan_secs) == 0,
	    "%u s tracking a target that write-protects its window with PAGEMAP_SCAN while unmapping",
	    nscan_secs);
	reap(unmapper);
	sleep_us(200000);

	if (read_meminfo(&after)) {
		tap(0, "no leak: cannot read /proc/meminfo");
	} else {
		long d_free = before.memfree - after.memfree;
		long d_slab = after.slab - before.slab;
		long d_stack = after.kernelstack - before.kernelstack;
		long d_other = d_free - d_slab - (after.cached - before.cached) -
			       (after.buffers - before.buffers) -
			       (after.pagetables - before.pagetables) - d_stack -
			       (after.anon - before.anon);

		slabinfo_after = slabinfo_active_kb();
		diag("MemFree %ld -> %ld kB (used %+ld), Slab %ld -> %ld kB (%+ld), KernelStack %+ld kB",
		     before.memfree, after.memfree, d_free, before.slab, after.slab,
		     d_slab, d_stack);
		diag("used outside slab/cache/page tables/stacks/anon: %+ld kB (tolerance %d)",
		     d_other, OTHER_TOL_KB);
		if (slabinfo_before >= 0 && slabinfo_after >= 0)
			diag("/proc/slabinfo active objects: %ld -> %ld kB",
			     slabinfo_before, slabinfo_after);
		else
			diag("/proc/slabinfo not available");
		tap(d_other <= OTHER_TOL_KB && d_slab <= SLAB_TOL_KB &&
			    d_stack <= STACK_TOL_KB,
		    "no leak (other %+ld kB <= %d, slab %+ld kB <= %d, stack %+ld kB <= %d)",
		    d_other, OTHER_TOL_KB, d_slab, SLAB_TOL_KB, d_stack, STACK_TOL_KB);
	}
	return failed ? 1 : 0;
}
