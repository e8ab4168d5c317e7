// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vm_e2e: shadowptd on the patched kernel, end to end (runs inside the VM).
 *
 * Starts the real daemon and the real workload, and opens viewers over the
 * real socket: two forced onto the kernel backend, one forced onto procfs,
 * one that joins mid-stream, and a real `shadowctl watch` that is killed
 * mid-stream. After every workload step the target is stopped and each
 * viewer's reconstructed table must equal /proc ground truth (read here,
 * independently of the daemon's parser) on the three spec flags and pfns,
 * and every kernel viewer must have received a delta for the step. Then:
 * a second target's auto watch falls back to procfs while the kernel table
 * is taken (and says so), the target exits (final delta, TargetExited), and
 * the daemon stopped with SIGTERM while tracking releases the kernel table
 * (a fresh shadowpt_open succeeds right after).
 *
 * Usage: vm_e2e DAEMON CLIENT TARGET       TAP output; exit 0 iff all pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "convert.h"
#include "test-common.h"

#define SOCK_PATH "/run/shadowptd/e2e.sock"
#define WINDOW (8ull << 20) /* MAX_SPT_RANGE */
#define CONVERGE_MS 30000 /* TCG + KASAN is slow; bounded, not a timing test */
#define PG ((uint64_t)4096)

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

/* ---- ground truth, read here from /proc (independent of the daemon) ---- */

static int truth_read(pid_t pid, uint64_t start, uint64_t end, struct spt_state *gt)
{
	char path[64], line[4096];
	uint64_t n = (end - start) / PG, *pm;
	FILE *f;
	int fd;

	spt_state_clear(gt);
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long s, e, off, ino;
		char perms[5], name[4096] = "";
		unsigned maj, min;
		struct spt_vma v = { .name = "" };

		if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %4095[^\n]", &s, &e, perms, &off,
			   &maj, &min, &ino, name) < 7)
			continue;
		if (e <= start || s >= end)
			continue;
		v.start = s < start ? start : s;
		v.end = e > end ? end : e;
		v.shared = perms[3] == 's';
		/* vma_is_anonymous(): private, no file (or private /dev/zero). */
		const char *nm = name + strspn(name, " ");
		bool anon = !v.shared && ((ino == 0 && (!*nm || !strncmp(nm, "[heap]", 6) ||
							!strncmp(nm, "[stack", 6) ||
							!strncmp(nm, "[anon:", 6))) ||
					  !strcmp(nm, "/dev/zero"));
		v.kind = anon ? SPT_VMA_ANON : SPT_VMA_FILE;
		spt_state_append_vma(gt, &v);
	}
	fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	pm = calloc(n, sizeof(*pm));
	if (pread(fd, pm, n * 8, (off_t)(start / PG * 8)) != (ssize_t)(n * 8)) {
		free(pm);
		close(fd);
		return -EIO;
	}
	close(fd);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t va = start + i * PG;
		const struct spt_vma *v = spt_state_find_vma(gt, va);
		struct spt_page p = { .vaddr = va };

		if (!v || !(pm[i] >> 63))
			continue;
		p.flags = spt_vma_flags(v) | SPT_F_MAPPED;
		p.pfn = pm[i] & ((1ull << 55) - 1);
		spt_state_append_page(gt, &p);
	}
	free(pm);
	return 0;
}

/* First difference on the spec flags + pfn over [start, end), or NULL. */
static const char *table_diff(const struct spt_state *a, const struct spt_state *b,
			      uint64_t start, uint64_t end)
{
	static char why[160];

	for (uint64_t va = start; va < end; va += PG) {
		uint32_t fa = spt_state_flags_at(a, va) & SPT_F_SPEC_MASK;
		uint32_t fb = spt_state_flags_at(b, va) & SPT_F_SPEC_MASK;
		struct spt_page pa, pb;
		uint64_t pfa = spt_state_get_page(a, va, &pa) && (fa & SPT_F_MAPPED) ? pa.pfn : 0;
		uint64_t pfb = spt_state_get_page(b, va, &pb) && (fb & SPT_F_MAPPED) ? pb.pfn : 0;

		if (fa != fb || pfa != pfb) {
			snprintf(why, sizeof(why), "0x%" PRIx64 ": flags %u/%u pfn 0x%" PRIx64
				 "/0x%" PRIx64, va, fa, fb, pfa, pfb);
			return why;
		}
	}
	return NULL;
}

