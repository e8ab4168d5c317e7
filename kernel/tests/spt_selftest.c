// SPDX-License-Identifier: GPL-2.0
/*
 * spt_selftest - in-VM semantic selftest of the shadowpt system calls.
 *
 * Build (static, so it runs from a bare initramfs):
 *   gcc -static -O2 -Wall -Wextra -pthread -I kernel/include/uapi \
 *       -o spt_selftest kernel/tests/spt_selftest.c
 * Run as root on a kernel carrying kernel/patches (CONFIG_SHADOWPT=y):
 *   ./spt_selftest            all cases, TAP on stdout
 *   ./spt_selftest -v         also log progress on stderr
 *   ./spt_selftest -k TEXT    only the cases whose name contains TEXT
 * Exit status 0 iff every case passed (SKIPs count as passes).
 *
 * Targets are child processes driven step by step over pipes. After each
 * step the shadow table is compared with ground truth from
 * /proc/PID/maps and /proc/PID/pagemap (PFNs need root), polling for up
 * to two seconds. The program re-executes itself (/proc/self/exe) for
 * the execve cases and some inspector-exit cases.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/loop.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel-events.h"
#include "spt_sys.h"

#define PG 4096UL
#define MIB (1024UL * 1024UL)
#define SPT_ALL (SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS | SPTE_PTE_MAPPED)
#define WAIT_MS 2000

static int verbose;
static char reason[512];

static void vlog(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

#define FAIL(...) do { snprintf(reason, sizeof(reason), __VA_ARGS__); return 0; } while (0)
#define SKIP -1

static void msleep(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Target: a child executing commands sent over a pipe                 */
/* ------------------------------------------------------------------ */

enum {
	T_NOP, T_ARENA, T_MMAP, T_MUNMAP, T_READ, T_WRITE, T_MADVISE,
	T_FORK, T_KILL, T_SBRK, T_MALLOC, T_FREE, T_THREADS, T_STACK,
	T_GETSP, T_EXEC, T_EXEC_THREAD, T_EXIT, T_MREMAP, T_CHURN,
	T_UFFD_COPY, T_MPROTECT, T_SHMANY, T_UFFD_MOVE, T_UFFD_COPY_FROM,
	T_MREMAP_NTH, T_PROT_CHURN,
};

struct cmd {
	int op;
	int fd;
	unsigned long a, b, c, d;
};

struct rep {
	long ret;
	unsigned long v;
};

struct target {
	pid_t pid;
	int wfd;	/* commands to the target */
	int rfd;	/* replies from the target */
};

static const char *self_exe = "/proc/self/exe";

struct thr_arg {
	unsigned long addr, len;
	int idx, n;
};

static void *thr_write(void *p)
{
	struct thr_arg *a = p;
	unsigned long i;

	for (i = a->idx; i < a->len / PG; i += a->n)
		*(volatile char *)(a->addr + i * PG) = (char)(0x30 + a->idx);
	return NULL;
}

static unsigned long __attribute__((noinline)) grow_stack(unsigned long bytes)
{
	volatile char *p = alloca(bytes);
	long i;

	for (i = bytes - 1; i >= 0; i -= PG)
		p[i] = 1;
	p[0] = 1;
	return (unsigned long)p;
}

static int g_exec_rfd, g_exec_wfd;

struct churn_arg {
	unsigned long base, npages;
	long until_ms;
	unsigned int seed;
};

