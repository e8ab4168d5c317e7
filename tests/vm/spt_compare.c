// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * spt_compare: the kernel's shadow page table against /proc/PID/pagemap and
 * /proc/PID/maps, on programs nobody here wrote (the kernel's own
 * tools/testing/selftests/mm binaries).
 *
 *   spt_compare [-r] [-v] [-s SEED] [-t SECONDS] [-m MIN_MS] [-M MAX_MS] -- PROG ARGS...
 *
 * Runs PROG in its own process group (its output to /dev/null unless -v)
 * and, until it exits (with -r: until SECONDS pass, starting it again each
 * time it exits) or SECONDS (60) pass, over and over: lets it run for a
 * random MIN_MS..MAX_MS (5..150),
 * stops it (SIGSTOP to the group), compares every entry of the table that
 * tracked it meanwhile with ground truth (the three flags and the pfn),
 * then moves the table to a new random window (8 MiB or the whole VMA if
 * smaller, inside a random VMA, bigger VMAs likelier) and continues it.
 * Kernel threads (khugepaged, reclaim, compaction) may still change the
 * target while it is stopped: a comparison that disagrees is repeated
 * for up to a second, and only a disagreement that persists counts.
 *
 * Prints "compare PROG runs=N stops=N windows=N compared=N mapped=N
 * agreed=N disagreed=N" (mapped: compared entries that procfs shows
 * mapped) plus the first disagreements; exit 0 iff none. Needs root and a kernel
 * with the shadowpt series.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spt_sys.h"

#define PG 4096UL
#define SPT_ALL (SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS | SPTE_PTE_MAPPED)
#define MAX_VMAS 65536
#define REPORT 10

struct vma {
	unsigned long start, end;
	char perms[8];
	char path[256];
};

static struct vma vmas[MAX_VMAS];
static int nvmas;

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int read_maps(pid_t pid)
{
	char fn[64], line[512];
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "r");
	if (!f)
		return -1;
	nvmas = 0;
	while (nvmas < MAX_VMAS && fgets(line, sizeof(line), f)) {
		struct vma *v = &vmas[nvmas];
		int off = 0;

		v->path[0] = 0;
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s%n", &v->start, &v->end, v->perms,
			   &off) < 3)
			continue;
		sscanf(line + off, " %255[^\n]", v->path);
		nvmas++;
	}
	fclose(f);
	return 0;
}

/* vma_is_anonymous() as maps shows it (see kernel/tests/spt_selftest.c). */
static int is_anon(const struct vma *v)
{
	if (v->perms[3] != 'p')
		return 0;
	return !v->path[0] || !strcmp(v->path, "[heap]") || !strcmp(v->path, "[stack]") ||
	       !strncmp(v->path, "[anon:", 6);
}

/* Expected entries of [start, start + n pages). */
static int truth(pid_t pid, unsigned long start, unsigned long n, struct shadow_pte *out)
{
	unsigned long end = start + n * PG, i, a;
	uint64_t *pm;
	char fn[64];
	int fd, k;

	if (read_maps(pid))
		return -1;
	for (i = 0; i < n; i++)
		out[i] = (struct shadow_pte){ start + i * PG, 0, 0 };
	for (k = 0; k < nvmas; k++) {
		for (a = vmas[k].start > start ? vmas[k].start : start;
		     a < vmas[k].end && a < end; a += PG)
			out[(a - start) / PG].state_flags = SPTE_VADDR_ALLOCATED |
				(is_anon(&vmas[k]) ? SPTE_VADDR_ANONYMOUS : 0);
	}
	snprintf(fn, sizeof(fn), "/proc/%d/pagemap", pid);
	fd = open(fn, O_RDONLY);
	if (fd < 0)
		return -1;
	pm = calloc(n, 8);
	if (pread(fd, pm, n * 8, (start / PG) * 8) != (ssize_t)(n * 8)) {
		free(pm);
		close(fd);
		return -1;
	}
	close(fd);
	for (i = 0; i < n; i++) {
		if (pm[i] >> 63) {
			out[i].state_flags |= SPTE_PTE_MAPPED;
			out[i].pfn = pm[i] & ((1ULL << 55) - 1);
		}
	}
	free(pm);
	return 0;
}

