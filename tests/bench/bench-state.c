// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * bench-state: what the run-length page-state model costs for the
 * targets of issue 10: a process with 1M written pages (4 GiB, no THP),
 * and 16 GiB and 1 TiB mappings of the huge zero page (PROT_READ,
 * MAP_NORESERVE, MADV_HUGEPAGE, one byte read per 2 MiB: free for any
 * user). Per target: one procfs sample of the whole address space, the
 * state's heap bytes per page (and what the one-entry-per-page model
 * would have held: 24-byte entries in a doubling array), a diff of two
 * samples, a one-page update_pages, snapshot encoding for protocol 2
 * (raw pfns and tokens) and protocol 1, and the client's decoding.
 * Prints "bench-state:" lines; figures only. Run as root (pfns).
 *
 * Usage: bench-state [--no-tib]
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

#include "backend.h"
#include "backend-procfs.h"
#include "convert.h"
#include "tokenmap.h"

#define PG 4096ul
#define HUGE_2M (2ul << 20)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Maps len bytes PROT_READ, 2 MiB aligned, and reads one byte per 2 MiB. */
static int map_huge_zero(size_t len)
{
	char *raw = mmap(NULL, len + HUGE_2M, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		return -1;
	p = (char *)(((uintptr_t)raw + HUGE_2M - 1) & ~(HUGE_2M - 1));
	if (madvise(p, len, MADV_HUGEPAGE))
		return -1;
	for (size_t off = 0; off < len; off += HUGE_2M)
		(void)*(volatile char *)(p + off);
	return 0;
}

static int map_written(size_t pages)
{
	char *p = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);

	if (p == MAP_FAILED)
		return -1;
	madvise(p, pages * PG, MADV_NOHUGEPAGE); /* 1M pages means 1M small pages */
	for (size_t i = 0; i < pages; i++)
		p[i * PG] = 1;
	return 0;
}