/* Random mmap/munmap/write/madvise inside [base, base + npages pages). */
static void *thr_churn(void *p)
{
	struct churn_arg *a = p;

	while (now_ms() < a->until_ms) {
		unsigned long idx = rand_r(&a->seed) % (a->npages - 8);
		unsigned long n = 1 + rand_r(&a->seed) % 8;
		char *addr = (char *)(a->base + idx * PG);

		switch (rand_r(&a->seed) % 4) {
		case 0:
			mmap(addr, n * PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			break;
		case 1:
			munmap(addr, n * PG);
			break;
		case 2:
			madvise(addr, n * PG, MADV_DONTNEED);
			break;
		default:
			/* Write faults that cannot crash on a racing munmap. */
			madvise(addr, n * PG, 23 /* MADV_POPULATE_WRITE */);
		}
	}
	return NULL;
}

static void *thr_exec(void *p)
{
	char r[16], w[16];
	char *argv[] = { "spt_selftest", "--target", r, w, NULL };

	(void)p;
	snprintf(r, sizeof(r), "%d", g_exec_rfd);
	snprintf(w, sizeof(w), "%d", g_exec_wfd);
	execv(self_exe, argv);
	_exit(99);
}

/*
 * Fills [addr, addr + len) with byte through UFFDIO_COPY: the PTEs appear
 * without a fault and without an mmu notifier call.
 */
static long uffd_copy(unsigned long addr, unsigned long len, int byte)
{
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = {
		.range = { .start = addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	struct uffdio_copy cp = { .dst = addr, .len = len };
	char *src = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long ret = 0;

	if (uffd < 0 || src == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	memset(src, byte, len);
	cp.src = (unsigned long)src;
	if (ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg) ||
	    ioctl(uffd, UFFDIO_COPY, &cp))
		ret = -errno;
out:
	if (src != MAP_FAILED)
		munmap(src, len);
	if (uffd >= 0)
		close(uffd);
	return ret;
}

#ifndef UFFDIO_MOVE
/* Linux 6.8; not in older userspace headers. */
#define UFFD_FEATURE_MOVE (1 << 16)
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
	__u64 mode;
	__s64 move;
};

#define UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct uffdio_move)
#endif

/* A userfaultfd with MISSING registration on [addr, addr + len). */
static int uffd_register(unsigned long addr, unsigned long len, __u64 features)
{
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	struct uffdio_api api = { .api = UFFD_API, .features = features };
	struct uffdio_register reg = {
		.range = { .start = addr, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (uffd < 0)
		return -errno;
	if (ioctl(uffd, UFFDIO_API, &api) || ioctl(uffd, UFFDIO_REGISTER, &reg)) {
		int e = -errno;

		close(uffd);
		return e;
	}
	return uffd;
}

/*
 * UFFDIO_MOVE of [src, src + len) to dst: the destination PTEs appear
 * without a fault; only the source is covered by an mmu notifier.
 */
static long uffd_move(unsigned long src, unsigned long dst, unsigned long len)
{
	struct uffdio_move mv = { .dst = dst, .src = src, .len = len };
	int uffd = uffd_register(dst, len, UFFD_FEATURE_MOVE);
	long ret = 0;

	if (uffd < 0)
		return uffd;
	if (ioctl(uffd, UFFDIO_MOVE, &mv))
		ret = -errno;
	close(uffd);
	return ret;
}

/*
 * UFFDIO_COPY from a caller-given source: when a source page is not
 * mapped the kernel drops its locks to fault it in (-ENOENT) and, if that
 * fails too, returns what it copied so far.
 */
static long uffd_copy_from(unsigned long dst, unsigned long src, unsigned long len)
{
	struct uffdio_copy cp = { .dst = dst, .src = src, .len = len };
	int uffd = uffd_register(dst, len, 0);
	long ret;

	if (uffd < 0)
		return uffd;
	ret = ioctl(uffd, UFFDIO_COPY, &cp) ? -errno : 0;
	close(uffd);
	return ret ? (cp.copy > 0 ? cp.copy : ret) : cp.copy;
}

/* A thread that keeps mprotect()ing a populated region: mmap_lock held. */
static void *prot_churn(void *p)
{
	unsigned long len = (unsigned long)p;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	for (;;) {
		mprotect(m, len, PROT_READ);
		mprotect(m, len, PROT_READ | PROT_WRITE);
	}
	return NULL;
}

/* count separate one-page MAP_SHARED|MAP_ANONYMOUS mappings, touched. */
static long shared_many(unsigned long count)
{
	unsigned long i;

	for (i = 0; i < count; i++) {
		char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			return -errno;
		*p = 1;
	}
	return 0;
}

static void target_loop(int rfd, int wfd)
{
	for (;;) {
		struct rep r = { 0, 0 };
		struct cmd c;
		unsigned long i;

		if (read_full(rfd, &c, sizeof(c)))
			_exit(0);
		switch (c.op) {
		case T_NOP:
			break;
		case T_ARENA: {
			/* A free, 2 MiB aligned hole of c.a bytes. */
			char *p = mmap(NULL, c.a + 2 * MIB, PROT_NONE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			unsigned long b;

			if (p == MAP_FAILED) {
				r.ret = -errno;
				break;
			}
			b = ((unsigned long)p + 2 * MIB - 1) & ~(2 * MIB - 1);
			munmap(p, c.a + 2 * MIB);
			r.v = b;
			break;
		}
		case T_MMAP: {
			void *p = mmap((void *)c.a, c.b, (int)(c.c & 0xff),
				       (int)(c.c >> 8), c.fd, 0);

			if (p == MAP_FAILED)
				r.ret = -errno;
			else
				r.v = (unsigned long)p;
			break;
		}
		case T_MUNMAP:
			r.ret = munmap((void *)c.a, c.b) ? -errno : 0;
			break;
		case T_READ:
			for (i = 0; i < c.b; i += PG)
				r.v += *(volatile char *)(c.a + i);
			break;
		case T_WRITE:
			memset((void *)c.a, (int)c.c, c.b);
			break;
		case T_MADVISE:
			r.ret = madvise((void *)c.a, c.b, (int)c.c) ? -errno : 0;
			break;
		case T_FORK: {
			pid_t p = fork();

			if (p == 0) {
				for (;;)
					pause();
			}
			r.ret = p < 0 ? -errno : 0;
			r.v = p;
			break;
		}
		case T_KILL:
			kill((pid_t)c.a, SIGKILL);
			waitpid((pid_t)c.a, NULL, 0);
			break;
		case T_SBRK: {
			void *p = sbrk((intptr_t)c.a);

			r.ret = p == (void *)-1 ? -errno : 0;
			r.v = (unsigned long)sbrk(0);
			break;
		}
		case T_MALLOC:
			r.v = (unsigned long)malloc(c.a);
			break;
		case T_FREE:
			free((void *)c.a);
			break;
		case T_THREADS: {
			pthread_t th[16];
			struct thr_arg ta[16];
			int n = (int)c.c, k;

			for (k = 0; k < n; k++) {
				ta[k] = (struct thr_arg){ c.a, c.b, k, n };
				pthread_create(&th[k], NULL, thr_write, &ta[k]);
			}
			for (k = 0; k < n; k++)
				pthread_join(th[k], NULL);
			break;
		}
		case T_STACK:
			r.v = grow_stack(c.a);
			break;
		case T_GETSP: {
			volatile char here;

			r.v = (unsigned long)&here;
			break;
		}
		case T_EXEC: {
			char rs[16], ws[16];
			char *argv[] = { "spt_selftest", "--target", rs, ws, NULL };

			snprintf(rs, sizeof(rs), "%d", rfd);
			snprintf(ws, sizeof(ws), "%d", wfd);
			execv(self_exe, argv);
			r.ret = -errno;
			break;
		}
		case T_EXEC_THREAD: {
			pthread_t th;

			g_exec_rfd = rfd;
			g_exec_wfd = wfd;
			pthread_create(&th, NULL, thr_exec, NULL);
			pthread_join(th, NULL);	/* de_thread() kills us */
			r.ret = -EAGAIN;
			break;
		}
		case T_EXIT:
			_exit(0);
		case T_MREMAP: {
			void *p = mremap((void *)c.a, c.b, c.c,
					 MREMAP_MAYMOVE | MREMAP_FIXED, (void *)c.d);

			if (p == MAP_FAILED)
				r.ret = -errno;
			else
				r.v = (unsigned long)p;
			break;
		}
		case T_CHURN: {
			pthread_t th[4];
			struct churn_arg ca[4];
			int k;

			/* Claim the window first: thread stacks go elsewhere. */
			mmap((void *)c.a, c.b, PROT_NONE, MAP_PRIVATE |
			     MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			for (k = 0; k < 4; k++) {
				ca[k] = (struct churn_arg){ c.a, c.b / PG,
							    now_ms() + (long)c.c,
							    (unsigned int)k + 1 };
				pthread_create(&th[k], NULL, thr_churn, &ca[k]);
			}
			for (k = 0; k < 4; k++)
				pthread_join(th[k], NULL);
			break;
		}
		case T_UFFD_COPY:
			r.ret = uffd_copy(c.a, c.b, (int)c.c);
			break;
		case T_MPROTECT:
			r.ret = mprotect((void *)c.a, c.b, (int)c.c) ? -errno : 0;
			break;
		case T_SHMANY:
			r.ret = shared_many(c.a);
			break;
		case T_UFFD_MOVE:
			r.ret = uffd_move(c.a, c.b, c.c);
			break;
		case T_UFFD_COPY_FROM:
			r.ret = uffd_copy_from(c.a, c.b, c.c);
			break;
		case T_PROT_CHURN: {
			pthread_t th;

			pthread_create(&th, NULL, prot_churn, (void *)c.a);
			msleep(200);
			break;
		}
		case T_MREMAP_NTH: {
			/* Move [a, a + b) to c; the (d)th page allocation fails. */
			int fd = open("/proc/thread-self/fail-nth", O_WRONLY);
			char nbuf[16];
			void *p;

			snprintf(nbuf, sizeof(nbuf), "%lu", c.d);
			if (fd < 0 || write(fd, nbuf, strlen(nbuf)) < 0) {
				r.ret = -errno;
				if (fd >= 0)
					close(fd);
				break;
			}
			p = mremap((void *)c.a, c.b, c.b, MREMAP_MAYMOVE | MREMAP_FIXED,
				   (void *)c.c);
			r.ret = p == MAP_FAILED ? -errno : 0;
			write(fd, "0", 1);
			close(fd);
			break;
		}
		}
		if (write_full(wfd, &r, sizeof(r)))
			_exit(1);
	}
}

static int target_spawn(struct target *t)
{
	int c2t[2], t2c[2];

	if (pipe(c2t) || pipe(t2c))
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		close(c2t[1]);
		close(t2c[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		target_loop(c2t[0], t2c[1]);
	}
	close(c2t[0]);
	close(t2c[1]);
	t->wfd = c2t[1];
	t->rfd = t2c[0];
	return 0;
}

static long tcmd_fd(struct target *t, int op, unsigned long a,
		    unsigned long b, unsigned long c, int fd, unsigned long *v)
{
	struct cmd cm = { op, fd, a, b, c, 0 };
	struct rep r;

	if (write_full(t->wfd, &cm, sizeof(cm)) ||
	    read_full(t->rfd, &r, sizeof(r)))
		return -EPIPE;
	if (v)
		*v = r.v;
	return r.ret;
}

static long tcmd(struct target *t, int op, unsigned long a, unsigned long b,
		 unsigned long c, unsigned long *v)
{
	return tcmd_fd(t, op, a, b, c, -1, v);
}

static long tcmd4(struct target *t, int op, unsigned long a, unsigned long b,
		  unsigned long c, unsigned long d)
{
	struct cmd cm = { op, -1, a, b, c, d };
	struct rep r;

	if (write_full(t->wfd, &cm, sizeof(cm)) ||
	    read_full(t->rfd, &r, sizeof(r)))
		return -EPIPE;
	return r.ret;
}

static void target_kill(struct target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
	}
	close(t->wfd);
	close(t->rfd);
	t->pid = 0;
}

#define MMAP_ANON(prot) ((prot) | ((MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE) << 8))
#define RW (PROT_READ | PROT_WRITE)

/* ------------------------------------------------------------------ */
/* Table access and ground truth                                       */
/* ------------------------------------------------------------------ */

struct table {
	struct user_shadow_pt u;
	struct shadow_pte *e;	/* the remapped table */
	size_t bytes;
	unsigned long n;
	int open;
};

static size_t entries_bytes(unsigned long n)
{
	return (n * sizeof(struct shadow_pte) + PG - 1) & ~(PG - 1);
}

/* Map a buffer, open a table on [start, start + len) of pid. */
static long table_open(struct table *t, pid_t pid, unsigned long start,
		       unsigned long len)
{
	memset(t, 0, sizeof(*t));
	t->n = len / PG;
	t->bytes = entries_bytes(t->n);
	t->e = mmap(NULL, t->bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (t->e == MAP_FAILED)
		return -errno;
	t->u.start_vaddr = start;
	t->u.end_vaddr = start + len;
	t->u.entries = t->e;
	if (spt_open(pid, &t->u)) {
		long e = -errno;

		munmap(t->e, t->bytes);
		t->e = NULL;
		return e;
	}
	t->open = 1;
	return 0;
}

static long table_close(struct table *t)
{
	long r = 0;

	if (t->open && spt_close())
		r = -errno;
	t->open = 0;
	if (t->e)
		munmap(t->e, t->bytes);
	t->e = NULL;
	return r;
}

/* A consistent copy: re-read until two reads agree. */
static void table_snap(struct table *t, struct shadow_pte *out)
{
	struct shadow_pte *tmp = malloc(t->n * sizeof(*tmp));
	int i;

	for (i = 0; i < 1000; i++) {
		memcpy(out, t->e, t->n * sizeof(*out));
		memcpy(tmp, t->e, t->n * sizeof(*tmp));
		if (!memcmp(out, tmp, t->n * sizeof(*tmp)))
			break;
	}
	free(tmp);
}

static int maps_is_anon(const char *perms, const char *path)
{
	if (perms[3] != 'p')
		return 0;
	return !*path || !strcmp(path, "[heap]") || !strcmp(path, "[stack]") ||
	       !strncmp(path, "[anon:", 6);
}

/* Expected entries of [start, start + n pages) from procfs. */
static int ground_truth(pid_t pid, unsigned long start, unsigned long n,
			struct shadow_pte *out)
{
	unsigned long end = start + n * PG, i;
	char fn[64], line[512];
	uint64_t *pm;
	FILE *f;
	int fd;

	for (i = 0; i < n; i++)
		out[i] = (struct shadow_pte){ start + i * PG, 0, 0 };
	snprintf(fn, sizeof(fn), "/proc/%d/maps", pid);
	f = fopen(fn, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long vs, ve, a;
		char perms[8], path[400] = "";
		int off = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s%n", &vs, &ve, perms,
			   &off) < 3)
			continue;
		sscanf(line + off, " %399[^\n]", path);
		for (a = vs > start ? vs : start; a < ve && a < end; a += PG) {
			out[(a - start) / PG].state_flags = SPTE_VADDR_ALLOCATED |
				(maps_is_anon(perms, path) ? SPTE_VADDR_ANONYMOUS : 0);
		}
	}
	fclose(f);
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

static int entry_eq(const struct shadow_pte *a, const struct shadow_pte *b)
{
	return a->vaddr == b->vaddr && (a->state_flags & SPT_ALL) ==
		(b->state_flags & SPT_ALL) && a->pfn == b->pfn;
}

/*
 * Poll until the table equals ground truth (and check(), if given, holds
 * on the table). Returns 1 on success, 0 with reason[] set on timeout.
 */
static int wait_truth(struct table *t, pid_t pid,
		      int (*check)(struct shadow_pte *e, unsigned long n, void *arg),
		      void *arg)
{
	struct shadow_pte *s = calloc(t->n, sizeof(*s));
	struct shadow_pte *g = calloc(t->n, sizeof(*g));
	long deadline = now_ms() + WAIT_MS;
	int ok = 0;

	for (;;) {
		unsigned long i, bad = t->n;

		table_snap(t, s);
		if (ground_truth(pid, t->u.start_vaddr, t->n, g)) {
			snprintf(reason, sizeof(reason), "cannot read procfs of %d", pid);
			break;
		}
		for (i = 0; i < t->n; i++) {
			if (!entry_eq(&s[i], &g[i])) {
				bad = i;
				break;
			}
		}
		if (bad == t->n && (!check || check(s, t->n, arg))) {
			ok = 1;
			break;
		}
		if (now_ms() > deadline) {
			if (bad < t->n)
				snprintf(reason, sizeof(reason),
					 "entry %lu (0x%lx): table flags %lu pfn 0x%lx, procfs flags %lu pfn 0x%lx",
					 bad, s[bad].vaddr, s[bad].state_flags,
					 s[bad].pfn, g[bad].state_flags, g[bad].pfn);
			else if (!reason[0])
				snprintf(reason, sizeof(reason), "table matches procfs but check failed");
			break;
		}
		reason[0] = 0;
		msleep(5);
	}
	free(s);
	free(g);
	return ok;
}

static struct shadow_pte *ent(struct table *t, unsigned long addr)
{
	return &t->e[(addr - t->u.start_vaddr) / PG];
}

/* Check helpers: flags of a page range. */
struct range_want {
	unsigned long start, addr, len, flags;
};

static int check_range(struct shadow_pte *e, unsigned long n, void *arg)
{
	struct range_want *w = arg;
	unsigned long a;

	(void)n;
	for (a = w->addr; a < w->addr + w->len; a += PG) {
		struct shadow_pte *x = &e[(a - w->start) / PG];

		if ((x->state_flags & SPT_ALL) != w->flags) {
			snprintf(reason, sizeof(reason),
				 "page 0x%lx: flags %lu, want %lu", a,
				 x->state_flags, w->flags);
			return 0;
		}
	}
	return 1;
}

static int expect(struct table *t, pid_t pid, unsigned long addr,
		  unsigned long len, unsigned long flags)
{
	struct range_want w = { t->u.start_vaddr, addr, len, flags };

	return wait_truth(t, pid, check_range, &w);
}

/* Common setup: a target with a free 2 MiB aligned arena, tracked. */
struct env {
	struct target t;
	struct table tb;
	unsigned long base;
};

static int env_setup(struct env *v, unsigned long len)
{
	long r;

	memset(v, 0, sizeof(*v));
	if (target_spawn(&v->t))
		FAIL("fork target: %s", strerror(errno));
	r = tcmd(&v->t, T_ARENA, len, 0, 0, &v->base);
	if (r)
		FAIL("arena: %s", strerror((int)-r));
	r = table_open(&v->tb, v->t.pid, v->base, len);
	if (r)
		FAIL("shadowpt_open: %s", strerror((int)-r));
	if (spt_start())
		FAIL("shadowpt_start: %s", strerror(errno));
	return 1;
}

static void env_done(struct env *v)
{
	table_close(&v->tb);
	if (v->t.pid)
		target_kill(&v->t);
}

static long pagemap_pfn(pid_t pid, unsigned long addr)
{
	char fn[64];
	uint64_t pm = 0;
	int fd;

	snprintf(fn, sizeof(fn), "/proc/%d/pagemap", pid);
	fd = open(fn, O_RDONLY);
	if (fd < 0)
		return -1;
	if (pread(fd, &pm, 8, (addr / PG) * 8) != 8)
		pm = 0;
	close(fd);
	return pm >> 63 ? (long)(pm & ((1ULL << 55) - 1)) : 0;
}

/* Run fn in a child process; return its exit status (or 128+signal). */
static int in_child(int (*fn)(void *), void *arg)
{
	pid_t p = fork();
	int st;

	if (p == 0)
		_exit(fn(arg));
	if (p < 0 || waitpid(p, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ------------------------------------------------------------------ */
/* Cases: open argument checking                                       */
/* ------------------------------------------------------------------ */

static int open_errno(pid_t pid, unsigned long start, unsigned long end,
		      void *entries)
{
	struct user_shadow_pt u = { start, end, entries };

	if (!spt_open(pid, &u)) {
		spt_close();
		return 0;
	}
	return errno;
}

static void *scratch(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static unsigned long some_range(void)
{
	static char *area;

	if (!area)
		area = scratch(64 * PG);
	return (unsigned long)area;
}

#define EXPECT_ERRNO(expr, want) do {					\
	int __e = (expr);						\
	if (__e != (want))						\
		FAIL("got %s, want %s", __e ? strerror(__e) : "success",\
		     strerror(want));					\
	return 1;							\
} while (0)

static int t_open_nopid(void)
{
	pid_t p = fork();
	void *buf = scratch(PG);

	if (p == 0)
		_exit(0);
	waitpid(p, NULL, 0);	/* reaped: p no longer exists */
	EXPECT_ERRNO(open_errno(p, some_range(), some_range() + PG, buf), EINVAL);
}

static void *idle_thread(void *arg)
{
	int *tid = arg;

	__atomic_store_n(tid, (int)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	for (;;)
		pause();
	return NULL;
}

static int t_open_thread(void)
{
	static int tid;
	pthread_t th;
	void *buf = scratch(PG);

	if (!tid) {
		pthread_create(&th, NULL, idle_thread, &tid);
		while (!__atomic_load_n(&tid, __ATOMIC_SEQ_CST))
			msleep(1);
	}
	EXPECT_ERRNO(open_errno(tid, some_range(), some_range() + PG, buf), EINVAL);
}

static int t_open_null_dest(void)
{
	errno = 0;
	if (!spt_open(getpid(), NULL)) {
		spt_close();
		FAIL("NULL dest accepted");
	}
	EXPECT_ERRNO(errno, EINVAL);
}

static int t_open_unreadable_dest(void)
{
	void *p = mmap(NULL, PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	errno = 0;
	if (!spt_open(getpid(), p)) {
		spt_close();
		FAIL("unreadable dest accepted");
	}
	munmap(p, PG);
	EXPECT_ERRNO(errno, EINVAL);
}

static int t_open_start_gt_end(void)
{
	EXPECT_ERRNO(open_errno(getpid(), some_range() + PG, some_range(),
				scratch(PG)), EINVAL);
}

static int t_open_start_eq_end(void)
{
	EXPECT_ERRNO(open_errno(getpid(), some_range(), some_range(),
				scratch(PG)), EINVAL);
}

static int t_open_unaligned_start(void)
{
	EXPECT_ERRNO(open_errno(getpid(), some_range() + 8, some_range() + PG,
				scratch(PG)), EINVAL);
}

static int t_open_unaligned_end(void)
{
	EXPECT_ERRNO(open_errno(getpid(), some_range(), some_range() + PG + 8,
				scratch(PG)), EINVAL);
}

static int t_open_entries_no_vma(void)
{
	char *p = scratch(PG);

	munmap(p, PG);
	EXPECT_ERRNO(open_errno(getpid(), some_range(), some_range() + PG, p),
		     EINVAL);
}

static int t_open_entries_null(void)
{
	EXPECT_ERRNO(open_errno(getpid(), some_range(), some_range() + PG, NULL),
		     EINVAL);
}

static int t_open_entries_populated(void)
{
	char *p = scratch(PG);

	p[0] = 1;
	EXPECT_ERRNO(open_errno(getpid(), some_range(), some_range() + PG, p),
		     EINVAL);
}

static int t_open_entries_populated_tail(void)
{
	char *p = scratch(2 * PG);

	p[PG] = 1;	/* only the second page of two is backed */
	EXPECT_ERRNO(open_errno(getpid(), some_range(), some_range() + 171 * PG, p),
		     EINVAL);
}

static int t_open_entries_too_small(void)
{
	/* 171 entries need 4104 bytes: two pages, not one. */
	char *p = mmap(NULL, 3 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	int e;

	munmap(p + PG, 2 * PG);	/* a one-page VMA */
	e = open_errno(getpid(), some_range(), some_range() + 171 * PG, p);
	munmap(p, PG);
	EXPECT_ERRNO(e, EINVAL);
}

static int t_open_size_rounded(void)
{
	char *p = mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	int e = open_errno(getpid(), some_range(), some_range() + 171 * PG, p);

	munmap(p, 2 * PG);
	EXPECT_ERRNO(e, 0);
}

static int t_open_truncate(void)
{
	struct table t;
	unsigned long start = 0x100000000UL;
	long r;

	r = table_open(&t, getpid(), start, 2 * MAX_SPT_RANGE);
	if (r)
		FAIL("open: %s", strerror((int)-r));
	if (t.u.end_vaddr != start + MAX_SPT_RANGE) {
		table_close(&t);
		FAIL("end_vaddr 0x%lx, want 0x%lx", t.u.end_vaddr,
		     start + MAX_SPT_RANGE);
	}
	if (t.e[2047].vaddr != start + MAX_SPT_RANGE - PG) {
		table_close(&t);
		FAIL("last entry vaddr 0x%lx", t.e[2047].vaddr);
	}
	table_close(&t);
	return 1;
}

static int t_open_initial(void)
{
	struct table t;
	unsigned long i, start = some_range();
	long r = table_open(&t, getpid(), start, 64 * PG);

	if (r)
		FAIL("open: %s", strerror((int)-r));
	for (i = 0; i < 64; i++) {
		if (t.e[i].vaddr != start + i * PG || t.e[i].state_flags ||
		    t.e[i].pfn) {
			table_close(&t);
			FAIL("entry %lu not initialised", i);
		}
	}
	return table_close(&t) ? 0 : 1;
}

static int drop_cap_and_open(void *arg)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	char buf[PG];

	(void)arg;
	if (syscall(SYS_capget, &h, d))
		return 10;
	d[0].effective &= ~(1U << CAP_SYS_ADMIN);
	d[0].permitted &= ~(1U << CAP_SYS_ADMIN);
	if (syscall(SYS_capset, &h, d))
		return 11;
	if (open_errno(getpid(), some_range(), some_range() + PG,
		       scratch(PG)) != EPERM)
		return 1;
	if (spt_page_contents(1, buf) != -1 || errno != EPERM)
		return 2;
	return 0;
}

static int t_open_eperm(void)
{
	int st = in_child(drop_cap_and_open, NULL);

	if (st == 1)
		FAIL("open without CAP_SYS_ADMIN did not fail with EPERM");
	if (st == 2)
		FAIL("page_contents without CAP_SYS_ADMIN did not fail with EPERM");
	if (st)
		FAIL("child status %d", st);
	return 1;
}

static int child_open_busy(void *arg)
{
	(void)arg;
	return open_errno(getpid(), some_range(), some_range() + PG,
			  scratch(PG)) == EBUSY ? 0 : 1;
}

static int t_open_ebusy(void)
{
	struct table t;
	long r = table_open(&t, getpid(), some_range(), PG);
	int st, self;

	if (r)
		FAIL("open: %s", strerror((int)-r));
	self = open_errno(getpid(), some_range(), some_range() + PG, scratch(PG));
	st = in_child(child_open_busy, NULL);
	table_close(&t);
	if (self != EBUSY)
		FAIL("second open by the opener: %s", strerror(self));
	if (st)
		FAIL("open by another process was not EBUSY");
	return 1;
}

/* ------------------------------------------------------------------ */
/* Cases: close/start/stop ownership, close restores, read-only table  */
/* ------------------------------------------------------------------ */

static int child_call(void *arg)
{
	long (*fn)(void) = (long (*)(void))arg;

	if (fn() == 0)
		return 1;
	return errno == EPERM ? 0 : 2;
}

static int owner_case(long (*fn)(void), const char *name)
{
	struct table t;
	long r = table_open(&t, getpid(), some_range(), PG);
	int st;

	if (r)
		FAIL("open: %s", strerror((int)-r));
	st = in_child(child_call, (void *)fn);
	if (table_close(&t))
		FAIL("opener's close failed after %s by non-opener", name);
	if (st == 1)
		FAIL("%s by another process succeeded", name);
	if (st)
		FAIL("%s by another process: not EPERM (status %d)", name, st);
	return 1;
}

static int t_close_other(void)
{
	return owner_case(spt_close, "close");
}

static int t_start_other(void)
{
	return owner_case(spt_start, "start");
}

static int t_stop_other(void)
{
	return owner_case(spt_stop, "stop");
}

static int t_close_none(void)
{
	EXPECT_ERRNO(spt_close() ? errno : 0, EINVAL);
}

static sigjmp_buf segv_jmp;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(segv_jmp, 1);
}

static int t_table_readonly(void)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;
	volatile int faulted = 0;
	struct table t;
	long r = table_open(&t, getpid(), some_range(), PG);
	int mp;

	if (r)
		FAIL("open: %s", strerror((int)-r));
	sigaction(SIGSEGV, &sa, &old);
	if (!sigsetjmp(segv_jmp, 1))
		*(volatile char *)t.e = 1;
	else
		faulted = 1;
	sigaction(SIGSEGV, &old, NULL);
	mp = mprotect(t.e, t.bytes, PROT_READ | PROT_WRITE);
	table_close(&t);
	if (!faulted)
		FAIL("write to the table did not fault");
	if (!mp)
		FAIL("mprotect(PROT_WRITE) of the table succeeded");
	return 1;
}

static int t_close_restores(void)
{
	struct user_shadow_pt u;
	char *p = scratch(2 * PG), line[512];
	int found = 0, i;
	FILE *f;

	u = (struct user_shadow_pt){ some_range(), some_range() + 64 * PG,
				     (void *)p };
	if (spt_open(getpid(), &u))
		FAIL("open: %s", strerror(errno));
	if (spt_close())
		FAIL("close: %s", strerror(errno));
	if (pagemap_pfn(getpid(), (unsigned long)p) != 0)
		FAIL("range still populated after close");
	for (i = 0; i < (int)(2 * PG); i++)
		p[i] = (char)i;
	for (i = 0; i < (int)(2 * PG); i++)
		if (p[i] != (char)i)
			FAIL("read back mismatch at %d", i);
	f = fopen("/proc/self/maps", "r");
	while (f && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 &&
		    s <= (unsigned long)p && e > (unsigned long)p) {
			found = 1;
			if (strncmp(perms, "rw-p", 4) || strstr(line, "shadowpt"))
				FAIL("VMA after close: %.200s", line);
		}
	}
	if (f)
		fclose(f);
	munmap(p, 2 * PG);
	if (!found)
		FAIL("VMA vanished");
	return 1;
}

/* ------------------------------------------------------------------ */
/* Cases: start/stop                                                   */
/* ------------------------------------------------------------------ */

static int t_stop_no_updates(void)
{
	struct env v;
	unsigned long a;
	struct shadow_pte before;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	a = v.base;
	if (tcmd(&v.t, T_MMAP, a, 4 * PG, MMAP_ANON(RW), NULL) ||
	    tcmd(&v.t, T_WRITE, a, 4 * PG, 7, NULL)) {
		snprintf(reason, sizeof(reason), "target mmap failed");
		goto out;
	}
	if (!expect(&v.tb, v.t.pid, a, 4 * PG, SPT_ALL))
		goto out;
	if (spt_stop()) {
		snprintf(reason, sizeof(reason), "stop: %s", strerror(errno));
		goto out;
	}
	before = *ent(&v.tb, a);
	tcmd(&v.t, T_MUNMAP, a, 4 * PG, 0, NULL);
	tcmd(&v.t, T_MMAP, a + 8 * PG, PG, MMAP_ANON(RW), NULL);
	msleep(200);
	if (!entry_eq(ent(&v.tb, a), &before) ||
	    ent(&v.tb, a + 8 * PG)->state_flags) {
		snprintf(reason, sizeof(reason), "table changed after stop");
		goto out;
	}
	ok = 1;
out:
	env_done(&v);
	return ok;
}

static int t_start_resets(void)
{
	struct env v;
	unsigned long a;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	a = v.base;
	spt_stop();
	tcmd(&v.t, T_MMAP, a, 4 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, a, 2 * PG, 1, NULL);
	msleep(50);
	if (ent(&v.tb, a)->state_flags) {
		snprintf(reason, sizeof(reason), "updated while stopped");
		goto out;
	}
	if (spt_start()) {
		snprintf(reason, sizeof(reason), "start: %s", strerror(errno));
		goto out;
	}
	/* No waiting: start must have reset the table synchronously. */
	if ((ent(&v.tb, a)->state_flags & SPT_ALL) != SPT_ALL ||
	    (ent(&v.tb, a + 3 * PG)->state_flags & SPT_ALL) !=
	    (SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS)) {
		snprintf(reason, sizeof(reason), "start did not reset the table");
		goto out;
	}
	ok = wait_truth(&v.tb, v.t.pid, NULL, NULL);
	/* A second start while tracking resets again. */
	if (ok && spt_start()) {
		snprintf(reason, sizeof(reason), "restart: %s", strerror(errno));
		ok = 0;
	}
	if (ok)
		ok = wait_truth(&v.tb, v.t.pid, NULL, NULL);
out:
	env_done(&v);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Cases: VMA tracking                                                 */
/* ------------------------------------------------------------------ */

static int t_mmap_anon(void)
{
	struct env v;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	if (tcmd(&v.t, T_MMAP, v.base + 16 * PG, 8 * PG, MMAP_ANON(RW), NULL)) {
		snprintf(reason, sizeof(reason), "target mmap failed");
		goto out;
	}
	ok = expect(&v.tb, v.t.pid, v.base + 16 * PG, 8 * PG,
		    SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS);
out:
	env_done(&v);
	return ok;
}

static int t_munmap(void)
{
	struct env v;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 8 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 8 * PG, 3, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 8 * PG, SPT_ALL))
		goto out;
	tcmd(&v.t, T_MUNMAP, v.base, 8 * PG, 0, NULL);
	ok = expect(&v.tb, v.t.pid, v.base, 8 * PG, 0);
out:
	env_done(&v);
	return ok;
}

static int t_munmap_partial(void)
{
	struct env v;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 16 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 16 * PG, 3, NULL);
	tcmd(&v.t, T_MUNMAP, v.base + 4 * PG, 4 * PG, 0, NULL);
	ok = expect(&v.tb, v.t.pid, v.base + 4 * PG, 4 * PG, 0) &&
	     expect(&v.tb, v.t.pid, v.base, 4 * PG, SPT_ALL) &&
	     expect(&v.tb, v.t.pid, v.base + 8 * PG, 8 * PG, SPT_ALL);
out:
	env_done(&v);
	return ok;
}

/* Open a table on [start, start + len) of an existing target. */
static int env_attach(struct env *v, unsigned long start, unsigned long len)
{
	long r = table_open(&v->tb, v->t.pid, start, len);

	if (r)
		FAIL("shadowpt_open: %s", strerror((int)-r));
	if (spt_start())
		FAIL("shadowpt_start: %s", strerror(errno));
	return 1;
}

static int t_malloc_free_mmap(void)
{
	struct env v;
	unsigned long hole, p;
	int ok = 0;

	memset(&v, 0, sizeof(v));
	if (target_spawn(&v.t))
		return 0;
	/*
	 * glibc serves malloc(1 MiB) with an mmap of 1 MiB + one page: probe
	 * where the kernel puts such a mapping and watch around it.
	 */
	if (tcmd(&v.t, T_MMAP, 0, MIB + PG, RW | ((MAP_PRIVATE | MAP_ANONYMOUS) << 8),
		 &hole) || tcmd(&v.t, T_MUNMAP, hole, MIB + PG, 0, NULL)) {
		snprintf(reason, sizeof(reason), "probe mmap failed");
		goto out;
	}
	if (!env_attach(&v, hole - 4 * MIB, MAX_SPT_RANGE))
		goto out;
	tcmd(&v.t, T_MALLOC, MIB, 0, 0, &p);
	if (p < v.tb.u.start_vaddr || p + MIB > v.tb.u.end_vaddr) {
		snprintf(reason, sizeof(reason), "malloc put 1 MiB at 0x%lx, outside the window", p);
		goto out;
	}
	tcmd(&v.t, T_WRITE, p, MIB, 9, NULL);
	if (!expect(&v.tb, v.t.pid, (p + PG - 1) & ~(PG - 1), 64 * PG, SPT_ALL))
		goto out;
	tcmd(&v.t, T_FREE, p, 0, 0, NULL);
	ok = expect(&v.tb, v.t.pid, (p + PG - 1) & ~(PG - 1), 64 * PG, 0);
out:
	env_done(&v);
	return ok;
}

static int t_malloc_brk(void)
{
	struct env v;
	unsigned long brk0, p, start;
	int ok = 0;

	memset(&v, 0, sizeof(v));
	if (target_spawn(&v.t))
		return 0;
	tcmd(&v.t, T_SBRK, 0, 0, 0, &brk0);
	start = (brk0 & ~(PG - 1));
	start = start > 2 * MIB ? start - 2 * MIB : 0;
	if (!env_attach(&v, start, MAX_SPT_RANGE))
		goto out;
	tcmd(&v.t, T_MALLOC, 64 * 1024, 0, 0, &p);
	if (p < start || p + 64 * 1024 > start + MAX_SPT_RANGE) {
		snprintf(reason, sizeof(reason), "malloc(64K) at 0x%lx, outside the window", p);
		goto out;
	}
	tcmd(&v.t, T_WRITE, p, 64 * 1024, 5, NULL);
	ok = expect(&v.tb, v.t.pid, (p + PG - 1) & ~(PG - 1), 8 * PG, SPT_ALL);
	if (ok) {
		tcmd(&v.t, T_FREE, p, 0, 0, NULL);
		ok = wait_truth(&v.tb, v.t.pid, NULL, NULL);
	}
out:
	env_done(&v);
	return ok;
}

static int t_brk_grow_shrink(void)
{
	struct env v;
	unsigned long brk0, brk1, brk2;
	int ok = 0;

	memset(&v, 0, sizeof(v));
	if (target_spawn(&v.t))
		return 0;
	tcmd(&v.t, T_SBRK, 0, 0, 0, &brk0);
	brk0 = (brk0 + PG - 1) & ~(PG - 1);
	if (!env_attach(&v, brk0, MAX_SPT_RANGE))
		goto out;
	if (tcmd(&v.t, T_SBRK, 512 * 1024, 0, 0, &brk1)) {
		snprintf(reason, sizeof(reason), "sbrk grow failed");
		goto out;
	}
	if (!expect(&v.tb, v.t.pid, brk0, ((brk1 & ~(PG - 1)) - brk0),
		    SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS))
		goto out;
	tcmd(&v.t, T_WRITE, brk0, 128 * 1024, 1, NULL);
	if (!expect(&v.tb, v.t.pid, brk0, 128 * 1024, SPT_ALL))
		goto out;
	if (tcmd(&v.t, T_SBRK, -(256 * 1024), 0, 0, &brk2)) {
		snprintf(reason, sizeof(reason), "sbrk shrink failed");
		goto out;
	}
	brk2 = (brk2 + PG - 1) & ~(PG - 1);
	ok = expect(&v.tb, v.t.pid, brk2, 256 * 1024, 0);
out:
	env_done(&v);
	return ok;
}

static int t_stack_growth(void)
{
	struct env v;
	unsigned long sp, low, top;
	int ok = 0;

	memset(&v, 0, sizeof(v));
	if (target_spawn(&v.t))
		return 0;
	tcmd(&v.t, T_GETSP, 0, 0, 0, &sp);
	top = (sp & ~(PG - 1)) + PG;
	if (!env_attach(&v, top - MAX_SPT_RANGE, MAX_SPT_RANGE))
		goto out;
	if (!wait_truth(&v.tb, v.t.pid, NULL, NULL))
		goto out;
	if (ent(&v.tb, top - 3 * MIB)->state_flags) {
		snprintf(reason, sizeof(reason), "stack already reaches 3 MiB down");
		goto out;
	}
	tcmd(&v.t, T_STACK, 3 * MIB, 0, 0, &low);
	ok = expect(&v.tb, v.t.pid, (low + PG - 1) & ~(PG - 1), 16 * PG, SPT_ALL);
out:
	env_done(&v);
	return ok;
}

static int t_file_backed(void)
{
	struct env v;
	char dir[] = "/tmp/spt_selftestXXXXXX", path[64];
	int fd, ok = 0;

	memset(&v, 0, sizeof(v));
	if (!mkdtemp(dir))
		FAIL("mkdtemp: %s", strerror(errno));
	mount("tmpfs", dir, "tmpfs", 0, "size=16m");	/* fine if it fails */
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 64 * PG)) {
		snprintf(reason, sizeof(reason), "file: %s", strerror(errno));
		goto out_unmount;
	}
	{
		char b[PG];

		memset(b, 'f', sizeof(b));
		for (int i = 0; i < 64; i++)
			pwrite(fd, b, PG, i * PG);
	}
	if (!env_setup(&v, 2 * MIB))
		goto out;
	if (tcmd_fd(&v.t, T_MMAP, v.base, 64 * PG,
		    PROT_READ | ((MAP_PRIVATE | MAP_FIXED_NOREPLACE) << 8), fd, NULL)) {
		snprintf(reason, sizeof(reason), "target file mmap failed");
		goto out;
	}
	if (!expect(&v.tb, v.t.pid, v.base, 64 * PG, SPTE_VADDR_ALLOCATED))
		goto out;
	tcmd(&v.t, T_READ, v.base, 16 * PG, 0, NULL);
	ok = expect(&v.tb, v.t.pid, v.base, 16 * PG,
		    SPTE_VADDR_ALLOCATED | SPTE_PTE_MAPPED);
out:
	env_done(&v);
	close(fd);
out_unmount:
	unlink(path);
	umount(dir);
	rmdir(dir);
	return ok;
}

static int t_shared_anon(void)
{
	struct env v;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	if (tcmd(&v.t, T_MMAP, v.base, 8 * PG, RW |
		 ((MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE) << 8), NULL)) {
		snprintf(reason, sizeof(reason), "target mmap failed");
		goto out;
	}
	if (!expect(&v.tb, v.t.pid, v.base, 8 * PG, SPTE_VADDR_ALLOCATED))
		goto out;
	tcmd(&v.t, T_WRITE, v.base, 4 * PG, 2, NULL);
	ok = expect(&v.tb, v.t.pid, v.base, 4 * PG,
		    SPTE_VADDR_ALLOCATED | SPTE_PTE_MAPPED);
out:
	env_done(&v);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Cases: PTE tracking                                                 */
/* ------------------------------------------------------------------ */

static int t_read_fault_zero(void)
{
	struct env v;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 8 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_READ, v.base, PG, 0, NULL);
	tcmd(&v.t, T_READ, v.base + 5 * PG, PG, 0, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, PG, SPT_ALL))
		goto out;
	if (!ent(&v.tb, v.base)->pfn ||
	    ent(&v.tb, v.base)->pfn != ent(&v.tb, v.base + 5 * PG)->pfn) {
		snprintf(reason, sizeof(reason), "read faults do not share the zero page pfn");
		goto out;
	}
	ok = 1;
out:
	env_done(&v);
	return ok;
}

static int t_write_fault(void)
{
	struct env v;
	unsigned long zero;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 8 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_READ, v.base, PG, 0, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, PG, SPT_ALL))
		goto out;
	zero = ent(&v.tb, v.base)->pfn;
	tcmd(&v.t, T_WRITE, v.base, 2 * PG, 0x11, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 2 * PG, SPT_ALL))
		goto out;
	if (ent(&v.tb, v.base)->pfn == zero || !ent(&v.tb, v.base)->pfn) {
		snprintf(reason, sizeof(reason), "write fault kept the zero page pfn");
		goto out;
	}
	ok = 1;
out:
	env_done(&v);
	return ok;
}

