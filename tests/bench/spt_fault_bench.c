// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * spt_fault_bench: what keeping a shadow page table costs the target's page
 * faults. Runs inside the VM (tests/bench/spt-overhead.sh boots it).
 *
 *   spt_fault_bench [-r ROUNDS] [-m MIB] [-t THREADS] [-n]
 *
 * One round maps MIB (64) MiB of private anonymous memory, writes one byte
 * to every page and unmaps it; the figure is the median round time. The
 * configurations take turns round by round (in rotating order), so that
 * slow drift of the (TCG) machine hits them alike; "paired" is the median
 * of each round's ratio to the "none" round next to it:
 *   none    no shadow page table exists
 *   none2   the same again: how far two runs of one configuration differ
 *           (the noise floor of the ratios below)
 *   table   a table tracks an 8 MiB window inside the region
 *   ring    the same, plus an event ring that the inspector drains only
 *           after the round: what recording costs the target alone (under
 *           QEMU's instruction counting, where all vCPUs share one clock,
 *           a reader draining meanwhile adds its own work to the round)
 *   events  the same, with the inspector draining the ring as records
 *           come, as shadowptd does
 * The inspector is another process (like shadowptd), started once: a
 * thread of the target itself would make its mm active on both CPUs and
 * its TLB flushes IPIs, which is not what is measured here.
 * With -t 2 a second thread of the target does the same loop on its own
 * region at the same time (outside the window); its rounds are not timed.
 * On a kernel without the series only "none" runs; -n does the same on a
 * kernel with it and never opens a table ("idle", "idle2"), so that the
 * two kernels compare as they are when nobody uses it (a table's open
 * and close flips a static key, and under TCG that costs the next rounds
 * too).
 * Output: one line per
 * configuration, "bench CONFIG threads=T median_ms=... rounds=...", then
 * the ratios.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
#define MIB (1UL << 20)

