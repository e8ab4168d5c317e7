// SPDX-License-Identifier: GPL-2.0
/*
 * inspector: print the shadow page table of a window of another process.
 *
 *   inspector [-n COUNT] [-i MSEC] [-q] [-S] <target_pid> <start> <end>
 *
 * <start> and <end> are hex (0x...) or decimal; <end> is exclusive. The
 * kernel truncates the window to MAX_SPT_RANGE bytes; the inspector reports
 * that. Once a second (or every -i MSEC) it prints one line per page that is
 * allocated or mapped -- virtual address, flags, pfn -- and a summary line.
 * Flags: A = SPTE_VADDR_ALLOCATED, N = SPTE_VADDR_ANONYMOUS,
 * M = SPTE_PTE_MAPPED, '-' where a flag is clear.
 *
 * Between two tables it waits on the kernel's event file (shadowpt_events(),
 * when /sys/kernel/mm/shadowpt/events_version says it exists) rather than
 * sleeping, and prints each transition as it arrives:
 *   event SEQ CAUSE VADDR OLD -> NEW pfn OLDPFN -> NEWPFN
 * and "lost N" when the kernel had to drop records. -S sleeps instead.
 *
 * Ctrl-C or SIGTERM stops tracking, closes the table and exits 0. -n COUNT
 * stops after COUNT tables; -q prints only the summary lines.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <poll.h>

#include "kernel-events.h"
#include "spt_sys.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n COUNT] [-i MSEC] [-q] [-S] <target_pid> <start> <end>\n"
		"  addresses in hex (0x...) or decimal; end is exclusive\n"
		"  -S: sleep between tables instead of waiting for kernel events\n",
		prog);
	exit(2);
}

static void flags_str(char out[4], unsigned long f)
{
	out[0] = is_vaddr_allocated(f) ? 'A' : '-';
	out[1] = is_vaddr_anonymous(f) ? 'N' : '-';
	out[2] = is_pte_mapped(f) ? 'M' : '-';
	out[3] = '\0';
}

static int print_event(const struct shadowpt_event *r, void *arg)
{
	char of[4], nf[4];
	int quiet = *(int *)arg;

	if (r->type == SHADOWPT_EVENT_LOST) {
		printf("lost %llu (from seq %llu): the next table is the state\n",
		       (unsigned long long)r->count, (unsigned long long)r->seq);
		return 0;
	}
	if (quiet)
		return 0;
	flags_str(of, r->old_flags);
	flags_str(nf, r->new_flags);
	printf("event %llu %s 0x%016llx %s -> %s pfn 0x%llx -> 0x%llx\n",
	       (unsigned long long)r->seq, spt_kernel_event_cause_name(r->cause),
	       (unsigned long long)r->vaddr, of, nf, (unsigned long long)r->old_pfn,
	       (unsigned long long)r->new_pfn);
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Wait up to ms for the next table, printing kernel events as they come.
 * Returns 1 when the table went away (POLLHUP), else 0.
 */
static int wait_events(struct spt_kernel_events *ev, long ms, int quiet)
{
	long deadline = now_ms() + ms;

	for (;;) {
		struct pollfd p = { .fd = spt_kernel_events_fd(ev), .events = POLLIN };
		long left = deadline - now_ms();
		int n;

		if (left < 0 || stop_requested)
			return 0;
		n = poll(&p, 1, (int)left);
		if (n < 0)
			return 0;	/* EINTR: a signal, let the caller look */
		if (p.revents & POLLIN) {
			spt_kernel_events_drain(ev, 0, print_event, &quiet);
			fflush(stdout);
		}
		if (p.revents & (POLLHUP | POLLERR))
			return 1;
	}
}

static int parse_ulong(const char *s, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 0);
	return (errno || end == s || *end || s[0] == '-') ? -1 : 0;
}