/* ---- viewers: the real protocol over the real socket ---- */

struct viewer {
	const char *name;
	int fd;
	uint8_t *rx;
	size_t rx_len, rx_cap;
	struct spt_state st;
	uint64_t seq;
	uint32_t next_chunk;
	bool have_snapshot, exited, failed;
	int backend, mode;
	char reason[160], mode_reason[160];
	unsigned deltas, snapshots;
	unsigned fault_deltas; /* deltas whose pages a fault mapped (the kernel says which) */
	uint32_t next_request;
};

static int send_frame(int fd, SptFrame *f)
{
	uint8_t *buf;
	size_t len;
	int ret = spt_frame_encode(f, SPT_MAX_CLIENT_FRAME, &buf, &len);

	if (ret)
		return ret;
	ret = send(fd, buf, len, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -EIO;
	free(buf);
	return ret;
}

static void viewer_handle(struct viewer *v, SptFrame *f)
{
	switch (f->msg_case) {
	case SHADOWPT__FRAME__MSG_WATCH_STARTED:
		v->backend = f->watch_started->backend;
		snprintf(v->reason, sizeof(v->reason), "%s",
			 f->watch_started->backend_reason ? f->watch_started->backend_reason : "");
		v->mode = f->watch_started->mode;
		snprintf(v->mode_reason, sizeof(v->mode_reason), "%s",
			 f->watch_started->mode_reason ? f->watch_started->mode_reason : "");
		break;
	case SHADOWPT__FRAME__MSG_SNAPSHOT:
		if (spt_snapshot_apply_chunk(&v->st, f->snapshot, v->next_chunk)) {
			v->failed = true;
			break;
		}
		v->next_chunk++;
		if (f->snapshot->last_chunk) {
			v->next_chunk = 0;
			v->seq = f->snapshot->seq;
			v->have_snapshot = true;
			v->snapshots++;
		}
		break;
	case SHADOWPT__FRAME__MSG_DELTA:
		if (!v->have_snapshot || f->delta->base_seq != v->seq ||
		    spt_delta_apply_pb(&v->st, f->delta)) {
			v->failed = true;
			break;
		}
		/* Protocol 2 deltas may come in chunks of one seq: it moves at the last. */
		if (!f->delta->has_last_chunk || f->delta->last_chunk) {
			v->seq = f->delta->seq;
			v->deltas++;
		}
		for (size_t i = 0; i <= f->delta->n_runs; i++) {
			/* The delta's cause, or each run's when it says MULTIPLE. */
			Shadowpt__Cause c = i ? f->delta->runs[i - 1]->cause : f->delta->cause;

			if (c == SHADOWPT__CAUSE__CAUSE_READ_FAULT ||
			    c == SHADOWPT__CAUSE__CAUSE_WRITE_FAULT) {
				v->fault_deltas++;
				break;
			}
		}
		break;
	case SHADOWPT__FRAME__MSG_TARGET_EXITED:
		v->exited = true;
		break;
	case SHADOWPT__FRAME__MSG_ERROR:
		diag("%s: error %d: %s", v->name, f->error->code,
		     f->error->message ? f->error->message : "");
		v->failed = true;
		break;
	default:
		break;
	}
}

/* Reads whatever is there (waiting up to ms) and applies whole frames. */
static void viewer_pump(struct viewer *v, int ms)
{
	struct pollfd p = { .fd = v->fd, .events = POLLIN };
	size_t plen;

	if (v->fd < 0 || poll(&p, 1, ms) <= 0)
		return;
	for (;;) {
		ssize_t n;

		if (v->rx_cap - v->rx_len < 65536) {
			v->rx_cap = v->rx_cap * 2 + 65536;
			v->rx = realloc(v->rx, v->rx_cap);
		}
		n = recv(v->fd, v->rx + v->rx_len, v->rx_cap - v->rx_len, MSG_DONTWAIT);
		if (n == 0) {
			close(v->fd);
			v->fd = -1;
			break;
		}
		if (n < 0)
			break;
		v->rx_len += (size_t)n;
	}
	while (spt_frame_check(v->rx, v->rx_len, SPT_MAX_SERVER_FRAME, &plen) == 1) {
		SptFrame *f = spt_frame_decode(v->rx + SPT_FRAME_HEADER_SIZE, plen);

		if (!f)
			v->failed = true;
		else
			viewer_handle(v, f);
		spt_frame_free(f);
		memmove(v->rx, v->rx + SPT_FRAME_HEADER_SIZE + plen,
			v->rx_len - SPT_FRAME_HEADER_SIZE - plen);
		v->rx_len -= SPT_FRAME_HEADER_SIZE + plen;
	}
}

static int viewer_open(struct viewer *v, const char *name, pid_t pid, uint64_t start,
		       uint64_t end, int backend)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	SptFrame f = SHADOWPT__FRAME__INIT;
	Shadowpt__Hello hello = SHADOWPT__HELLO__INIT;
	Shadowpt__Watch watch = SHADOWPT__WATCH__INIT;
	Shadowpt__Range range = SHADOWPT__RANGE__INIT;

	memset(v, 0, sizeof(*v));
	v->name = name;
	spt_state_init(&v->st);
	strcpy(sa.sun_path, SOCK_PATH);
	v->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v->fd < 0 || connect(v->fd, (struct sockaddr *)&sa, sizeof(sa)))
		return -errno;
	hello.has_protocol_version = 1;
	hello.protocol_version = SPT_PROTOCOL_VERSION;
	hello.client_name = (char *)name;
	f.has_request_id = 1;
	f.request_id = 1;
	f.msg_case = SHADOWPT__FRAME__MSG_HELLO;
	f.hello = &hello;
	if (send_frame(v->fd, &f))
		return -EIO;
	range.has_start = range.has_end = 1;
	range.start = start;
	range.end = end;
	watch.has_pid = 1;
	watch.pid = pid;
	watch.range = &range;
	watch.has_backend = 1;
	watch.backend = backend;
	f.request_id = 2;
	f.msg_case = SHADOWPT__FRAME__MSG_WATCH;
	f.watch = &watch;
	return send_frame(v->fd, &f);
}