enum { CFG_NONE, CFG_NONE2, CFG_TABLE, CFG_RING, CFG_EVENTS, NCFG };
static const char *const cfg_name[NCFG] = { "none", "none2", "table", "ring", "events" };
/* -n: no table ever opened on a kernel with the series. */
static const char *const idle_name[2] = { "idle", "idle2" };

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* map, touch every page, unmap: one round at the fixed address base. */
static double fault_round(unsigned long base, unsigned long len)
{
	double t0 = now_ms();
	char *p = mmap((void *)base, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	unsigned long i;

	if (p != (char *)base) {
		perror("spt_fault_bench: mmap");
		exit(1);
	}
	for (i = 0; i < len; i += PG)
		p[i] = 1;
	munmap(p, len);
	return now_ms() - t0;
}

/*
 * A fixed place far below where mmap(NULL) puts things (top-down from
 * under the stack), so that the table and ring buffers the rounds map in
 * between never land in the hole a round leaves.
 */
#define REGION_BASE 0x200000000000UL

struct second {
	unsigned long base, len;
	volatile int quit;
	long rounds;
};

static void *second_thread(void *arg)
{
	struct second *s = arg;

	while (!s->quit) {
		fault_round(s->base, s->len);
		s->rounds++;
	}
	return NULL;
}

static int count_rec(const struct shadowpt_event *rec, void *arg)
{
	(void)rec;
	(*(unsigned long *)arg)++;
	return 0;
}

/* Open and start a table on [start, start + 8 MiB) of pid. */
static int table_on(pid_t pid, unsigned long start, void *buf)
{
	struct user_shadow_pt u = { start, start + MAX_SPT_RANGE, buf };

	if (spt_open(pid, &u) || spt_start()) {
		fprintf(stderr, "spt_fault_bench: shadowpt: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The inspector process: for each command byte ('t' table, 'r' table and
 * a ring drained at the end, 'e' table and a ring drained meanwhile) it
 * opens the table, answers, drains the ring until told to stop (any
 * byte), closes, and answers with the record count. 'f' opens and
 * closes a table at once and answers: the static key flips of a table
 * round, before a round without one (see main).
 */
static int inspector(pid_t target, unsigned long start, int in, int out)
{
	size_t bytes = spt_entries_bytes(start, start + MAX_SPT_RANGE, PG);
	/* Reused every round: close leaves it an untouched anonymous range. */
	void *buf = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char c;

	while (read(in, &c, 1) == 1) {
		struct spt_kernel_events ev;
		unsigned long records = 0;
		int events = c == 'e' || c == 'r', live = c == 'e', done = 0;

		if (table_on(target, start, buf))
			return 1;
		if (c == 'f') {
			spt_stop();
			spt_close();
			write(out, "r", 1);
			continue;
		}
		/*
		 * 256 pages hold 16384 records; a table makes 3 per page of
		 * its 2048 (mmap, fault, munmap) in each of the untimed and the
		 * timed round: 12288, so 'r' keeps them all until the end.
		 */
		if (events && spt_kernel_events_open(&ev, 256)) {
			fprintf(stderr, "spt_fault_bench: events: %s\n", strerror(errno));
			return 1;
		}
		write(out, "r", 1);
		while (!done) {
			struct pollfd p[2] = {
				{ .fd = in, .events = POLLIN },
				{ .fd = live ? spt_kernel_events_fd(&ev) : -1, .events = POLLIN },
			};

			poll(p, 2, -1);
			if (live)
				spt_kernel_events_drain(&ev, 0, count_rec, &records);
			if (p[0].revents) {
				read(in, &c, 1);
				done = 1;
			}
		}
		if (events) {
			spt_kernel_events_drain(&ev, 0, count_rec, &records);
			spt_kernel_events_close(&ev);
		}
		spt_stop();
		spt_close();
		write(out, &records, sizeof(records));
	}
	return 0;
}

int main(int argc, char **argv)
{
	int rounds = 20, threads = 1, opt, ncfg = NCFG, c, i, k;
	unsigned long mib = 64, len, base;
	double *t[NCFG], med[NCFG];
	struct second sec = { 0 };
	int to_i[2], from_i[2];
	pid_t ipid = -1;
	pthread_t sth;
	char why[128];
	int none_only = 0;

	while ((opt = getopt(argc, argv, "r:m:t:n")) != -1) {
		if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'm')
			mib = strtoul(optarg, NULL, 0);
		else if (opt == 't')
			threads = atoi(optarg);
		else if (opt == 'n')
			none_only = 1;
		else
			return 2;
	}
	len = mib * MIB;
	base = REGION_BASE;
	if (len < 32 * MIB)
		return 1;
	if (none_only || access("/sys/kernel/mm/shadowpt/abi_version", F_OK))
		ncfg = 2;	/* kernel without the series, or -n: baseline only */
	else if (spt_kernel_events_probe(why, sizeof(why)))
		ncfg = 3;
	for (c = 0; c < NCFG; c++)
		t[c] = calloc(rounds, sizeof(double));
	if (threads > 1) {
		sec.len = len;
		sec.base = REGION_BASE + 2 * len;
		pthread_create(&sth, NULL, second_thread, &sec);
	}
	/* Warm up: the first rounds populate page tables and caches. */
	fault_round(base, len);
	fault_round(base, len);

	if (ncfg > CFG_TABLE) {
		if (pipe(to_i) || pipe(from_i))
			return 1;
		ipid = fork();
		if (ipid == 0) {
			close(to_i[1]);
			close(from_i[0]);
			_exit(inspector(getppid(), base + 16 * MIB, to_i[0], from_i[1]));
		}
		close(to_i[0]);
		close(from_i[1]);
	}
	for (i = 0; i < rounds; i++) {
		for (k = 0; k < ncfg; k++) {
			unsigned long records = 0;
			char ack;

			/* Each configuration in every position, in turn. */
			c = (i + k) % ncfg;
			/*
			 * Opening and closing a table flips the hooks' static key,
			 * which rewrites kernel text; under TCG that drops the
			 * translated code of the fault path. So a round without a
			 * table comes after the same flips as one with (else "none",
			 * which follows a table's close, and "none2", which does not,
			 * differ by more than what is measured), and a short untimed
			 * round translates the code again.
			 */
			if (ncfg > CFG_TABLE) {
				write(to_i[1], c == CFG_EVENTS ? "e" : c == CFG_RING ? "r" :
				      c == CFG_TABLE ? "t" : "f", 1);
				if (read(from_i[0], &ack, 1) != 1)
					return 1;
			}
			fault_round(base + 16 * MIB, 8 * MIB);
			t[c][i] = fault_round(base, len);
			if (c >= CFG_TABLE) {
				write(to_i[1], "s", 1);
				if (read(from_i[0], &records, sizeof(records)) != sizeof(records))
					return 1;
			}
			if (c >= CFG_RING && records < 3 * 2048)
				fprintf(stderr, "spt_fault_bench: only %lu records\n", records);
		}
	}
	if (ncfg > CFG_TABLE) {
		close(to_i[1]);
		waitpid(ipid, NULL, 0);
	}
	if (threads > 1) {
		sec.quit = 1;
		pthread_join(sth, NULL);
	}
	for (c = 0; c < ncfg; c++) {
		med[c] = median(t[c], rounds);
		printf("bench %s threads=%d median_ms=%.1f rounds=%d mib=%lu\n",
		       none_only ? idle_name[c] : cfg_name[c], threads, med[c], rounds, mib);
	}
	for (c = 1; c < ncfg; c++) {
		/* Also the median of the rounds' own ratios: neighbours in time. */
		double *r = calloc(rounds, sizeof(double)), pm;

		for (i = 0; i < rounds; i++)
			r[i] = t[c][i] / t[CFG_NONE][i];
		pm = median(r, rounds);
		printf("bench ratio %s/%s threads=%d %.4f (%+.2f%%) paired %.4f (%+.2f%%)\n",
		       none_only ? idle_name[c] : cfg_name[c], none_only ? "idle" : "none",
		       threads, med[c] / med[CFG_NONE],
		       (med[c] / med[CFG_NONE] - 1) * 100, pm, (pm - 1) * 100);
		free(r);
	}
	if (threads > 1)
		printf("# second thread ran %ld rounds meanwhile\n", sec.rounds);
	return 0;
}