struct table {
	struct user_shadow_pt u;
	struct shadow_pte *e;
	size_t bytes;
	unsigned long n;
	int open;
};

static int table_open(struct table *t, pid_t pid, unsigned long start, unsigned long n)
{
	memset(t, 0, sizeof(*t));
	t->n = n;
	t->bytes = spt_entries_bytes(start, start + n * PG, PG);
	t->e = mmap(NULL, t->bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->e == MAP_FAILED)
		return -errno;
	t->u = (struct user_shadow_pt){ start, start + n * PG, t->e };
	if (spt_open(pid, &t->u) || spt_start()) {
		int e = -errno;

		spt_close();
		munmap(t->e, t->bytes);
		return e;
	}
	t->open = 1;
	return 0;
}

static void table_close(struct table *t)
{
	if (t->open) {
		spt_stop();
		spt_close();
		munmap(t->e, t->bytes);
	}
	t->open = 0;
}

/* A copy in which no entry is torn: two reads that agree. */
static void table_snap(const struct table *t, struct shadow_pte *out, struct shadow_pte *tmp)
{
	int i;

	for (i = 0; i < 1000; i++) {
		memcpy(out, t->e, t->n * sizeof(*out));
		memcpy(tmp, t->e, t->n * sizeof(*tmp));
		if (!memcmp(out, tmp, t->n * sizeof(*tmp)))
			break;
	}
}

static int eq(const struct shadow_pte *a, const struct shadow_pte *b)
{
	return a->vaddr == b->vaddr && (a->state_flags & SPT_ALL) == (b->state_flags & SPT_ALL) &&
	       a->pfn == b->pfn;
}

static unsigned long compared, agreed, disagreed, reported, mapped;

/* Compare every entry; repeat for up to a second while some disagree. */
static void compare(const struct table *t, pid_t pid, const char *prog)
{
	struct shadow_pte *s = calloc(t->n, sizeof(*s)), *g = calloc(t->n, sizeof(*g));
	struct shadow_pte *tmp = calloc(t->n, sizeof(*tmp));
	long deadline = now_ms() + 1000;
	unsigned long i, bad;

	for (;;) {
		table_snap(t, s, tmp);
		if (truth(pid, t->u.start_vaddr, t->n, g))
			goto out;	/* the target is gone */
		for (bad = 0, i = 0; i < t->n; i++)
			bad += !eq(&s[i], &g[i]);
		if (!bad || now_ms() > deadline)
			break;
		msleep(20);
	}
	compared += t->n;
	for (i = 0; i < t->n; i++)
		mapped += !!(g[i].state_flags & SPTE_PTE_MAPPED);
	agreed += t->n - bad;
	disagreed += bad;
	for (i = 0; i < t->n && bad && reported < REPORT; i++) {
		if (eq(&s[i], &g[i]))
			continue;
		reported++;
		printf("# %s: disagree at 0x%lx: table flags %lu pfn 0x%lx, procfs flags %lu pfn 0x%lx\n",
		       prog, s[i].vaddr, s[i].state_flags & SPT_ALL, s[i].pfn,
		       g[i].state_flags & SPT_ALL, g[i].pfn);
	}
out:
	free(s);
	free(g);
	free(tmp);
}