static int t_cow_fork(void)
{
	struct env v;
	unsigned long gc, pfn_a, pfn_b;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 4 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 4 * PG, 0x22, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 4 * PG, SPT_ALL))
		goto out;
	pfn_a = ent(&v.tb, v.base)->pfn;
	if (tcmd(&v.t, T_FORK, 0, 0, 0, &gc)) {
		snprintf(reason, sizeof(reason), "target fork failed");
		goto out;
	}
	if (!wait_truth(&v.tb, v.t.pid, NULL, NULL))
		goto out_gc;
	tcmd(&v.t, T_WRITE, v.base, PG, 0x33, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, PG, SPT_ALL))
		goto out_gc;
	pfn_b = ent(&v.tb, v.base)->pfn;
	if (pfn_b == pfn_a) {
		snprintf(reason, sizeof(reason), "pfn did not change on COW");
		goto out_gc;
	}
	if (pagemap_pfn((pid_t)gc, v.base) != (long)pfn_a) {
		snprintf(reason, sizeof(reason), "child lost the original frame");
		goto out_gc;
	}
	ok = 1;
out_gc:
	tcmd(&v.t, T_KILL, gc, 0, 0, NULL);
out:
	env_done(&v);
	return ok;
}

static int t_madv_dontneed(void)
{
	struct env v;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 8 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 8 * PG, 0x44, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 8 * PG, SPT_ALL))
		goto out;
	tcmd(&v.t, T_MADVISE, v.base + 2 * PG, 4 * PG, MADV_DONTNEED, NULL);
	ok = expect(&v.tb, v.t.pid, v.base + 2 * PG, 4 * PG,
		    SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS) &&
	     expect(&v.tb, v.t.pid, v.base, 2 * PG, SPT_ALL);