static void viewer_close(struct viewer *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
	spt_state_free(&v->st);
	free(v->rx);
	v->rx = NULL;
}

/*
 * Pumps every viewer until each has a table equal to gt (or timeout).
 * Returns the ms it took, or -1; *bad names the first viewer still off.
 */
static long converge(struct viewer **vs, int n, const struct spt_state *gt, uint64_t start,
		     uint64_t end, const char **bad, const char **why)
{
	uint64_t t0 = now_ms();

	for (;;) {
		int done = 0;

		*bad = NULL;
		for (int i = 0; i < n; i++) {
			const char *d = vs[i]->have_snapshot && !vs[i]->failed
						? table_diff(&vs[i]->st, gt, start, end)
						: "no table";
			if (!d) {
				done++;
			} else if (!*bad) {
				*bad = vs[i]->name;
				*why = d;
			}
		}
		if (done == n)
			return (long)(now_ms() - t0);
		if (now_ms() - t0 > CONVERGE_MS)
			return -1;
		for (int i = 0; i < n; i++)
			viewer_pump(vs[i], 5);
	}
}

/* ---- the workload, driven one step at a time ---- */

struct target {
	pid_t pid;
	FILE *in, *out;
};

static int target_start(struct target *t, const char *path)
{
	int to[2], from[2];
	char line[256];

	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC))
		return -errno;
	t->pid = fork();
	if (t->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	t->in = fdopen(to[1], "w");
	t->out = fdopen(from[0], "r");
	if (!fgets(line, sizeof(line), t->out) || strncmp(line, "ready ", 6))
		return -EIO;
	return 0;
}

/* Sends one command; returns its "ok" line's values in out. */
static int target_step(struct target *t, const char *cmd, char *out, size_t outlen)
{
	char line[512];

	fprintf(t->in, "%s\n", cmd);
	fflush(t->in);
	if (!fgets(line, sizeof(line), t->out))
		return -EIO;
	line[strcspn(line, "\n")] = 0;
	if (strncmp(line, "ok ", 3)) {
		diag("target: %s -> %s", cmd, line);
		return -EIO;
	}
	snprintf(out, outlen, "%s", line + 3);
	return 0;
}

