// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Benchmark of one procfs backend sample (whole address space) for a
 * target with N touched pages (1k, 10k, 100k) and for one with a 32 GiB
 * PROT_NONE reservation plus one touched page, on the PAGEMAP_SCAN path
 * and on the forced fallback (smaps + pagemap). Prints "bench-procfs:"
 * lines. Not a test: run it by hand (as root for pfns).
 * Usage: bench-procfs-sample [iterations]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../backend.h"
#include "backend-procfs.h"

#define PG 4096ul

static pid_t spawn_target(size_t touched, size_t reserve, int *ctl)
{
	int up[2], down[2];
	pid_t pid;
	char c;

	if (pipe(up) || pipe(down))
		exit(1);
	pid = fork();
	if (pid < 0)
		exit(1);
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		if (touched) {
			char *p = mmap(NULL, touched * PG, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p == MAP_FAILED)
				_exit(1);
			/* No THP: N really means N small pages. */
			madvise(p, touched * PG, MADV_NOHUGEPAGE);
			for (size_t i = 0; i < touched; i++)
				p[i * PG] = 1;
		}
		if (reserve) {
			char *r = mmap(NULL, reserve, PROT_NONE,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

			if (r == MAP_FAILED || mprotect(r + reserve / 2, PG, PROT_READ | PROT_WRITE))
				_exit(1);
			r[reserve / 2] = 1;
		}
		if (write(up[1], "r", 1) != 1)
			_exit(1);
		while (read(down[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (read(up[0], &c, 1) != 1) {
		fprintf(stderr, "bench-procfs: target failed to start\n");
		exit(1);
	}
	close(up[0]);
	*ctl = down[1];
	return pid;
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void bench(const char *what, pid_t pid, enum spt_pagemap_mode mode, int iters)
{
	struct spt_state st;
	char why[256];
	void *h;
	double t0, best = 1e30, total = 0;
	int ret;

	ret = spt_procfs_open(pid, -1, 0, SPT_USER_ADDR_MAX, mode, &h, why, sizeof(why));
	if (ret) {
		fprintf(stderr, "bench-procfs: open: %s\n", why);
		exit(1);
	}
	spt_state_init(&st);
	spt_backend_procfs.sample(h, &st); /* warm up: buffers grow once */
	for (int i = 0; i < iters; i++) {
		double dt;

		spt_state_clear(&st);
		t0 = now_us();
		ret = spt_backend_procfs.sample(h, &st);
		dt = now_us() - t0;
		if (ret) {
			fprintf(stderr, "bench-procfs: sample: %s\n", strerror(-ret));
			exit(1);
		}
		total += dt;
		if (dt < best)
			best = dt;
	}
	printf("bench-procfs: %-34s %-8s mean %9.1f us  min %9.1f us  (%zu vmas, %llu pages in %zu "
	       "runs, %llu pagemap entries read)\n",
	       what, mode == SPT_PAGEMAP_AUTO ? (spt_procfs_last_stats(h)->used_scan ? "scan" : "auto")
					      : "fallback",
	       total / iters, best, st.nvmas, (unsigned long long)spt_state_npages(&st),
	       spt_state_nruns(&st),
	       (unsigned long long)spt_procfs_last_stats(h)->entries_read);
	spt_state_free(&st);
	spt_backend_procfs.close(h);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 1000, 10000, 100000 };
	int iters = argc > 1 ? atoi(argv[1]) : 20;
	char what[64];
	pid_t pid;
	int ctl;

	if (iters <= 0)
		iters = 20;
	printf("bench-procfs: %d samples per case, whole address space, euid %d\n", iters,
	       (int)geteuid());
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		pid = spawn_target(sizes[i], 0, &ctl);
		snprintf(what, sizeof(what), "%zu touched pages", sizes[i]);
		bench(what, pid, SPT_PAGEMAP_AUTO, iters);
		bench(what, pid, SPT_PAGEMAP_FORCE_FALLBACK, iters);
		close(ctl);
		waitpid(pid, NULL, 0);
	}
	pid = spawn_target(0, 32ul << 30, &ctl);
	bench("32 GiB reservation + 1 touched page", pid, SPT_PAGEMAP_AUTO, iters);
	bench("32 GiB reservation + 1 touched page", pid, SPT_PAGEMAP_FORCE_FALLBACK, iters);
	close(ctl);
	waitpid(pid, NULL, 0);
	return 0;
}