out:
	env_done(&v);
	return ok;
}

static int t_threads(void)
{
	struct env v;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 64 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_THREADS, v.base, 64 * PG, 4, NULL);
	ok = expect(&v.tb, v.t.pid, v.base, 64 * PG, SPT_ALL);
out:
	env_done(&v);
	return ok;
}

static int check_thp(struct shadow_pte *e, unsigned long n, void *arg)
{
	unsigned long i, base = *(unsigned long *)arg;

	(void)n;
	for (i = 0; i < 512; i++) {
		if (!(e[i].state_flags & SPTE_PTE_MAPPED) ||
		    e[i].pfn != e[0].pfn + i || e[i].vaddr != base + i * PG) {
			snprintf(reason, sizeof(reason), "subpage %lu: pfn 0x%lx, head 0x%lx",
				 i, e[i].pfn, e[0].pfn);
			return 0;
		}
	}
	return 1;
}

static int t_thp(void)
{
	struct env v;
	int ok = 0, fd;
	long pfn0, pfn1;

	fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_WRONLY);
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "no THP support in this kernel");
		return SKIP;
	}
	write(fd, "madvise", 7);
	close(fd);
	if (!env_setup(&v, 4 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 2 * MIB, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_MADVISE, v.base, 2 * MIB, MADV_HUGEPAGE, NULL);
	tcmd(&v.t, T_WRITE, v.base + 100, 1, 1, NULL);
	msleep(10);
	pfn0 = pagemap_pfn(v.t.pid, v.base);
	pfn1 = pagemap_pfn(v.t.pid, v.base + PG);
	if (pfn0 <= 0 || pfn1 != pfn0 + 1 || pfn0 % 512) {
		snprintf(reason, sizeof(reason), "kernel did not map a THP here");
		env_done(&v);
		return SKIP;
	}
	ok = wait_truth(&v.tb, v.t.pid, check_thp, &v.base);
out:
	env_done(&v);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Cases: exec, exit                                                   */
/* ------------------------------------------------------------------ */

static int exec_case(int op)
{
	struct env v;
	unsigned long start = 0x400000, extra = 0, off, pfn_before;
	long r;
	int ok = 0;

	memset(&v, 0, sizeof(v));
	if (target_spawn(&v.t))
		return 0;
	if (!env_attach(&v, start, MAX_SPT_RANGE))
		goto out;
	for (off = 7 * MIB; off >= 4 * MIB; off -= MIB) {
		if (!tcmd(&v.t, T_MMAP, start + off, PG, MMAP_ANON(RW), NULL)) {
			extra = start + off;
			break;
		}
	}
	if (!extra) {
		snprintf(reason, sizeof(reason), "no free page in the window");
		goto out;
	}
	tcmd(&v.t, T_WRITE, extra, PG, 0x55, NULL);
	if (!expect(&v.tb, v.t.pid, extra, PG, SPT_ALL))
		goto out;
	pfn_before = ent(&v.tb, extra)->pfn;
	r = tcmd(&v.t, op, 0, 0, 0, NULL);
	if (r) {
		snprintf(reason, sizeof(reason), "exec: %s", strerror((int)-r));
		goto out;
	}
	if (!wait_truth(&v.tb, v.t.pid, NULL, NULL))
		goto out;
	if (ent(&v.tb, extra)->state_flags && ent(&v.tb, extra)->pfn == pfn_before) {
		snprintf(reason, sizeof(reason), "old mapping still shown");
		goto out;
	}
	if (!(ent(&v.tb, start)->state_flags & SPTE_VADDR_ALLOCATED)) {
		snprintf(reason, sizeof(reason), "new image text not shown");
		goto out;
	}
	/* Still tracking the new mm. */
	if (tcmd(&v.t, T_MMAP, extra, PG, MMAP_ANON(RW), NULL)) {
		snprintf(reason, sizeof(reason), "mmap after exec failed");
		goto out;
	}
	tcmd(&v.t, T_WRITE, extra, PG, 0x66, NULL);
	ok = expect(&v.tb, v.t.pid, extra, PG, SPT_ALL);
out:
	env_done(&v);
	return ok;
}

static int t_exec(void)
{
	return exec_case(T_EXEC);
}

static int t_exec_thread(void)
{
	return exec_case(T_EXEC_THREAD);
}

static int check_all_zero(struct shadow_pte *e, unsigned long n, void *arg)
{
	unsigned long i;

	(void)arg;
	for (i = 0; i < n; i++) {
		if (e[i].state_flags || e[i].pfn) {
			snprintf(reason, sizeof(reason), "entry %lu still flags %lu pfn 0x%lx",
				 i, e[i].state_flags, e[i].pfn);
			return 0;
		}
	}
	return 1;
}

static int t_target_exit(void)
{
	struct env v;
	struct shadow_pte *s;
	long deadline;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 16 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 16 * PG, 1, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 16 * PG, SPT_ALL))
		goto out;
	tcmd(&v.t, T_EXIT, 0, 0, 0, NULL);
	waitpid(v.t.pid, NULL, 0);
	v.t.pid = 0;
	s = calloc(v.tb.n, sizeof(*s));
	deadline = now_ms() + WAIT_MS;
	do {
		table_snap(&v.tb, s);
		ok = check_all_zero(s, v.tb.n, NULL);
		if (!ok)
			msleep(5);
	} while (!ok && now_ms() < deadline);
	free(s);
	if (!ok)
		goto out;
	if (spt_start() || spt_stop()) {
		snprintf(reason, sizeof(reason), "start/stop after target exit: %s",
			 strerror(errno));
		ok = 0;
		goto out;
	}
	if (table_close(&v.tb)) {
		snprintf(reason, sizeof(reason), "close after target exit failed");
		ok = 0;
	}
out:
	env_done(&v);
	return ok;
}

static int t_page_contents(void)
{
	struct env v;
	static unsigned char buf[PG];
	unsigned long pfn, i;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 2 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base + PG, PG, 0xa7, NULL);
	if (!expect(&v.tb, v.t.pid, v.base + PG, PG, SPT_ALL))
		goto out;
	pfn = ent(&v.tb, v.base + PG)->pfn;
	if (spt_page_contents(pfn, buf)) {
		snprintf(reason, sizeof(reason), "page_contents: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < PG; i++) {
		if (buf[i] != 0xa7) {
			snprintf(reason, sizeof(reason), "byte %lu is 0x%x", i, buf[i]);
			goto out;
		}
	}
	ok = 1;
out:
	env_done(&v);
	return ok;
}

static int t_uffd_copy(void)
{
	struct env v;
	static unsigned char buf[PG];
	unsigned long i;
	long r;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 8 * PG, MMAP_ANON(RW), NULL);
	r = tcmd(&v.t, T_UFFD_COPY, v.base + 2 * PG, 3 * PG, 0x6b, NULL);
	if (r) {
		snprintf(reason, sizeof(reason), "UFFDIO_COPY: %s", strerror((int)-r));
		goto out;
	}
	if (!expect(&v.tb, v.t.pid, v.base + 2 * PG, 3 * PG, SPT_ALL))
		goto out;
	if (spt_page_contents(ent(&v.tb, v.base + 3 * PG)->pfn, buf)) {
		snprintf(reason, sizeof(reason), "page_contents: %s", strerror(errno));
		goto out;
	}
	for (i = 0; i < PG && buf[i] == 0x6b; i++)
		;
	if (i < PG) {
		snprintf(reason, sizeof(reason), "byte %lu of the copied page is 0x%x", i, buf[i]);
		goto out;
	}
	ok = 1;
out:
	env_done(&v);
	return ok;
}

/*
 * A table that is no longer tracking may still show a frame the target
 * has since unmapped and the kernel reused: its contents are never read.
 */
static int t_page_contents_stale(void)
{
	struct env v;
	static unsigned char buf[PG];
	unsigned long pfn;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, PG, 0x5c, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, PG, SPT_ALL))
		goto out;
	pfn = ent(&v.tb, v.base)->pfn;
	if (spt_stop()) {
		snprintf(reason, sizeof(reason), "stop: %s", strerror(errno));
		goto out;
	}
	if (!spt_page_contents(pfn, buf) || errno != EINVAL) {
		snprintf(reason, sizeof(reason), "stopped table, page still mapped: not EINVAL");
		goto out;
	}
	tcmd(&v.t, T_MUNMAP, v.base, PG, 0, NULL);
	/* Reuse: other memory gets allocated and written meanwhile. */
	tcmd(&v.t, T_MMAP, v.base + MIB, 64 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base + MIB, 64 * PG, 0x3d, NULL);
	if (!(ent(&v.tb, v.base)->state_flags & SPTE_PTE_MAPPED)) {
		snprintf(reason, sizeof(reason), "stopped table changed after munmap");
		goto out;
	}
	if (!spt_page_contents(pfn, buf) || errno != EINVAL) {
		snprintf(reason, sizeof(reason), "unmapped frame of a stopped table: not EINVAL");
		goto out;
	}
	ok = 1;
out:
	env_done(&v);
	return ok;
}

static int t_page_contents_einval(void)
{
	struct env v;
	static unsigned char buf[PG];
	static char mine[PG];
	long own;
	int ok = 0;

	mine[0] = 1;
	own = pagemap_pfn(getpid(), (unsigned long)mine);
	if (own <= 0)
		FAIL("cannot read own pfn");
	if (!env_setup(&v, 2 * MIB))
		goto out;
	if (!spt_page_contents(own, buf) || errno != EINVAL) {
		snprintf(reason, sizeof(reason), "pfn outside the table: not EINVAL");
		goto out;
	}
	env_done(&v);
	if (!spt_page_contents(own, buf) || errno != EINVAL)
		FAIL("no table: not EINVAL");
	return 1;
out:
	env_done(&v);
	return ok;
}

static int t_self_inspect(void)
{
	struct table t;
	char *p = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long r;
	int ok;

	r = table_open(&t, getpid(), (unsigned long)p, 2 * MIB);
	if (r)
		FAIL("open on self: %s", strerror((int)-r));
	if (spt_start()) {
		table_close(&t);
		FAIL("start on self: %s", strerror(errno));
	}
	memset(p, 1, 16 * PG);
	munmap(p + 32 * PG, 8 * PG);
	ok = expect(&t, getpid(), (unsigned long)p, 16 * PG, SPT_ALL) &&
	     expect(&t, getpid(), (unsigned long)p + 32 * PG, 8 * PG, 0);
	if (table_close(&t) && ok)
		FAIL("close on self failed");
	munmap(p, 2 * MIB);
	return ok;
}

static int t_mremap(void)
{
	struct env v;
	struct cmd cm;
	struct rep r;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 8 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 8 * PG, 0x12, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 8 * PG, SPT_ALL))
		goto out;
	/* Move and grow: 8 pages at base -> 16 pages at base + 64 pages. */
	cm = (struct cmd){ T_MREMAP, -1, v.base, 8 * PG, 16 * PG, v.base + 64 * PG };
	if (write_full(v.t.wfd, &cm, sizeof(cm)) || read_full(v.t.rfd, &r, sizeof(r)) ||
	    r.ret) {
		snprintf(reason, sizeof(reason), "mremap failed");
		goto out;
	}
	ok = expect(&v.tb, v.t.pid, v.base, 8 * PG, 0) &&
	     expect(&v.tb, v.t.pid, v.base + 64 * PG, 8 * PG, SPT_ALL) &&
	     expect(&v.tb, v.t.pid, v.base + 72 * PG, 8 * PG,
		    SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS);
out:
	env_done(&v);
	return ok;
}