static void wait_stopped(pid_t pid)
{
	char path[64], buf[512];

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (int i = 0; i < 2000; i++) {
		FILE *f = fopen(path, "r");
		char *p;

		if (!f)
			return;
		p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
		fclose(f);
		if (p && (p[2] == 'T' || p[2] == 't'))
			return;
		usleep(1000);
	}
}

static pid_t start_daemon(const char *daemon)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pid_t pid = fork();

	if (pid == 0) {
		execl(daemon, daemon, "--socket", SOCK_PATH, (char *)NULL);
		_exit(127);
	}
	strcpy(sa.sun_path, SOCK_PATH);
	for (int i = 0; i < 3000; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

		close(fd);
		if (ok)
			return pid;
		usleep(10000);
	}
	return -1;
}

static unsigned long long first_hex(const char *s, int index)
{
	unsigned long long v[4] = { 0 };

	sscanf(s, "%*s %llx %llx %llx %llx", &v[0], &v[1], &v[2], &v[3]);
	return v[index];
}

int main(int argc, char **argv)
{
	const char *daemon, *client, *target_path;
	struct viewer k1 = { .fd = -1 }, k2 = { .fd = -1 }, p1 = { .fd = -1 };
	struct viewer k3 = { .name = "kernel-late", .fd = -1 }, other = { .fd = -1 };
	struct viewer *all[4] = { &k1, &k2, &p1, &k3 };
	int nviewers = 3;
	struct spt_state gt;
	struct target t = { 0 }, t2 = { 0 };
	uint64_t start, end;
	char out[512], cmd[128];
	pid_t dpid, killed_viewer;
	long kernel_ms_total = 0;
	int steps_ok = 0, status;

	if (argc != 4) {
		fprintf(stderr, "usage: %s DAEMON CLIENT TARGET\n", argv[0]);
		return 2;
	}
	daemon = argv[1];
	client = argv[2];
	target_path = argv[3];
	setvbuf(stdout, NULL, _IOLBF, 0); /* the serial log keeps what printed */
	spt_state_init(&gt);
	mkdir("/run", 0755); /* the initramfs has none; the daemon makes its dir */
	dpid = start_daemon(daemon);
	CHECK(dpid > 0, "shadowptd starts on the patched kernel");
	if (dpid <= 0)
		return 1;
	status = target_start(&t, target_path);
	CHECK(status == 0, "workload target starts (pid %d)", t.pid);

	/* The window: 8 MiB ending at a fresh mapping; later mmaps land below. */
	target_step(&t, "mmap-anon 16", out, sizeof(out));
	end = first_hex(out, 1);
	start = end - WINDOW;
	diag("window [0x%" PRIx64 ", 0x%" PRIx64 ")", start, end);

	CHECK(viewer_open(&k1, "kernel-1", t.pid, start, end, SHADOWPT__BACKEND__BACKEND_KERNEL) == 0 &&
		    viewer_open(&k2, "kernel-2", t.pid, start, end, SHADOWPT__BACKEND__BACKEND_KERNEL) == 0 &&
		    viewer_open(&p1, "procfs-1", t.pid, start, end, SHADOWPT__BACKEND__BACKEND_PROCFS) == 0,
	    "three viewers connect (two kernel, one procfs)");
	for (int i = 0; i < 400 && !(k1.backend && k2.backend && p1.backend); i++)
		for (int j = 0; j < nviewers; j++)
			viewer_pump(all[j], 50);
	CHECK(k1.backend == SHADOWPT__BACKEND__BACKEND_KERNEL &&
		    k2.backend == SHADOWPT__BACKEND__BACKEND_KERNEL,
	    "kernel viewers are served by the kernel backend (%s)", k1.reason);
	CHECK(p1.backend == SHADOWPT__BACKEND__BACKEND_PROCFS,
	    "forced procfs viewer is served by procfs (%s)", p1.reason);
	CHECK(k1.mode == SHADOWPT__WATCH_MODE__WATCH_MODE_EVENTS,
	    "the kernel session is driven by the table's event ring (%s)", k1.mode_reason);

	/* A real shadowctl viewer on the same window, killed mid-stream. */
	killed_viewer = fork();
	if (killed_viewer == 0) {
		char range[64];
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		snprintf(range, sizeof(range), "0x%" PRIx64 ":0x%" PRIx64, start, end);
		snprintf(cmd, sizeof(cmd), "%d", t.pid);
		execl(client, client, "--socket", SOCK_PATH, "watch", cmd, "--range", range,
		      "--backend", "kernel", "--json", (char *)NULL);
		_exit(127);
	}

	/*
	 * The steps. Sizes are large enough that new mappings land in the
	 * window (top-down allocation) rather than in small gaps above it.
	 */
	static const struct {
		const char *name, *args;
		bool at_base; /* the step takes the base address first */
	} steps[] = {
		{ "touch-read", "4", true },	   { "touch-write", "8", true },
		{ "mmap-anon", "64", false },	   { "touch-write", "64", true },
		{ "munmap-partial", "64", true },  { "mmap-file", "48", false },
		{ "mmap-shared-anon", "48", false }, { "fork-cow", "8", true },
		{ "madvise-dontneed", "4", true }, { "thp", "", false },
		{ "mprotect", "4 r", true },	   { "reap", "", false },
	};
	struct spt_state prev_gt;
	int changed_steps = 0;
	char base[32];

	spt_state_init(&prev_gt);
	truth_read(t.pid, start, end, &prev_gt);

	snprintf(base, sizeof(base), "0x%" PRIx64, end - 16 * PG);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		unsigned before[4];
		const char *bad = NULL, *why = NULL;
		bool deltas = true;
		long ms;

		snprintf(cmd, sizeof(cmd), "%s %s %s", steps[i].name, steps[i].at_base ? base : "",
			 steps[i].args);
		for (int j = 0; j < nviewers; j++)
			before[j] = all[j]->deltas;
		if (target_step(&t, cmd, out, sizeof(out))) {
			CHECK(0, "step '%s'", cmd);
			continue;
		}
		if (i == 2) /* later steps work on the new 64-page mapping */
			snprintf(base, sizeof(base), "0x%llx", first_hex(out, 0));
		kill(t.pid, SIGSTOP);
		wait_stopped(t.pid);
		truth_read(t.pid, start, end, &gt);
		ms = converge(all, nviewers, &gt, start, end, &bad, &why);
		CHECK(ms >= 0, "step '%s': every viewer equals /proc ground truth%s%s%s%s", cmd,
		    bad ? " (" : "", bad ? bad : "", bad ? ": " : "", bad ? why : "");
		for (int j = 0; j < nviewers; j++)
			if (all[j]->backend == SHADOWPT__BACKEND__BACKEND_KERNEL &&
			    all[j]->deltas == before[j])
				deltas = false;
		/* Where the window changed, every kernel viewer got a delta for it. */
		if (table_diff(&prev_gt, &gt, start, end)) {
			changed_steps++;
			CHECK(deltas, "step '%s': every kernel viewer received a delta", cmd);
		}
		spt_state_free(&prev_gt);
		truth_read(t.pid, start, end, &prev_gt);
		if (ms >= 0) {
			steps_ok++;
			kernel_ms_total += ms;
			diag("step '%s' converged in %ld ms", cmd, ms);
		}
		kill(t.pid, SIGCONT);
		if (i == 5) {
			kill(killed_viewer, SIGKILL);
			waitpid(killed_viewer, NULL, 0);
			CHECK(1, "shadowctl viewer killed mid-stream");
		}
		if (i == 6) {
			CHECK(viewer_open(&k3, "kernel-late", t.pid, start, end,
					SHADOWPT__BACKEND__BACKEND_KERNEL) == 0,
			    "a viewer joins mid-stream");
			nviewers = 4;
		}
	}
	CHECK(changed_steps >= 8, "%d of the steps changed the window (at least 8 must)",
	    changed_steps);
	CHECK(k1.fault_deltas >= 2, "the kernel viewer got faults named as faults (%u deltas)",
	    k1.fault_deltas);
	spt_state_free(&prev_gt);
	/* Polling figures for the record: the daemon's own per-session counters. */
	{
		FILE *st;
		char line[256];

		snprintf(cmd, sizeof(cmd), "%s --socket %s status", client, SOCK_PATH);
		st = popen(cmd, "r");
		while (st && fgets(line, sizeof(line), st))
			printf("# status: %s", line);
		if (st)
			pclose(st);
	}
	CHECK(!k1.failed && !k2.failed && !p1.failed && !k3.failed,
	    "no viewer saw a protocol error (seq chain intact)");
	CHECK(k3.snapshots == 1 && k3.backend == SHADOWPT__BACKEND__BACKEND_KERNEL,
	    "mid-stream viewer got one snapshot from the shared kernel session");
	if (steps_ok)
		diag("mean step-to-converged latency %ld ms over %d steps (all viewers)",
		     kernel_ms_total / steps_ok, steps_ok);

	/* Another target while the kernel table is taken: procfs, and why. */
	if (target_start(&t2, target_path) == 0) {
		target_step(&t2, "mmap-anon 4", out, sizeof(out));
		uint64_t e2 = first_hex(out, 1);

		viewer_open(&other, "other-auto", t2.pid, e2 - (1 << 20), e2,
			    SHADOWPT__BACKEND__BACKEND_AUTO);
		for (int i = 0; i < 400 && !other.backend; i++)
			viewer_pump(&other, 50);
		CHECK(other.backend == SHADOWPT__BACKEND__BACKEND_PROCFS && strstr(other.reason, "kernel"),
		    "second target falls back to procfs while the table is taken (\"%s\")",
		    other.reason);
		viewer_close(&other);
		target_step(&t2, "exit 0", out, sizeof(out));
		waitpid(t2.pid, NULL, 0);
	}

	/* Exec, then exit: final delta and TargetExited to every viewer. */
	CHECK(target_step(&t, "exec", out, sizeof(out)) == 0, "target execs");
	{
		const char *bad = NULL, *why = NULL;
		long ms;

		kill(t.pid, SIGSTOP);
		wait_stopped(t.pid);
		truth_read(t.pid, start, end, &gt);
		ms = converge(all, nviewers, &gt, start, end, &bad, &why);
		CHECK(ms >= 0, "after exec every viewer equals ground truth%s%s", bad ? ": " : "",
		    bad ? why : "");
		kill(t.pid, SIGCONT);
	}
	target_step(&t, "exit 0", out, sizeof(out));
	waitpid(t.pid, NULL, 0);
	for (int i = 0; i < 600 && !(k1.exited && k2.exited && p1.exited && k3.exited); i++)
		for (int j = 0; j < nviewers; j++)
			viewer_pump(all[j], 50);
	CHECK(k1.exited && k2.exited && p1.exited && k3.exited,
	    "target exit reaches every viewer as TargetExited");
	spt_state_clear(&gt);
	CHECK(!table_diff(&k1.st, &gt, start, end), "after exit the kernel viewer's table is empty");
	for (int j = 0; j < nviewers; j++)
		viewer_close(all[j]);

	/* SIGTERM while tracking: the kernel table must be released. */
	CHECK(target_start(&t, target_path) == 0, "third target starts");
	target_step(&t, "mmap-anon 4", out, sizeof(out));
	end = first_hex(out, 1);
	viewer_open(&k1, "kernel-term", t.pid, end - (1 << 20), end,
		    SHADOWPT__BACKEND__BACKEND_KERNEL);
	for (int i = 0; i < 400 && !k1.have_snapshot; i++)
		viewer_pump(&k1, 50);
	CHECK(k1.backend == SHADOWPT__BACKEND__BACKEND_KERNEL && k1.have_snapshot,
	    "a kernel-backed watch is tracking");
	kill(dpid, SIGTERM);
	waitpid(dpid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "daemon exits 0 on SIGTERM");
	{
		size_t len = 4096;
		void *buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct user_shadow_pt u = { end - 16 * PG, end, buf };
		long r = syscall(__NR_shadowpt_open, t.pid, &u);

		CHECK(r == 0, "a fresh inspector opens the table right after (%s)",
		    r ? strerror(errno) : "ok");
		if (r == 0)
			syscall(__NR_shadowpt_close);
		munmap(buf, len);
	}
	viewer_close(&k1);
	target_step(&t, "exit 0", out, sizeof(out));
	waitpid(t.pid, NULL, 0);
	spt_state_free(&gt);
	return spt_test_done();
}