static void print_table(const struct user_shadow_pt *pt, size_t n, int quiet,
			unsigned int round)
{
	size_t i, alloc = 0, anon = 0, mapped = 0, shown = 0;

	if (!quiet)
		printf("--- table %u: [0x%lx, 0x%lx) ---\n", round,
		       pt->start_vaddr, pt->end_vaddr);
	for (i = 0; i < n; i++) {
		const struct shadow_pte *e = &pt->entries[i];
		unsigned long f = e->state_flags;

		if (is_vaddr_allocated(f))
			alloc++;
		if (is_vaddr_anonymous(f))
			anon++;
		if (is_pte_mapped(f))
			mapped++;
		if (quiet || !(is_vaddr_allocated(f) || is_pte_mapped(f)))
			continue;
		shown++;
		printf("0x%016lx %c%c%c pfn 0x%lx\n", e->vaddr,
		       is_vaddr_allocated(f) ? 'A' : '-',
		       is_vaddr_anonymous(f) ? 'N' : '-',
		       is_pte_mapped(f) ? 'M' : '-', e->pfn);
	}
	printf("summary %u: %zu pages, %zu allocated, %zu anonymous, %zu mapped\n",
	       round, n, alloc, anon, mapped);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	unsigned long pid_ul, start, end, requested_end, count = 0;
	unsigned long interval_ms = 1000;
	struct user_shadow_pt pt;
	struct sigaction sa;
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes, n;
	unsigned int round = 0;
	int quiet = 0, opt, rc = 0, use_events = 1, have_events = 0;
	struct spt_kernel_events ev;
	char why[128];
	void *buf;

	while ((opt = getopt(argc, argv, "n:i:qSh")) != -1) {
		switch (opt) {
		case 'n':
			if (parse_ulong(optarg, &count))
				usage(argv[0]);
			break;
		case 'i':
			if (parse_ulong(optarg, &interval_ms) || !interval_ms)
				usage(argv[0]);
			break;
		case 'q':
			quiet = 1;
			break;
		case 'S':
			use_events = 0;
			break;
		default:
			usage(argv[0]);
		}
	}
	if (argc - optind != 3)
		usage(argv[0]);
	if (parse_ulong(argv[optind], &pid_ul) || !pid_ul || pid_ul > INT32_MAX) {
		fprintf(stderr, "inspector: bad pid '%s'\n", argv[optind]);
		return 2;
	}
	if (parse_ulong(argv[optind + 1], &start) ||
	    parse_ulong(argv[optind + 2], &end)) {
		fprintf(stderr, "inspector: bad address\n");
		return 2;
	}
	if (end <= start) {
		fprintf(stderr, "inspector: end (0x%lx) must be above start (0x%lx)\n",
			end, start);
		return 2;
	}
	requested_end = end;
	/* The kernel keeps at most MAX_SPT_RANGE bytes: size the buffer for that. */
	if (end - start > MAX_SPT_RANGE)
		end = start + MAX_SPT_RANGE;
	bytes = spt_entries_bytes(start, end, page);

	/* Never touched before shadowpt_open: the kernel maps the table here. */
	buf = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		fprintf(stderr, "inspector: mmap(%zu bytes): %s\n", bytes,
			strerror(errno));
		return 1;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: let the signal cut the sleep short */
	if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
		fprintf(stderr, "inspector: sigaction: %s\n", strerror(errno));
		return 1;
	}

	pt.start_vaddr = start;
	pt.end_vaddr = requested_end;
	pt.entries = buf;
	if (spt_open((pid_t)pid_ul, &pt)) {
		fprintf(stderr, "inspector: shadowpt_open(pid %lu, [0x%lx, 0x%lx)): %s\n",
			pid_ul, start, requested_end, strerror(errno));
		return 1;
	}
	if (pt.end_vaddr != requested_end)
		printf("end truncated from 0x%lx to 0x%lx (MAX_SPT_RANGE 0x%lx)\n",
		       requested_end, pt.end_vaddr, (unsigned long)MAX_SPT_RANGE);
	if (pt.end_vaddr <= pt.start_vaddr)
		n = 0;
	else
		n = (((pt.end_vaddr + page - 1) & ~(page - 1)) -
		     (pt.start_vaddr & ~(page - 1))) / page;
	if (n * sizeof(struct shadow_pte) > bytes) {
		fprintf(stderr, "inspector: kernel returned [0x%lx, 0x%lx), larger than the buffer\n",
			pt.start_vaddr, pt.end_vaddr);
		n = bytes / sizeof(struct shadow_pte);
	}

	/* Events first: the first table then shows what they start from. */
	if (use_events && !spt_kernel_events_probe(why, sizeof(why))) {
		int e = spt_kernel_events_open(&ev, 0);

		if (e)
			fprintf(stderr, "inspector: shadowpt_events: %s (sleeping instead)\n",
				strerror(-e));
		have_events = !e;
	}
	if (spt_start()) {
		fprintf(stderr, "inspector: shadowpt_start: %s\n", strerror(errno));
		rc = 1;
		goto close;
	}
	/* What start itself wrote is in the first table. */
	if (have_events)
		spt_kernel_events_drain(&ev, 0, print_event, &(int){ 1 });

	while (!stop_requested) {
		struct timespec ts = {
			.tv_sec = interval_ms / 1000,
			.tv_nsec = (long)(interval_ms % 1000) * 1000000L,
		};

		print_table(&pt, n, quiet, ++round);
		if (count && round >= count)
			break;
		if (have_events) {
			if (wait_events(&ev, (long)interval_ms, quiet))
				break;
		} else {
			/* nanosleep returns early with EINTR on SIGINT/SIGTERM. */
			nanosleep(&ts, NULL);
		}
	}
	if (have_events)
		spt_kernel_events_close(&ev);

	if (spt_stop()) {
		fprintf(stderr, "inspector: shadowpt_stop: %s\n", strerror(errno));
		rc = 1;
	}
close:
	if (spt_close()) {
		fprintf(stderr, "inspector: shadowpt_close: %s\n", strerror(errno));
		rc = 1;
	}
	return rc;
}