/* A child that maps what kind says, then waits; *ctl closes to end it. */
static pid_t spawn(int kind, size_t arg, int *ctl)
{
	int up[2], down[2];
	pid_t pid;
	char c;

	if (pipe(up) || pipe(down))
		exit(1);
	pid = fork();
	if (pid == 0) {
		close(up[0]);
		close(down[1]);
		if ((kind ? map_huge_zero(arg) : map_written(arg)) || write(up[1], "r", 1) != 1)
			_exit(1);
		while (read(down[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	if (pid < 0 || read(up[0], &c, 1) != 1) {
		fprintf(stderr, "bench-state: target failed to start\n");
		exit(1);
	}
	close(up[0]);
	*ctl = down[1];
	return pid;
}

static int sample(void *h, struct spt_state *st, double *secs)
{
	double t0 = now_s();
	int r;

	spt_state_clear(st);
	r = spt_backend_procfs.sample(h, st);
	*secs = now_s() - t0;
	return r;
}

/* What the one-entry-per-page model held: 24-byte entries, capacity doubling from 16. */
static double old_bytes(uint64_t pages)
{
	uint64_t cap = 16;

	while (cap < pages)
		cap *= 2;
	return (double)(pages ? cap : 0) * 24.0;
}

static void encode(const char *what, const struct spt_state *st, uint32_t proto, bool tokens)
{
	struct spt_snapshot_meta meta = {.watch_id = 1, .seq = 1, .proto = proto};
	struct spt_tokenmap tm;
	struct spt_encoded *frames;
	size_t n, bytes = 0;
	double t0, dt;
	int r;

	tokenmap_init(&tm);
	t0 = now_s();
	r = spt_snapshot_encode(st, &meta, tokens ? tokenmap_map_fn : NULL, tokens ? &tm : NULL,
				&frames, &n);
	dt = now_s() - t0;
	if (r) {
		printf("bench-state: %-22s snapshot protocol %u%s: refused (%s)\n", what, proto,
		       tokens ? " tokens" : "", strerror(-r));
		tokenmap_free(&tm);
		return;
	}
	for (size_t i = 0; i < n; i++)
		bytes += frames[i].len;
	printf("bench-state: %-22s snapshot protocol %u%s: %8.1f ms  %10zu bytes  %5zu frames",
	       what, proto, tokens ? " tokens" : "       ", dt * 1e3, bytes, n);
	if (tokens)
		printf("  (%zu token intervals)", tm.ivl.nruns);
	if (proto == 2 && !tokens) {
		/* The client's side: decode and apply every chunk. */
		struct spt_state back;
		bool ok = true;

		spt_state_init(&back);
		t0 = now_s();
		for (size_t i = 0; i < n && ok; i++) {
			size_t plen;
			SptFrame *f = spt_frame_check(frames[i].data, frames[i].len,
						      SPT_MAX_SERVER_FRAME, &plen) == 1
					      ? spt_frame_decode(frames[i].data + SPT_FRAME_HEADER_SIZE,
								 plen)
					      : NULL;

			ok = f && spt_snapshot_apply_chunk(&back, f->snapshot, (uint32_t)i) == 0;
			spt_frame_free(f);
		}
		dt = now_s() - t0;
		printf("  decode %.1f ms%s", dt * 1e3, ok && spt_state_equal(&back, st) ? "" : " WRONG");
		spt_state_free(&back);
	}
	putchar('\n');
	spt_encoded_free_array(frames, n);
	tokenmap_free(&tm);
}

static void bench(const char *what, pid_t pid)
{
	struct spt_state st, st2, one;
	struct spt_delta d;
	struct spt_run_iter it;
	struct spt_run r, mid = {0};
	double ts, ts2, t0, dt;
	char why[256];
	void *h;
	int ret;

	ret = spt_procfs_open(pid, -1, 0, SPT_USER_ADDR_MAX, SPT_PAGEMAP_AUTO, &h, why, sizeof(why));
	if (ret) {
		fprintf(stderr, "bench-state: open: %s\n", why);
		exit(1);
	}
	spt_state_init(&st);
	spt_state_init(&st2);
	spt_state_init(&one);
	spt_delta_init(&d);
	if (sample(h, &st, &ts) || sample(h, &st2, &ts2)) {
		fprintf(stderr, "bench-state: sample failed\n");
		exit(1);
	}
	printf("bench-state: %-22s sample %8.1f ms  %zu vmas  %llu pages  %zu runs  "
	       "%zu bytes = %.2f B/page (one entry per page: %.0f bytes = %.2f B/page)\n",
	       what, ts2 * 1e3, st.nvmas, (unsigned long long)spt_state_npages(&st),
	       spt_state_nruns(&st), spt_state_memory(&st),
	       (double)spt_state_memory(&st) / (double)spt_state_npages(&st),
	       old_bytes(spt_state_npages(&st)),
	       old_bytes(spt_state_npages(&st)) / (double)spt_state_npages(&st));
	t0 = now_s();
	spt_state_diff(&st, &st2, &d);
	dt = now_s() - t0;
	printf("bench-state: %-22s diff of two samples %.1f ms (%zu runs changed)\n", what,
	       dt * 1e3, d.nruns);
	/* One page in the middle of the biggest region changes, 1000 times. */
	spt_run_iter_all(&it, &st);
	for (size_t k = 0; spt_run_iter_next(&it, &r); k++)
		if (k == spt_state_nruns(&st) / 2)
			mid = r;
	t0 = now_s();
	for (int i = 0; i < 1000; i++) {
		struct spt_page p = {.vaddr = mid.vaddr, .flags = mid.flags, .pfn = 7 + (uint64_t)i};

		spt_state_clear(&one);
		spt_state_append_page(&one, &p);
		spt_delta_clear(&d);
		spt_state_update_pages(&st2, p.vaddr, p.vaddr + PG, &one, 1, &d);
	}
	dt = now_s() - t0;
	printf("bench-state: %-22s one-page update_pages %.2f us\n", what, dt / 1000 * 1e6);
	encode(what, &st, 2, false);
	encode(what, &st, 2, true);
	encode(what, &st, 1, false);
	spt_delta_free(&d);
	spt_state_free(&st);
	spt_state_free(&st2);
	spt_state_free(&one);
	spt_backend_procfs.close(h);
}

int main(int argc, char **argv)
{
	bool tib = !(argc > 1 && !strcmp(argv[1], "--no-tib"));
	static const struct {
		const char *what;
		int kind;
		size_t arg;
	} cases[] = {
		{"1M written pages", 0, 1ul << 20},
		{"16 GiB huge zero page", 1, 16ul << 30},
		{"1 TiB huge zero page", 1, 1ul << 40},
	};

	printf("bench-state: procfs backend, whole address space, euid %d\n", (int)geteuid());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ctl;
		pid_t pid;

		if (!tib && cases[i].arg == 1ul << 40)
			continue;
		pid = spawn(cases[i].kind, cases[i].arg, &ctl);
		bench(cases[i].what, pid);
		close(ctl);
		waitpid(pid, NULL, 0);
	}
	return 0;
}