/* A random window: bigger VMAs likelier, at a random offset inside. */
static int pick_window(pid_t pid, unsigned int *seed, unsigned long *start, unsigned long *n)
{
	unsigned long total = 0, r, pages;
	int k;

	if (read_maps(pid) || !nvmas)
		return -1;
	for (k = 0; k < nvmas; k++)
		if (strcmp(vmas[k].path, "[vsyscall]"))
			total += (vmas[k].end - vmas[k].start) / PG;
	if (!total)
		return -1;
	r = (unsigned long)rand_r(seed) % total;
	for (k = 0; k < nvmas; k++) {
		if (!strcmp(vmas[k].path, "[vsyscall]"))
			continue;
		pages = (vmas[k].end - vmas[k].start) / PG;
		if (r < pages)
			break;
		r -= pages;
	}
	pages = (vmas[k].end - vmas[k].start) / PG;
	*n = MAX_SPT_RANGE / PG;
	/* Start a little before the VMA at times, to include its edge. */
	*start = vmas[k].start + (pages > *n ? ((unsigned long)rand_r(seed) % (pages - *n + 1)) * PG : 0);
	if (rand_r(seed) % 4 == 0 && *start >= vmas[k].start + 0 && *start > 16 * PG)
		*start -= ((unsigned long)rand_r(seed) % 16) * PG;
	if (*start + *n * PG > 0x7ffffffff000UL)
		*n = (0x7ffffffff000UL - *start) / PG;
	return *n ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned int seed = (unsigned int)time(NULL);
	long seconds = 60, min_ms = 5, max_ms = 150, deadline;
	unsigned long stops = 0, windows = 0, runs = 0, start, n;
	int opt, st = 0, exited = 0, repeat = 0, verbose = 0;
	struct table t = { 0 };
	const char *prog;
	pid_t pid;

	while ((opt = getopt(argc, argv, "+rvs:t:m:M:")) != -1) {
		switch (opt) {
		case 'r':
			repeat = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 's':
			seed = (unsigned int)strtoul(optarg, NULL, 0);
			break;
		case 't':
			seconds = atol(optarg);
			break;
		case 'm':
			min_ms = atol(optarg);
			break;
		case 'M':
			max_ms = atol(optarg);
			break;
		default:
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: spt_compare [-s SEED] [-t SECONDS] [-m MIN_MS] [-M MAX_MS] -- PROG ARGS...\n");
		return 2;
	}
	prog = strrchr(argv[optind], '/') ? strrchr(argv[optind], '/') + 1 : argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# %s: seed %u\n", prog, seed);
	deadline = now_ms() + seconds * 1000;
again:
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		if (!verbose) {
			int null = open("/dev/null", O_RDWR);

			dup2(null, 1);
			dup2(null, 2);
		}
		execv(argv[optind], argv + optind);
		_exit(127);
	}
	setpgid(pid, pid);
	runs++;
	exited = 0;
	while (!exited && now_ms() < deadline) {
		msleep(min_ms + rand_r(&seed) % (max_ms - min_ms + 1));
		if (kill(-pid, SIGSTOP))
			break;
		/* Wait until the leader is stopped (or gone). */
		if (waitpid(pid, &st, WUNTRACED) == pid && !WIFSTOPPED(st)) {
			exited = 1;
			break;
		}
		stops++;
		if (t.open)
			compare(&t, pid, prog);
		table_close(&t);
		if (!pick_window(pid, &seed, &start, &n) && !table_open(&t, pid, start, n))
			windows++;
		kill(-pid, SIGCONT);
	}
	table_close(&t);
	if (exited && repeat && now_ms() < deadline) {
		kill(-pid, SIGKILL);	/* what it left behind */
		goto again;
	}
	table_close(&t);
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(-pid, SIGCONT);
		waitpid(pid, &st, 0);
	}
	printf("compare %s runs=%lu stops=%lu windows=%lu compared=%lu mapped=%lu agreed=%lu disagreed=%lu%s\n",
	       prog, runs, stops, windows, compared, mapped, agreed, disagreed,
	       exited ? (WIFEXITED(st) ? "" : " (killed by a signal)") : " (time limit)");
	return disagreed ? 1 : 0;
}