static long anon_huge_kb(pid_t pid)
{
	char fn[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(fn, sizeof(fn), "/proc/%d/smaps_rollup", pid);
	f = fopen(fn, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* Split a PMD-mapped THP through migration entries (split_huge_page). */
static int t_thp_split(void)
{
	struct env v;
	int ok = 0;
	long pfn0;

	if (access("/sys/kernel/mm/transparent_hugepage", F_OK)) {
		snprintf(reason, sizeof(reason), "no THP support in this kernel");
		return SKIP;
	}
	if (!env_setup(&v, 4 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 2 * MIB, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_MADVISE, v.base, 2 * MIB, MADV_HUGEPAGE, NULL);
	tcmd(&v.t, T_WRITE, v.base, 2 * MIB, 0x31, NULL);
	pfn0 = pagemap_pfn(v.t.pid, v.base);
	if (pfn0 <= 0 || pagemap_pfn(v.t.pid, v.base + PG) != pfn0 + 1 || pfn0 % 512) {
		snprintf(reason, sizeof(reason), "kernel did not map a THP here");
		env_done(&v);
		return SKIP;
	}
	if (!wait_truth(&v.tb, v.t.pid, check_thp, &v.base))
		goto out;
	/* Paging out part of it splits the folio (no swap: pages stay). */
	tcmd(&v.t, T_MADVISE, v.base, 4 * PG, 21 /* MADV_PAGEOUT */, NULL);
	ok = wait_truth(&v.tb, v.t.pid, NULL, NULL);
	if (ok && anon_huge_kb(v.t.pid) != 0) {
		snprintf(reason, sizeof(reason), "THP was not split (AnonHugePages %ld kB)",
			 anon_huge_kb(v.t.pid));
		env_done(&v);
		return SKIP;
	}
out:
	env_done(&v);
	return ok;
}

static int t_thp_collapse(void)
{
	struct env v;
	int ok = 0;
	long r;

	if (access("/sys/kernel/mm/transparent_hugepage", F_OK)) {
		snprintf(reason, sizeof(reason), "no THP support in this kernel");
		return SKIP;
	}
	if (!env_setup(&v, 4 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 2 * MIB, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 2 * MIB, 0x21, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 2 * MIB, SPT_ALL))
		goto out;
	r = tcmd(&v.t, T_MADVISE, v.base, 2 * MIB, 25 /* MADV_COLLAPSE */, NULL);
	if (r) {
		snprintf(reason, sizeof(reason), "MADV_COLLAPSE: %s", strerror((int)-r));
		env_done(&v);
		return SKIP;
	}
	ok = wait_truth(&v.tb, v.t.pid, check_thp, &v.base);
out:
	env_done(&v);
	return ok;
}

static int t_stress(void)
{
	struct env v;
	struct cmd cm;
	struct rep r;
	struct shadow_pte *snap;
	int ok = 0, i = 0;
	long end;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	snap = calloc(v.tb.n, sizeof(*snap));
	cm = (struct cmd){ T_CHURN, -1, v.base, 2 * MIB, 1500, 0 };
	if (write_full(v.t.wfd, &cm, sizeof(cm))) {
		free(snap);
		goto out;
	}
	end = now_ms() + 1500;
	while (now_ms() < end) {
		table_snap(&v.tb, snap);
		if (++i % 3 == 0 && spt_stop())
			break;
		if (i % 3 == 0 && spt_start())
			break;
		if (i % 20 == 0) {
			table_close(&v.tb);
			if (table_open(&v.tb, v.t.pid, v.base, 2 * MIB) || spt_start())
				break;
		}
		msleep(2);
	}
	free(snap);
	if (read_full(v.t.rfd, &r, sizeof(r))) {
		snprintf(reason, sizeof(reason), "target died during churn");
		goto out;
	}
	if (now_ms() < end) {
		snprintf(reason, sizeof(reason), "start/stop/open failed during churn: %s",
			 strerror(errno));
		goto out;
	}
	/* Quiescent again: the tracked table must converge to procfs. */
	ok = wait_truth(&v.tb, v.t.pid, NULL, NULL);
out:
	env_done(&v);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Cases: inspector exit                                               */
/* ------------------------------------------------------------------ */

struct insp_arg {
	const char *mode;
	pid_t target;
	unsigned long start;
	int ready;
};

static void *insp_mt_opener(void *p)
{
	struct insp_arg *a = p;
	struct table t;
	char c = 1;

	if (table_open(&t, a->target, a->start, 2 * MIB) || spt_start())
		c = 2;
	write(a->ready, &c, 1);
	for (;;)
		pause();
	return NULL;
}

static void *insp_sleeper(void *p)
{
	(void)p;
	for (;;)
		pause();
	return NULL;
}

/* The inspector side, in a re-executed or forked process. */
static int inspector_main(struct insp_arg *a)
{
	struct table t;
	char c = 1;

	if (!strcmp(a->mode, "mt")) {
		pthread_t th;

		pthread_create(&th, NULL, insp_sleeper, NULL);
		pthread_create(&th, NULL, insp_mt_opener, a);
		pthread_create(&th, NULL, insp_sleeper, NULL);
		msleep(300);
		exit(0);	/* exit_group with the opener thread alive */
	}
	if (!strcmp(a->mode, "self")) {
		char *p = mmap(NULL, 2 * MIB, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (table_open(&t, getpid(), (unsigned long)p, 2 * MIB) ||
		    spt_start())
			c = 2;
		memset(p, 3, 8 * PG);
		write(a->ready, &c, 1);
		_exit(0);
	}
	if (table_open(&t, a->target, a->start, 2 * MIB))
		c = 2;
	if (strcmp(a->mode, "return") && spt_start())
		c = 2;
	write(a->ready, &c, 1);
	if (!strcmp(a->mode, "exit"))
		exit(0);
	if (!strcmp(a->mode, "exec")) {
		char *argv[] = { "spt_selftest", "--exit", NULL };

		execv(self_exe, argv);
		_exit(99);
	}
	if (!strcmp(a->mode, "kill")) {
		for (;;)
			pause();
	}
	return 0;	/* "return": back to main(), which returns */
}

static int inspector_case(const char *mode)
{
	struct env v;
	int ready[2], ok = 0, st;
	char c = 0, fdbuf[16], tbuf[16], sbuf[32];
	pid_t p;
	long r;

	memset(&v, 0, sizeof(v));
	if (target_spawn(&v.t) || pipe(ready))
		FAIL("setup");
	tcmd(&v.t, T_ARENA, 2 * MIB, 0, 0, &v.base);
	tcmd(&v.t, T_MMAP, v.base, 8 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 8 * PG, 1, NULL);
	p = fork();
	if (p == 0) {
		char *argv[] = { "spt_selftest", "--inspector", (char *)mode,
				 tbuf, sbuf, fdbuf, NULL };

		close(ready[0]);
		snprintf(tbuf, sizeof(tbuf), "%d", v.t.pid);
		snprintf(sbuf, sizeof(sbuf), "%lu", v.base);
		snprintf(fdbuf, sizeof(fdbuf), "%d", ready[1]);
		execv(self_exe, argv);
		_exit(99);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1 || c != 1) {
		snprintf(reason, sizeof(reason), "inspector (%s) failed to open/start", mode);
		if (!strcmp(mode, "kill"))
			kill(p, SIGKILL);
		waitpid(p, NULL, 0);
		goto out;
	}
	if (!strcmp(mode, "kill"))
		kill(p, SIGKILL);
	waitpid(p, &st, 0);
	/* The table must be gone: the next open succeeds at once. */
	r = table_open(&v.tb, v.t.pid, v.base, 2 * MIB);
	if (r == -EBUSY) {
		long deadline = now_ms() + WAIT_MS;

		while (r == -EBUSY && now_ms() < deadline) {
			msleep(10);
			r = table_open(&v.tb, v.t.pid, v.base, 2 * MIB);
		}
		if (!r) {
			snprintf(reason, sizeof(reason), "open was EBUSY right after the inspector exited");
			goto out;
		}
	}
	if (r) {
		snprintf(reason, sizeof(reason), "open after inspector exit: %s",
			 strerror((int)-r));
		goto out;
	}
	if (spt_start()) {
		snprintf(reason, sizeof(reason), "start: %s", strerror(errno));
		goto out;
	}
	ok = expect(&v.tb, v.t.pid, v.base, 8 * PG, SPT_ALL);
out:
	close(ready[0]);
	env_done(&v);
	return ok;
}

static int t_insp_return(void)
{
	return inspector_case("return");
}

static int t_insp_exit_tracking(void)
{
	return inspector_case("exit");
}

static int t_insp_sigkill(void)
{
	return inspector_case("kill");
}

static int t_insp_multithreaded(void)
{
	return inspector_case("mt");
}

static int t_insp_self(void)
{
	return inspector_case("self");
}

static int t_insp_exec(void)
{
	return inspector_case("exec");
}

static int munmap_table_child(void *arg)
{
	struct table t;

	(void)arg;
	/* 512 entries: a three-page table. */
	if (table_open(&t, getpid(), some_range(), 512 * PG) || spt_start())
		return 1;
	/* Partial unmap is refused; a full unmap releases the table. */
	if (!munmap(t.e, PG))
		return 2;
	if (munmap(t.e, t.bytes))
		return 3;
	if (spt_close() == 0 || errno != EINVAL)
		return 4;
	return 0;
}

static int t_insp_munmap(void)
{
	int st = in_child(munmap_table_child, NULL);
	struct table t;
	long r;

	if (st)
		FAIL("child status %d", st);
	r = table_open(&t, getpid(), some_range(), PG);
	if (r)
		FAIL("open after munmap of the table: %s", strerror((int)-r));
	table_close(&t);
	return 1;
}

/* The positive probe userspace uses before calling 463..467. */
static int t_sysfs_abi_version(void)
{
	char buf[16] = "";
	int fd = open("/sys/kernel/mm/shadowpt/abi_version", O_RDONLY);
	ssize_t n;

	if (fd < 0)
		FAIL("open /sys/kernel/mm/shadowpt/abi_version: %s", strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n != 2 || strcmp(buf, "1\n"))
		FAIL("abi_version reads '%s' (%zd bytes), want '1\\n'", buf, n);
	return 1;
}

/* ------------------------------------------------------------------ */
/* Cases: fixes from the review of the first series                    */
/* ------------------------------------------------------------------ */

struct race_arg {
	char *volatile buf;	/* pages to fault in, NULL: idle */
	volatile int iter, done, quit;
};

static void *race_faulter(void *p)
{
	struct race_arg *a = p;
	int seen = 0;

	while (!a->quit) {
		char *b = a->buf;
		int k;

		if (!b || a->iter == seen)
			continue;
		/* Read faults go through the per-VMA lock, not mmap_lock. */
		for (k = 0; k < 3; k++)
			(void)*(volatile char *)(b + k * PG);
		seen = a->iter;
		a->done = seen;
	}
	return NULL;
}

/*
 * A sibling thread faults the entries buffer while shadowpt_open() checks
 * that it is empty. Without vma_start_write() before the check, a fault
 * under the per-VMA lock can install a PTE between the check and
 * remap_pfn_range(), which hits BUG_ON(!pte_none()).
 */
static int t_open_race_fault(void)
{
	struct race_arg a = { 0 };
	int i, opened = 0, refused = 0, other = 0;
	pthread_t th;
	long r;

	pthread_create(&th, NULL, race_faulter, &a);
	for (i = 1; i <= 400; i++) {
		char *b = mmap(NULL, 3 * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct user_shadow_pt u = { some_range(), some_range() + 256 * PG,
					    (struct shadow_pte *)b };

		if (b == MAP_FAILED)
			break;
		a.buf = b;
		a.iter = i;
		r = spt_open(getpid(), &u);
		if (!r)
			opened++;
		else if (errno == EINVAL)
			refused++;
		else
			other++;
		while (a.done != i)
			;
		if (!r)
			spt_close();
		a.buf = NULL;
		munmap(b, 3 * PG);
	}
	a.quit = 1;
	pthread_join(th, NULL);
	vlog("# race: %d opened, %d refused (populated), %d other\n", opened, refused, other);
	if (other)
		FAIL("%d opens failed with another error", other);
	return 1;
}

static int t_open_growsdown(void)
{
	void *b = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
	int e;

	if (b == MAP_FAILED)
		FAIL("mmap MAP_GROWSDOWN: %s", strerror(errno));
	e = open_errno(getpid(), some_range(), some_range() + PG, b);
	munmap(b, 16 * PG);
	EXPECT_ERRNO(e, EINVAL);
}

#ifndef __NR_mseal
#define __NR_mseal 462
#endif

static int seal_close_child(void *arg)
{
	struct table t;

	(void)arg;
	if (table_open(&t, getpid(), some_range(), PG))
		return 1;
	if (syscall(__NR_mseal, t.e, t.bytes, 0))
		return errno == ENOSYS || errno == EINVAL ? 77 : 2;
	if (spt_close())
		return 3;
	/* Still sealed: the mapping cannot be removed. */
	if (!munmap(t.e, t.bytes))
		return 4;
	return errno == EPERM ? 0 : 5;
}

static int t_close_keeps_seal(void)
{
	int st = in_child(seal_close_child, NULL);

	if (st == 77) {
		snprintf(reason, sizeof(reason), "no mseal() in this kernel");
		return SKIP;
	}
	if (st == 4)
		FAIL("close cleared VM_SEALED: munmap of the sealed range succeeded");
	if (st)
		FAIL("child status %d", st);
	return 1;
}

static long vm_data_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmData: %ld", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb;
}

/* mm->data_vm must come back to where it was, whichever way the table goes. */
static int data_vm_child(void *arg)
{
	int do_close = *(int *)arg;
	long before = vm_data_kb(), mapped, opened;
	size_t bytes = 12 * PG;	/* the table for MAX_SPT_RANGE */
	struct user_shadow_pt u = { some_range(), some_range() + MAX_SPT_RANGE, NULL };
	void *b = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (b == MAP_FAILED)
		return 1;
	mapped = vm_data_kb();
	u.entries = b;
	if (spt_open(getpid(), &u))
		return 2;
	opened = vm_data_kb();
	if (do_close && spt_close())
		return 3;
	if (do_close && vm_data_kb() != mapped)
		return 4;
	munmap(b, bytes);
	if (vm_data_kb() != before) {
		fprintf(stderr, "# VmData %ld kB before, %ld mapped, %ld opened, %ld after\n",
			before, mapped, opened, vm_data_kb());
		return 5;
	}
	return opened == mapped - (long)bytes / 1024 ? 0 : 6;
}

static int t_data_vm(void)
{
	int with_close = 1, without = 0, st;

	st = in_child(data_vm_child, &without);
	if (st)
		FAIL("open + munmap: VmData wrong (status %d)", st);
	st = in_child(data_vm_child, &with_close);
	if (st)
		FAIL("open + close + munmap: VmData wrong (status %d)", st);
	return 1;
}

static int clone_sleeper(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

/*
 * The opener shares its mm with a CLONE_VM child that is not a thread and
 * exits: the table must go with the opener, not stay mapped in the child.
 */
static int clonevm_opener(void *arg)
{
	pid_t *child = arg;
	static char stack[64 * 1024] __attribute__((aligned(16)));
	struct table t;

	if (table_open(&t, getpid(), some_range(), PG) || spt_start())
		return 1;
	*child = clone(clone_sleeper, stack + sizeof(stack), CLONE_VM | SIGCHLD, NULL);
	return *child < 0 ? 2 : 0;
}

static int t_clonevm_child(void)
{
	pid_t *child = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	long deadline = now_ms() + WAIT_MS, r;
	struct table t;
	int st, ok = 0;

	*child = 0;
	st = in_child(clonevm_opener, child);
	if (st) {
		snprintf(reason, sizeof(reason), "opener status %d", st);
		goto out;
	}
	do {
		r = table_open(&t, getpid(), some_range(), PG);
		if (r == -EBUSY)
			msleep(10);
	} while (r == -EBUSY && now_ms() < deadline);
	if (r) {
		snprintf(reason, sizeof(reason), "open after the opener exited: %s%s",
			 strerror((int)-r), r == -EBUSY ? " (the CLONE_VM child keeps it)" : "");
		goto out;
	}
	table_close(&t);
	ok = 1;
out:
	if (*child > 0) {
		kill(*child, SIGKILL);
		waitpid(*child, NULL, 0);
	}
	munmap(child, PG);
	return ok;
}

/*
 * Registering an mmu notifier used to take every anon_vma and i_mmap lock
 * of the target (mm_take_all_locks()): with thousands of shared anonymous
 * mappings lockdep runs out of nesting depth and turns itself off. The
 * issue's reproducer: 2000 one-page regions were clean, 2100 warned
 * (DEBUG_LOCKS_WARN_ON(hlock->references < references)); the VM's log
 * check fails the suite on that WARNING.
 */
static int lockdep_debug_locks(void)
{
	FILE *f = fopen("/proc/lockdep_stats", "r");
	char line[128];
	int v = -1;

	if (!f)
		return -1;	/* no lockdep in this kernel */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, " debug_locks: %d", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int start_many_vmas(int nvmas)
{
	int locks_before = lockdep_debug_locks();
	struct env v;
	long t0, t1, r;
	int ok = 0;

	memset(&v, 0, sizeof(v));
	if (target_spawn(&v.t))
		FAIL("fork target");
	r = tcmd(&v.t, T_SHMANY, nvmas, 0, 0, NULL);
	if (r) {
		snprintf(reason, sizeof(reason), "target mapping %d regions: %s",
			 nvmas, strerror((int)-r));
		goto out;
	}
	tcmd(&v.t, T_ARENA, 2 * MIB, 0, 0, &v.base);
	if (table_open(&v.tb, v.t.pid, v.base, 2 * MIB))
		goto out;
	t0 = now_ms();
	if (spt_start()) {
		snprintf(reason, sizeof(reason), "start: %s", strerror(errno));
		goto out;
	}
	t1 = now_ms();
	printf("# start on a target with %d shared anonymous VMAs: %ld ms\n",
	       nvmas, t1 - t0);
	tcmd(&v.t, T_MMAP, v.base, 4 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 4 * PG, 1, NULL);
	ok = expect(&v.tb, v.t.pid, v.base, 4 * PG, SPT_ALL);
	/* Again, and once more after a stop: each start registers anew. */
	t0 = now_ms();
	if (ok && (spt_stop() || spt_start()))
		FAIL("stop/start: %s", strerror(errno));
	printf("# stop + start again: %ld ms\n", now_ms() - t0);
	if (ok && locks_before == 1 && lockdep_debug_locks() == 0) {
		snprintf(reason, sizeof(reason),
			 "lockdep turned itself off (debug_locks 0): see the kernel log");
		ok = 0;
	}
out:
	env_done(&v);
	return ok;
}

static int t_start_many_vmas(void)
{
	return start_many_vmas(10000);
}

static int t_start_2100_vmas(void)
{
	return start_many_vmas(2100);
}

struct hammer_arg {
	volatile int quit;
	long pairs;
};

static void *start_stop_hammer(void *p)
{
	struct hammer_arg *a = p;

	while (!a->quit) {
		spt_stop();
		spt_start();
		a->pairs++;
	}
	return NULL;
}

/* Median ms of n fork+execve()s of an unrelated program. */
static long exec_median_ms(int n)
{
	long t[32];
	int i, j;

	for (i = 0; i < n && i < 32; i++) {
		long t0 = now_ms();
		pid_t p = fork();

		if (p == 0) {
			char *argv[] = { "spt_selftest", "--exit", NULL };

			execv(self_exe, argv);
			_exit(99);
		}
		waitpid(p, NULL, 0);
		t[i] = now_ms() - t0;
		for (j = i; j > 0 && t[j - 1] > t[j]; j--) {
			long x = t[j];

			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	}
	return t[n / 2];
}

#define PROT_CHURN_MIB 128

/*
 * An execve() anywhere used to take shadowpt_mutex whenever a table
 * existed. Make the opener hold it for long: its shadowpt_start() has to
 * wait for the target's mmap_lock, which a target thread holds for
 * writing most of the time (mprotect() of a big populated region). Execs
 * elsewhere must not notice.
 */
static int t_exec_no_mutex(void)
{
	struct hammer_arg h = { 0 };
	long quiet, busy, t0, pair;
	struct env v;
	pthread_t th;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	if (tcmd(&v.t, T_PROT_CHURN, PROT_CHURN_MIB * MIB, 0, 0, NULL)) {
		snprintf(reason, sizeof(reason), "target could not map %d MiB", PROT_CHURN_MIB);
		goto out;
	}
	quiet = exec_median_ms(9);
	t0 = now_ms();
	pthread_create(&th, NULL, start_stop_hammer, &h);
	busy = exec_median_ms(9);
	h.quit = 1;
	pthread_join(th, NULL);
	/* How long the opener holds the mutex, about: one start/stop pair. */
	pair = (now_ms() - t0) / (h.pairs > 1 ? h.pairs : 1);
	printf("# exec median: %ld ms, %ld ms while the opener ran %ld start/stop pairs of %ld ms\n",
	       quiet, busy, h.pairs, pair);
	/* Waiting for the mutex costs about half a pair per exec. */
	if (busy > quiet + (pair / 4 > 50 ? pair / 4 : 50)) {
		snprintf(reason, sizeof(reason), "execs waited for the table's mutex: %ld ms vs %ld ms",
			 busy, quiet);
		goto out;
	}
	ok = 1;
out:
	env_done(&v);
	return ok;
}

/* Fault injection: fail the Nth page allocation of a task (fail-nth). */
static int fail_page_alloc_setup(void)
{
	static const char *const knobs[][2] = {
		{ "min-order", "0" },		/* page tables are order 0 */
		{ "ignore-gfp-wait", "N" },	/* and GFP_KERNEL */
		{ "verbose", "0" },		/* no stack dumps in the log */
	};
	char fn[128];
	size_t i;
	int fd;

	if (access("/sys/kernel/debug/fail_page_alloc", F_OK))
		mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL);
	if (access("/sys/kernel/debug/fail_page_alloc", F_OK) ||
	    access("/proc/self/task", F_OK)) {
		snprintf(reason, sizeof(reason), "no fail_page_alloc fault injection");
		return SKIP;
	}
	for (i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(fn, sizeof(fn), "/sys/kernel/debug/fail_page_alloc/%s", knobs[i][0]);
		fd = open(fn, O_WRONLY);
		if (fd < 0 || write(fd, knobs[i][1], strlen(knobs[i][1])) < 0)
			FAIL("%s: %s", fn, strerror(errno));
		close(fd);
	}
	return 1;
}

/*
 * A failed mremap() moves the page table entries it already moved back to
 * the old range, without an mmu notifier call. Make the Nth page
 * allocation of the call fail, for N = 1, 2, ... until it succeeds: one
 * of them fails after a partial move (a PTE table for the destination).
 */
static int t_mremap_moveback(void)
{
	unsigned long src, dst, len = 2 * MIB + 16 * PG;
	int nth, enomem = 0, ok = 0, r;
	struct env v;
	long ret;

	r = fail_page_alloc_setup();
	if (r != 1)
		return r;
	if (!env_setup(&v, MAX_SPT_RANGE))
		goto out;
	src = v.base;
	/* Not PMD aligned: the move allocates PTE tables as it goes. */
	dst = v.base + 4 * MIB + PG;
	for (nth = 1; nth < 64; nth++) {
		tcmd(&v.t, T_MUNMAP, v.base, MAX_SPT_RANGE, 0, NULL);
		tcmd(&v.t, T_MMAP, src, len, MMAP_ANON(RW), NULL);
		tcmd(&v.t, T_WRITE, src, len, nth, NULL);
		ret = tcmd4(&v.t, T_MREMAP_NTH, src, len, dst, (unsigned long)nth);
		if (ret && ret != -ENOMEM) {
			snprintf(reason, sizeof(reason), "mremap with fail-nth %d: %s", nth,
				 strerror((int)-ret));
			goto out;
		}
		if (!wait_truth(&v.tb, v.t.pid, NULL, NULL)) {
			snprintf(reason + strlen(reason), sizeof(reason) - strlen(reason),
				 " (after mremap %s, fail-nth %d)", ret ? "ENOMEM" : "ok", nth);
			goto out;
		}
		if (!ret)
			break;
		enomem++;
	}
	vlog("# mremap failed with ENOMEM for fail-nth 1..%d\n", enomem);
	if (!enomem) {
		snprintf(reason, sizeof(reason), "no injected failure hit mremap");
		env_done(&v);
		return SKIP;
	}
	ok = 1;
out:
	env_done(&v);
	return ok;
}

static int t_uffd_move(void)
{
	struct env v;
	long r;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 8 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 8 * PG, 0x5a, NULL);
	tcmd(&v.t, T_MMAP, v.base + 64 * PG, 8 * PG, MMAP_ANON(RW), NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 8 * PG, SPT_ALL))
		goto out;
	r = tcmd(&v.t, T_UFFD_MOVE, v.base, v.base + 64 * PG, 8 * PG, NULL);
	if (r == -EINVAL || r == -ENOSYS || r == -ENOTTY) {
		snprintf(reason, sizeof(reason), "no UFFDIO_MOVE: %s", strerror((int)-r));
		env_done(&v);
		return SKIP;
	}
	if (r) {
		snprintf(reason, sizeof(reason), "UFFDIO_MOVE: %s", strerror((int)-r));
		goto out;
	}
	ok = expect(&v.tb, v.t.pid, v.base + 64 * PG, 8 * PG, SPT_ALL) &&
	     expect(&v.tb, v.t.pid, v.base, 8 * PG,
		    SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS);
out:
	env_done(&v);
	return ok;
}

/*
 * UFFDIO_COPY whose second source page cannot be read: the kernel copies
 * the first page, drops its locks to fault in the second (-ENOENT), fails,
 * and returns one page copied. That page must show.
 */
static int t_uffd_copy_partial(void)
{
	unsigned long src, dst;
	struct env v;
	long r;
	int ok = 0;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	src = v.base + 256 * PG;
	dst = v.base;
	tcmd(&v.t, T_MMAP, src, 2 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, src, PG, 0x77, NULL);
	tcmd(&v.t, T_MPROTECT, src + PG, PG, PROT_NONE, NULL);
	tcmd(&v.t, T_MMAP, dst, 2 * PG, MMAP_ANON(RW), NULL);
	r = tcmd(&v.t, T_UFFD_COPY_FROM, dst, src, 2 * PG, NULL);
	if (r != (long)PG) {
		snprintf(reason, sizeof(reason), "UFFDIO_COPY returned %ld, want one page", r);
		goto out;
	}
	ok = expect(&v.tb, v.t.pid, dst, PG, SPT_ALL) &&
	     expect(&v.tb, v.t.pid, dst + PG, PG, SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS);
out:
	env_done(&v);
	return ok;
}

/* ------------------------------------------------------------------ */
/* Swap (a loop device on a tmpfs file)                                */
/* ------------------------------------------------------------------ */

#define SWAP_PAGES 4096		/* 16 MiB */
static char swap_dev[32];
static int swap_loop_fd = -1;

/* 1 with swap on, SKIP (reason set) if this kernel cannot, 0 on error. */
static int swap_on(void)
{
	const char *file = "/tmp/spt-swap";
	unsigned char *hdr;
	int ctl, fd, n;

	if (swap_dev[0])
		return swapon(swap_dev, 0) && errno != EBUSY ? 0 : 1;
	if (access("/proc/swaps", F_OK)) {
		snprintf(reason, sizeof(reason), "kernel without swap");
		return SKIP;
	}
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0) {
		snprintf(reason, sizeof(reason), "no loop devices: %s", strerror(errno));
		return SKIP;
	}
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (n < 0)
		FAIL("LOOP_CTL_GET_FREE: %s", strerror(errno));
	fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)SWAP_PAGES * PG))
		FAIL("swap file: %s", strerror(errno));
	/* mkswap: version 1, last page, no bad pages, the magic at the end. */
	hdr = calloc(1, PG);
	((uint32_t *)(hdr + 1024))[0] = 1;
	((uint32_t *)(hdr + 1024))[1] = SWAP_PAGES - 1;
	memcpy(hdr + PG - 10, "SWAPSPACE2", 10);
	if (pwrite(fd, hdr, PG, 0) != (ssize_t)PG)
		FAIL("swap header: %s", strerror(errno));
	free(hdr);
	snprintf(swap_dev, sizeof(swap_dev), "/dev/loop%d", n);
	swap_loop_fd = open(swap_dev, O_RDWR | O_CLOEXEC);
	if (swap_loop_fd < 0 || ioctl(swap_loop_fd, LOOP_SET_FD, fd))
		FAIL("%s: %s", swap_dev, strerror(errno));
	close(fd);
	if (swapon(swap_dev, 0))
		FAIL("swapon %s: %s", swap_dev, strerror(errno));
	return 1;
}

static void swap_off(void)
{
	if (swap_dev[0])
		swapoff(swap_dev);
}

/* Page out [addr, addr + len) of the target; SKIP if it stayed resident. */
static int page_out(struct env *v, unsigned long addr, unsigned long len)
{
	unsigned long a;

	tcmd(&v->t, T_MADVISE, addr, len, 21 /* MADV_PAGEOUT */, NULL);
	for (a = addr; a < addr + len; a += PG)
		if (pagemap_pfn(v->t.pid, a)) {
			snprintf(reason, sizeof(reason), "page 0x%lx was not swapped out", a);
			return SKIP;
		}
	return 1;
}

/*
 * swapoff() brings swapped-out pages back through unuse_pte(): no fault,
 * no mmu notifier.
 */
static int t_swapoff(void)
{
	struct env v;
	int ok = 0, r;

	r = swap_on();
	if (r != 1)
		return r;
	if (!env_setup(&v, 2 * MIB))
		goto out;
	tcmd(&v.t, T_MMAP, v.base, 16 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 16 * PG, 0x3c, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 16 * PG, SPT_ALL))
		goto out;
	r = page_out(&v, v.base, 16 * PG);
	if (r != 1) {
		ok = r;
		goto out;
	}
	if (!expect(&v.tb, v.t.pid, v.base, 16 * PG, SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS))
		goto out;
	if (swapoff(swap_dev)) {
		snprintf(reason, sizeof(reason), "swapoff: %s", strerror(errno));
		goto out;
	}
	ok = expect(&v.tb, v.t.pid, v.base, 16 * PG, SPT_ALL);
out:
	env_done(&v);
	swap_off();
	return ok;
}

/* ------------------------------------------------------------------ */
/* Cases: shadowpt_events()                                            */
/* ------------------------------------------------------------------ */

static long spt_events(unsigned int flags)
{
	return syscall(__NR_shadowpt_events, flags);
}

static int t_sysfs_events_version(void)
{
	char buf[16] = "";
	int fd = open(SPT_KERNEL_EVENTS_FILE, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		FAIL("open %s: %s", SPT_KERNEL_EVENTS_FILE, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n != 2 || strcmp(buf, "1\n"))
		FAIL("events_version reads '%s', want '1\\n'", buf);
	return 1;
}

static int events_other_child(void *arg)
{
	(void)arg;
	return spt_events(0) < 0 && errno == EPERM ? 0 : 1;
}

static int t_events_errors(void)
{
	struct table t;
	long fd, fd2;

	if (spt_events(0) >= 0 || errno != EINVAL)
		FAIL("without a table: %s, want EINVAL", strerror(errno));
	if (table_open(&t, getpid(), some_range(), PG))
		FAIL("open: %s", strerror(errno));
	if (spt_events(1u << 7) >= 0 || errno != EINVAL) {
		table_close(&t);
		FAIL("unknown flag: want EINVAL");
	}
	if (in_child(events_other_child, NULL)) {
		table_close(&t);
		FAIL("another process (not the opener) did not get EPERM");
	}
	fd = spt_events(SHADOWPT_EVENTS_CLOEXEC);
	if (fd < 0) {
		table_close(&t);
		FAIL("shadowpt_events: %s", strerror(errno));
	}
	if (!(fcntl((int)fd, F_GETFD) & FD_CLOEXEC)) {
		table_close(&t);
		FAIL("SHADOWPT_EVENTS_CLOEXEC did not set FD_CLOEXEC");
	}
	fd2 = spt_events(0);
	if (fd2 >= 0 || errno != EBUSY) {
		table_close(&t);
		FAIL("second event file: %s, want EBUSY", fd2 >= 0 ? "success" : strerror(errno));
	}
	close((int)fd);
	/* The release of the first one is done with the last fput(). */
	fd2 = spt_events(0);
	table_close(&t);
	if (fd2 < 0)
		FAIL("event file after closing the first: %s", strerror(errno));
	close((int)fd2);
	return 1;
}

static int t_events_mmap(void)
{
	struct table t;
	void *m, *m2;
	int fd, ok = 0;

	if (table_open(&t, getpid(), some_range(), PG))
		FAIL("open: %s", strerror(errno));
	fd = (int)spt_events(0);
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "shadowpt_events: %s", strerror(errno));
		goto out;
	}
	if (mmap(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, PG) != MAP_FAILED ||
	    mmap(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 0) != MAP_FAILED ||
	    mmap(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED ||
	    mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED ||
	    mmap(NULL, (SHADOWPT_EVENTS_MAX_PAGES * 2 + 1) * PG, PROT_READ, MAP_SHARED,
		 fd, 0) != MAP_FAILED) {
		snprintf(reason, sizeof(reason), "a bad mmap() of the event file succeeded");
		goto out_fd;
	}
	m = mmap(NULL, 5 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		snprintf(reason, sizeof(reason), "mmap 1 + 4 pages: %s", strerror(errno));
		goto out_fd;
	}
	if (mmap(NULL, 3 * PG, PROT_READ, MAP_SHARED, fd, 0) != MAP_FAILED) {
		snprintf(reason, sizeof(reason), "a second mmap() of another size succeeded");
		goto out_m;
	}
	m2 = mmap(NULL, 5 * PG, PROT_READ, MAP_SHARED, fd, 0);
	if (m2 == MAP_FAILED) {
		snprintf(reason, sizeof(reason), "second mmap of the same size: %s", strerror(errno));
		goto out_m;
	}
	{
		struct shadowpt_events_page *c = m, *c2 = m2;

		ok = c->version == SHADOWPT_EVENTS_VERSION && c->record_size == 64 &&
		     c->data_offset == PG && c->data_size == 4 * PG && c2->data_size == 4 * PG;
		if (!ok)
			snprintf(reason, sizeof(reason), "control page: version %u size %u offset %llu data %llu",
				 c->version, c->record_size, (unsigned long long)c->data_offset,
				 (unsigned long long)c->data_size);
	}
	munmap(m2, 5 * PG);
out_m:
	munmap(m, 5 * PG);
out_fd:
	close(fd);
out:
	table_close(&t);
	return ok;
}

static short poll_fd(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) > 0 ? p.revents : 0;
}

/* Records collected from a ring, with the env whose target makes them. */
struct evlog {
	struct shadowpt_event rec[4096];
	size_t n;
};

static int evlog_add(const struct shadowpt_event *rec, void *arg)
{
	struct evlog *l = arg;

	if (l->n < sizeof(l->rec) / sizeof(l->rec[0]))
		l->rec[l->n++] = *rec;
	return 0;
}

/* Drain until idle for 300 ms (or 5 s pass). */
static void evlog_settle(struct spt_kernel_events *ev, struct evlog *l)
{
	long deadline = now_ms() + 5000;

	while (now_ms() < deadline) {
		if (!(poll_fd(ev->fd, 300) & POLLIN))
			break;
		spt_kernel_events_drain(ev, 0, evlog_add, l);
	}
	spt_kernel_events_drain(ev, 0, evlog_add, l);
}

static int t_events_poll(void)
{
	struct spt_kernel_events ev;
	struct evlog *l = calloc(1, sizeof(*l));
	struct env v;
	int ok = 0, fd;
	short re;

	if (!env_setup(&v, 2 * MIB))
		goto out;
	fd = (int)spt_events(0);
	if (fd < 0) {
		snprintf(reason, sizeof(reason), "shadowpt_events: %s", strerror(errno));
		goto out;
	}
	re = poll_fd(fd, 0);
	close(fd);
	if (!(re & POLLERR)) {
		snprintf(reason, sizeof(reason), "before mmap(): revents 0x%x, want POLLERR", re);
		goto out;
	}
	if (spt_kernel_events_open(&ev, 4)) {
		snprintf(reason, sizeof(reason), "events open: %s", strerror(errno));
		goto out;
	}
	if (poll_fd(ev.fd, 0) & POLLIN) {
		snprintf(reason, sizeof(reason), "POLLIN on an idle table");
		goto out_ev;
	}
	tcmd(&v.t, T_MMAP, v.base, PG, MMAP_ANON(RW), NULL);
	if (!(poll_fd(ev.fd, WAIT_MS) & POLLIN)) {
		snprintf(reason, sizeof(reason), "no POLLIN after a change");
		goto out_ev;
	}
	evlog_settle(&ev, l);
	if (poll_fd(ev.fd, 0) & POLLIN) {
		snprintf(reason, sizeof(reason), "POLLIN after everything was read");
		goto out_ev;
	}
	/* Closing the table hangs up; the ring stays readable. */
	table_close(&v.tb);
	re = poll_fd(ev.fd, WAIT_MS);
	if (!(re & POLLHUP)) {
		snprintf(reason, sizeof(reason), "no POLLHUP after close (revents 0x%x)", re);
		goto out_ev;
	}
	ok = l->n >= 1 && l->rec[0].vaddr == v.base;
	if (!ok)
		snprintf(reason, sizeof(reason), "%zu records, first at 0x%llx", l->n,
			 l->n ? (unsigned long long)l->rec[0].vaddr : 0ULL);
out_ev:
	spt_kernel_events_close(&ev);
out:
	env_done(&v);
	free(l);
	return ok;
}

/* The last record for vaddr, or NULL. */
static const struct shadowpt_event *evlog_last(const struct evlog *l, unsigned long vaddr)
{
	size_t i;

	for (i = l->n; i-- > 0;)
		if (l->rec[i].type == SHADOWPT_EVENT_TRANSITION && l->rec[i].vaddr == vaddr)
			return &l->rec[i];
	return NULL;
}

/* Expect the last record for vaddr to say cause and new_flags (and pfn). */
static int want_rec(const struct evlog *l, unsigned long vaddr, unsigned int cause,
		    unsigned long flags, long pfn, const char *what)
{
	const struct shadowpt_event *r = evlog_last(l, vaddr);

	if (!r)
		FAIL("%s: no record for 0x%lx (%zu records)", what, vaddr, l->n);
	if (r->cause != cause || r->new_flags != flags || (pfn >= 0 && r->new_pfn != (unsigned long)pfn))
		FAIL("%s: 0x%lx cause %s flags %u pfn 0x%llx, want %s flags %lu pfn 0x%lx", what,
		     vaddr, spt_kernel_event_cause_name(r->cause), r->new_flags,
		     (unsigned long long)r->new_pfn, spt_kernel_event_cause_name(cause), flags, pfn);
	return 1;
}

#define AN (SPTE_VADDR_ALLOCATED | SPTE_VADDR_ANONYMOUS)

/* Each kind of change is reported with its cause and the new state. */
static int t_events_causes(void)
{
	struct spt_kernel_events ev;
	struct evlog *l = calloc(1, sizeof(*l));
	unsigned long b, gc, sp;
	struct env v;
	long pfn, zero;
	int ok = 0;

	memset(&ev, 0, sizeof(ev));
	ev.fd = -1;
	if (!env_setup(&v, 4 * MIB))
		goto out;
	if (spt_kernel_events_open(&ev, 64)) {
		snprintf(reason, sizeof(reason), "events open: %s", strerror(errno));
		goto out;
	}
	b = v.base;
#define STEP(cmd) do { l->n = 0; cmd; evlog_settle(&ev, l); } while (0)
	STEP(tcmd(&v.t, T_MMAP, b, 8 * PG, MMAP_ANON(RW), NULL));
	if (!want_rec(l, b + 7 * PG, SHADOWPT_CAUSE_MMAP, AN, 0, "mmap"))
		goto out;
	STEP(tcmd(&v.t, T_WRITE, b, PG, 1, NULL));
	if (!want_rec(l, b, SHADOWPT_CAUSE_WRITE_FAULT, SPT_ALL, pagemap_pfn(v.t.pid, b), "write fault"))
		goto out;
	STEP(tcmd(&v.t, T_READ, b + PG, PG, 0, NULL));
	zero = pagemap_pfn(v.t.pid, b + PG);
	if (!want_rec(l, b + PG, SHADOWPT_CAUSE_READ_FAULT, SPT_ALL, zero, "read fault"))
		goto out;
	STEP(tcmd(&v.t, T_WRITE, b + PG, PG, 2, NULL));
	if (!want_rec(l, b + PG, SHADOWPT_CAUSE_COW, SPT_ALL, pagemap_pfn(v.t.pid, b + PG),
		      "write to the zero page"))
		goto out;
	tcmd(&v.t, T_FORK, 0, 0, 0, &gc);
	pfn = pagemap_pfn(v.t.pid, b);
	STEP(tcmd(&v.t, T_WRITE, b, PG, 3, NULL));
	tcmd(&v.t, T_KILL, gc, 0, 0, NULL);
	if (!want_rec(l, b, SHADOWPT_CAUSE_COW, SPT_ALL, pagemap_pfn(v.t.pid, b), "COW after fork"))
		goto out;
	if (evlog_last(l, b)->old_pfn != (unsigned long)pfn)
		FAIL("COW: old pfn 0x%llx, want 0x%lx", (unsigned long long)evlog_last(l, b)->old_pfn, pfn);
	STEP(tcmd(&v.t, T_MADVISE, b, PG, MADV_DONTNEED, NULL));
	if (!want_rec(l, b, SHADOWPT_CAUSE_MADVISE, AN, 0, "MADV_DONTNEED"))
		goto out;
	STEP(tcmd(&v.t, T_MUNMAP, b + 4 * PG, 4 * PG, 0, NULL));
	if (!want_rec(l, b + 4 * PG, SHADOWPT_CAUSE_MUNMAP, 0, 0, "munmap"))
		goto out;
	STEP(tcmd(&v.t, T_MMAP, b + PG, PG, RW | ((MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED) << 8), NULL));
	if (!want_rec(l, b + PG, SHADOWPT_CAUSE_MMAP, AN, 0, "MAP_FIXED over a mapped page"))
		goto out;
	tcmd(&v.t, T_WRITE, b + 2 * PG, PG, 4, NULL);
	l->n = 0;
	{
		struct cmd cm = { T_MREMAP, -1, b + 2 * PG, PG, PG, b + 64 * PG };
		struct rep rp;

		write_full(v.t.wfd, &cm, sizeof(cm));
		read_full(v.t.rfd, &rp, sizeof(rp));
	}
	evlog_settle(&ev, l);
	if (!want_rec(l, b + 2 * PG, SHADOWPT_CAUSE_MREMAP, 0, 0, "mremap: old page") ||
	    !want_rec(l, b + 64 * PG, SHADOWPT_CAUSE_MREMAP, SPT_ALL,
		      pagemap_pfn(v.t.pid, b + 64 * PG), "mremap: new page"))
		goto out;
	/* MADV_COLLAPSE of a 2 MiB region mapped with small pages. */
	tcmd(&v.t, T_MMAP, b + 2 * MIB, 2 * MIB, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, b + 2 * MIB, 2 * MIB, 5, NULL);
	STEP(tcmd(&v.t, T_MADVISE, b + 2 * MIB, 2 * MIB, 25 /* MADV_COLLAPSE */, NULL));
	if (pagemap_pfn(v.t.pid, b + 2 * MIB) % 512 == 0 &&
	    !want_rec(l, b + 2 * MIB + PG, SHADOWPT_CAUSE_THP_COLLAPSE, SPT_ALL,
		      pagemap_pfn(v.t.pid, b + 2 * MIB + PG), "MADV_COLLAPSE"))
		goto out;
	/* Paging out part of the THP splits it first. */
	if (pagemap_pfn(v.t.pid, b + 2 * MIB) % 512 == 0) {
		size_t i, split = 0;

		STEP(tcmd(&v.t, T_MADVISE, b + 2 * MIB, PG, 21 /* MADV_PAGEOUT */, NULL));
		for (i = 0; i < l->n; i++)
			split += l->rec[i].cause == SHADOWPT_CAUSE_THP_SPLIT;
		if (!split)
			FAIL("no THP split records when paging out part of a THP (%zu records)", l->n);
	}
	/* Stack growth, inside the window only if the stack is: skip. */
	(void)sp;
	ok = 1;
#undef STEP
out:
	spt_kernel_events_close(&ev);
	env_done(&v);
	free(l);
	return ok;
}

/* brk(), exec and exit, with a window on the program break. */
static int t_events_brk_exec_exit(void)
{
	struct spt_kernel_events ev;
	struct evlog *l = calloc(1, sizeof(*l));
	unsigned long brk0, brk1;
	struct env v;
	size_t i, n_exec = 0, n_exit = 0;
	int ok = 0;

	memset(&v, 0, sizeof(v));
	memset(&ev, 0, sizeof(ev));
	ev.fd = -1;
	if (target_spawn(&v.t))
		FAIL("fork target");
	tcmd(&v.t, T_SBRK, 0, 0, 0, &brk0);
	brk0 = (brk0 + PG - 1) & ~(PG - 1);
	if (!env_attach(&v, brk0 & ~(2 * MIB - 1), 4 * MIB))
		goto out;
	if (spt_kernel_events_open(&ev, 64)) {
		snprintf(reason, sizeof(reason), "events open: %s", strerror(errno));
		goto out;
	}
	tcmd(&v.t, T_SBRK, 16 * PG, 0, 0, &brk1);
	evlog_settle(&ev, l);
	if (!want_rec(l, brk0, SHADOWPT_CAUSE_BRK, AN, 0, "brk grow"))
		goto out;
	l->n = 0;
	tcmd(&v.t, T_SBRK, (unsigned long)-(long)(8 * PG), 0, 0, &brk1);
	evlog_settle(&ev, l);
	if (!want_rec(l, brk0 + 12 * PG, SHADOWPT_CAUSE_BRK, 0, 0, "brk shrink"))
		goto out;
	l->n = 0;
	tcmd(&v.t, T_EXEC, 0, 0, 0, NULL);
	tcmd(&v.t, T_NOP, 0, 0, 0, NULL);
	evlog_settle(&ev, l);
	for (i = 0; i < l->n; i++)
		n_exec += l->rec[i].cause == SHADOWPT_CAUSE_EXEC;
	if (!n_exec)
		FAIL("no exec records (%zu records)", l->n);
	/* Something in the window of the new mm for the exit to clear. */
	for (brk1 = v.tb.u.start_vaddr; brk1 < v.tb.u.end_vaddr; brk1 += 64 * PG)
		if (!tcmd(&v.t, T_MMAP, brk1, 16 * PG, MMAP_ANON(RW), NULL))
			break;
	if (brk1 >= v.tb.u.end_vaddr)
		FAIL("no room in the window after exec");
	tcmd(&v.t, T_WRITE, brk1, 16 * PG, 1, NULL);
	evlog_settle(&ev, l);
	l->n = 0;
	{
		struct cmd cm = { T_EXIT, -1, 0, 0, 0, 0 };

		write_full(v.t.wfd, &cm, sizeof(cm));
		waitpid(v.t.pid, NULL, 0);
		v.t.pid = 0;
	}
	evlog_settle(&ev, l);
	for (i = 0; i < l->n; i++)
		n_exit += l->rec[i].cause == SHADOWPT_CAUSE_EXIT && !l->rec[i].new_flags;
	if (!n_exit)
		FAIL("no exit records (%zu records)", l->n);
	ok = 1;
out:
	spt_kernel_events_close(&ev);
	env_done(&v);
	free(l);
	return ok;
}

/* userfaultfd fills and moves, page out, swap-in and swapoff. */
static int t_events_uffd_swap(void)
{
	struct spt_kernel_events ev;
	struct evlog *l = calloc(1, sizeof(*l));
	unsigned long b;
	struct env v;
	int ok = 0, r;

	memset(&ev, 0, sizeof(ev));
	ev.fd = -1;
	if (!env_setup(&v, 2 * MIB))
		goto out;
	if (spt_kernel_events_open(&ev, 64)) {
		snprintf(reason, sizeof(reason), "events open: %s", strerror(errno));
		goto out;
	}
	b = v.base;
	tcmd(&v.t, T_MMAP, b, 4 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_UFFD_COPY, b, 4 * PG, 9, NULL);
	evlog_settle(&ev, l);
	if (!want_rec(l, b + 3 * PG, SHADOWPT_CAUSE_UFFD, SPT_ALL,
		      pagemap_pfn(v.t.pid, b + 3 * PG), "UFFDIO_COPY"))
		goto out;
	l->n = 0;
	tcmd(&v.t, T_MMAP, b + 64 * PG, 4 * PG, MMAP_ANON(RW), NULL);
	if (!tcmd(&v.t, T_UFFD_MOVE, b, b + 64 * PG, 4 * PG, NULL)) {
		evlog_settle(&ev, l);
		if (!want_rec(l, b + 64 * PG, SHADOWPT_CAUSE_UFFD, SPT_ALL,
			      pagemap_pfn(v.t.pid, b + 64 * PG), "UFFDIO_MOVE destination") ||
		    !want_rec(l, b, SHADOWPT_CAUSE_UFFD, AN, 0, "UFFDIO_MOVE source"))
			goto out;
	}
	r = swap_on();
	if (r != 1) {
		ok = r == SKIP ? 1 : 0;	/* the rest needs swap */
		goto out;
	}
	l->n = 0;
	tcmd(&v.t, T_MMAP, b + 128 * PG, 4 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, b + 128 * PG, 4 * PG, 7, NULL);
	r = page_out(&v, b + 128 * PG, 4 * PG);
	if (r != 1) {
		ok = r;
		goto out_swap;
	}
	evlog_settle(&ev, l);
	if (!want_rec(l, b + 128 * PG, SHADOWPT_CAUSE_RECLAIM, AN, 0, "MADV_PAGEOUT"))
		goto out_swap;
	l->n = 0;
	tcmd(&v.t, T_READ, b + 128 * PG, PG, 0, NULL);
	evlog_settle(&ev, l);
	if (!want_rec(l, b + 128 * PG, SHADOWPT_CAUSE_SWAP_IN, SPT_ALL,
		      pagemap_pfn(v.t.pid, b + 128 * PG), "swap-in fault"))
		goto out_swap;
	l->n = 0;
	swapoff(swap_dev);
	evlog_settle(&ev, l);
	ok = want_rec(l, b + 131 * PG, SHADOWPT_CAUSE_SWAPOFF, SPT_ALL,
		      pagemap_pfn(v.t.pid, b + 131 * PG), "swapoff");
out_swap:
	swap_off();
out:
	spt_kernel_events_close(&ev);
	env_done(&v);
	free(l);
	return ok;
}

/*
 * A one-page ring (64 records) that nobody reads while 300 changes
 * happen: LOST with the right count, sequence numbers without holes, and
 * the table plus the records after table_seq give the exact state.
 */
static int t_events_lost(void)
{
	struct spt_kernel_events ev;
	struct evlog *l = calloc(1, sizeof(*l));
	struct shadow_pte *snap = NULL, *truth = NULL;
	uint64_t seq0, next, lost = 0, got = 0;
	struct env v;
	size_t i;
	int ok = 0;

	memset(&ev, 0, sizeof(ev));
	ev.fd = -1;
	if (!env_setup(&v, 2 * MIB))
		goto out;
	if (spt_kernel_events_open(&ev, 1)) {
		snprintf(reason, sizeof(reason), "events open: %s", strerror(errno));
		goto out;
	}
	seq0 = spt_kernel_events_table_seq(&ev);
	tcmd(&v.t, T_MMAP, v.base, 150 * PG, MMAP_ANON(RW), NULL);
	tcmd(&v.t, T_WRITE, v.base, 150 * PG, 1, NULL);
	if (!expect(&v.tb, v.t.pid, v.base, 150 * PG, SPT_ALL))
		goto out;
	if (spt_kernel_events_pending(&ev) != 64) {
		snprintf(reason, sizeof(reason), "%zu records pending, want a full ring of 64",
			 spt_kernel_events_pending(&ev));
		goto out;
	}
	/* Read everything; poll() then adds the LOST record. */
	spt_kernel_events_drain(&ev, 0, evlog_add, l);
	poll_fd(ev.fd, 0);
	spt_kernel_events_drain(&ev, 0, evlog_add, l);
	next = seq0 + 1;
	for (i = 0; i < l->n; i++) {
		const struct shadowpt_event *r = &l->rec[i];

		if (r->seq != next)
			FAIL("record %zu: seq %llu, want %llu", i, (unsigned long long)r->seq,
			     (unsigned long long)next);
		if (r->type == SHADOWPT_EVENT_LOST) {
			lost += r->count;
			next += r->count;
		} else {
			got++;
			next++;
		}
	}
	if (got != 64 || lost != 300 - 64 || next != spt_kernel_events_table_seq(&ev) + 1 ||
	    spt_kernel_events_kernel_lost(&ev) != lost)
		FAIL("%llu records + %llu lost (kernel says %llu), next seq %llu, table_seq %llu",
		     (unsigned long long)got, (unsigned long long)lost,
		     (unsigned long long)spt_kernel_events_kernel_lost(&ev),
		     (unsigned long long)next,
		     (unsigned long long)spt_kernel_events_table_seq(&ev));
	/* Resync: table as of seq0, then the records after it. */
	seq0 = spt_kernel_events_table_seq(&ev);
	snap = calloc(v.tb.n, sizeof(*snap));
	truth = calloc(v.tb.n, sizeof(*truth));
	table_snap(&v.tb, snap);
	l->n = 0;
	tcmd(&v.t, T_MADVISE, v.base, 10 * PG, MADV_DONTNEED, NULL);
	evlog_settle(&ev, l);
	for (i = 0; i < l->n; i++) {
		const struct shadowpt_event *r = &l->rec[i];

		if (r->type != SHADOWPT_EVENT_TRANSITION || r->seq <= seq0)
			continue;
		snap[(r->vaddr - v.base) / PG].state_flags = r->new_flags;
		snap[(r->vaddr - v.base) / PG].pfn = r->new_pfn;
	}
	ground_truth(v.t.pid, v.base, v.tb.n, truth);
	for (i = 0; i < v.tb.n; i++)
		if (!entry_eq(&snap[i], &truth[i]))
			FAIL("after resync + replay: entry %zu flags %lu pfn 0x%lx, procfs %lu 0x%lx",
			     i, snap[i].state_flags, snap[i].pfn, truth[i].state_flags, truth[i].pfn);
	ok = 1;
out:
	free(snap);
	free(truth);
	spt_kernel_events_close(&ev);
	env_done(&v);
	free(l);
	return ok;
}

/* ------------------------------------------------------------------ */

struct tcase {
	const char *name;
	int (*fn)(void);
};

static const struct tcase cases[] = {
	{ "sysfs: /sys/kernel/mm/shadowpt/abi_version reads 1", t_sysfs_abi_version },
	{ "open: EINVAL for a nonexistent pid", t_open_nopid },
	{ "open: EINVAL for a thread that is not the group leader", t_open_thread },
	{ "open: EINVAL for a NULL dest", t_open_null_dest },
	{ "open: EINVAL for an unreadable dest", t_open_unreadable_dest },
	{ "open: EINVAL for start > end", t_open_start_gt_end },
	{ "open: EINVAL for start == end", t_open_start_eq_end },
	{ "open: EINVAL for an unaligned start", t_open_unaligned_start },
	{ "open: EINVAL for an unaligned end", t_open_unaligned_end },
	{ "open: EINVAL for entries outside any VMA", t_open_entries_no_vma },
	{ "open: EINVAL for NULL entries", t_open_entries_null },
	{ "open: EINVAL for entries already backed by pages", t_open_entries_populated },
	{ "open: EINVAL for entries partly backed by pages", t_open_entries_populated_tail },
	{ "open: EINVAL for entries too small (page rounded)", t_open_entries_too_small },
	{ "open: entries size is rounded up to whole pages", t_open_size_rounded },
	{ "open: EPERM without CAP_SYS_ADMIN (open, page_contents)", t_open_eperm },
	{ "open: EBUSY while another table exists", t_open_ebusy },
	{ "open: range over MAX_SPT_RANGE truncated, end_vaddr written back", t_open_truncate },
	{ "open: entries initialised with vaddr, nothing tracked yet", t_open_initial },
	{ "close: EPERM for a process that did not open", t_close_other },
	{ "start: EPERM for a process that did not open", t_start_other },
	{ "stop: EPERM for a process that did not open", t_stop_other },
	{ "close: EINVAL without a table", t_close_none },
	{ "table is read-only in the inspector", t_table_readonly },
	{ "close restores a writeable, empty anonymous range", t_close_restores },
	{ "stop: no updates after stop", t_stop_no_updates },
	{ "start: resets the table to the current state", t_start_resets },
	{ "vma: mmap anonymous", t_mmap_anon },
	{ "vma: munmap", t_munmap },
	{ "vma: partial munmap splitting a VMA", t_munmap_partial },
	{ "vma: malloc/free (mmap path)", t_malloc_free_mmap },
	{ "vma: malloc (brk path)", t_malloc_brk },
	{ "vma: brk grow and shrink", t_brk_grow_shrink },
	{ "vma: stack growth", t_stack_growth },
	{ "vma+pte: file-backed mapping (tmpfs)", t_file_backed },
	{ "vma+pte: shared anonymous mapping", t_shared_anon },
	{ "pte: read fault maps the zero page", t_read_fault_zero },
	{ "pte: write fault", t_write_fault },
	{ "pte: COW after fork changes the pfn", t_cow_fork },
	{ "pte: MADV_DONTNEED", t_madv_dontneed },
	{ "pte: faults from several target threads", t_threads },
	{ "pte: 4 KiB subpages of a PMD-mapped THP", t_thp },
	{ "vma+pte: mremap moves and grows a mapping", t_mremap },
	{ "pte: THP split (MADV_PAGEOUT on part) keeps the subpages", t_thp_split },
	{ "pte: THP collapse (MADV_COLLAPSE) shows the new huge page", t_thp_collapse },
	{ "exec: target execve, tracking follows the new mm", t_exec },
	{ "exec: execve from a non-leader thread", t_exec_thread },
	{ "exit: target exit clears the table, close still works", t_target_exit },
	{ "page_contents: returns the bytes the target wrote", t_page_contents },
	{ "page_contents: EINVAL for a pfn not in the table / no table", t_page_contents_einval },
	{ "page_contents: EINVAL for a stopped table's stale frame", t_page_contents_stale },
	{ "PTE tracking: pages filled by UFFDIO_COPY (no fault, no notifier)", t_uffd_copy },
	{ "self: inspector == target", t_self_inspect },
	{ "inspector exit: return from main without start", t_insp_return },
	{ "inspector exit: exit() while tracking", t_insp_exit_tracking },
	{ "inspector exit: SIGKILL while tracking", t_insp_sigkill },
	{ "inspector exit: multithreaded inspector", t_insp_multithreaded },
	{ "inspector exit: inspector == target", t_insp_self },
	{ "inspector exit: inspector calls execve while tracking", t_insp_exec },
	{ "inspector munmaps the table: released like close", t_insp_munmap },
	{ "stress: concurrent mmap/munmap/faults vs start/stop/reopen", t_stress },
	{ "open: a sibling thread faulting the buffer during open (no BUG)", t_open_race_fault },
	{ "open: EINVAL for a MAP_GROWSDOWN entries VMA", t_open_growsdown },
	{ "close keeps an mseal()ed table sealed", t_close_keeps_seal },
	{ "open/close/munmap keep VmData (mm->data_vm) right", t_data_vm },
	{ "opener exits, a CLONE_VM child keeps its mm: table released", t_clonevm_child },
	{ "start on a target with 2100 shared anonymous VMAs (lockdep reproducer)",
	  t_start_2100_vmas },
	{ "start on a target with 10000 shared anonymous VMAs", t_start_many_vmas },
	{ "execs elsewhere do not wait while the opener starts and stops", t_exec_no_mutex },
	{ "failed mremap moving the entries back is tracked", t_mremap_moveback },
	{ "UFFDIO_MOVE destination is tracked", t_uffd_move },
	{ "UFFDIO_COPY cut short after the -ENOENT retry is tracked", t_uffd_copy_partial },
	{ "swapoff bringing pages back is tracked", t_swapoff },
	{ "sysfs: /sys/kernel/mm/shadowpt/events_version reads 1", t_sysfs_events_version },
	{ "events: EINVAL, EPERM, EBUSY, CLOEXEC", t_events_errors },
	{ "events: mmap layout and size checks", t_events_mmap },
	{ "events: POLLERR before mmap, POLLIN on change, POLLHUP on close", t_events_poll },
	{ "events: causes of faults, COW, madvise, munmap, mmap, mremap, THP", t_events_causes },
	{ "events: causes of brk, exec and exit", t_events_brk_exec_exit },
	{ "events: causes of userfaultfd, reclaim, swap-in and swapoff", t_events_uffd_swap },
	{ "events: full ring -> LOST with count, resync from table_seq", t_events_lost },
};

int main(int argc, char **argv)
{
	int n = sizeof(cases) / sizeof(cases[0]), i, failed = 0;
	const char *only = NULL;

	if (argc == 4 && !strcmp(argv[1], "--target")) {
		int rfd = atoi(argv[2]), wfd = atoi(argv[3]);
		struct rep r = { 0, 1 };

		/* Ready after execve: answer the pending T_EXEC. */
		if (write_full(wfd, &r, sizeof(r)))
			return 1;
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		target_loop(rfd, wfd);
	}
	if (argc == 2 && !strcmp(argv[1], "--exit"))
		return 0;
	if (argc == 6 && !strcmp(argv[1], "--inspector")) {
		struct insp_arg a = { argv[2], atoi(argv[3]),
				      strtoul(argv[4], NULL, 0), atoi(argv[5]) };

		return inspector_main(&a);
	}
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-v"))
			verbose = 1;
		else if (!strcmp(argv[i], "-k") && i + 1 < argc)
			only = argv[++i];
	}

	setvbuf(stdout, NULL, _IOLBF, 0);
	/* A target that died must fail its case, not kill us on write. */
	signal(SIGPIPE, SIG_IGN);
	/* A bare initramfs may lack these; errors are fine. */
	mkdir("/proc", 0755);
	mkdir("/sys", 0755);
	mkdir("/tmp", 01777);
	if (access("/proc/self/maps", R_OK))
		mount("proc", "/proc", "proc", 0, NULL);
	if (access("/sys/kernel", F_OK))
		mount("sysfs", "/sys", "sysfs", 0, NULL);
	printf("1..%d\n", n);
	for (i = 0; i < n; i++) {
		int r;

		reason[0] = 0;
		if (only && !strstr(cases[i].name, only)) {
			printf("ok %d - %s # SKIP not selected (-k)\n", i + 1, cases[i].name);
			continue;
		}
		vlog("# running %d: %s\n", i + 1, cases[i].name);
		r = cases[i].fn();
		if (r == SKIP) {
			printf("ok %d - %s # SKIP %s\n", i + 1, cases[i].name, reason);
		} else if (r) {
			printf("ok %d - %s\n", i + 1, cases[i].name);
		} else {
			printf("not ok %d - %s # %s\n", i + 1, cases[i].name,
			       reason[0] ? reason : "failed");
			failed++;
			/* Do not let a leftover table break later cases. */
			spt_close();
		}
	}
	printf("# %d passed, %d failed\n", n - failed, failed);
	return failed ? 1 : 0;
}
