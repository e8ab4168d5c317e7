// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * target: a workload that makes, one step at a time, every change the
 * shadowpt page-state model tracks (VMAs appearing, splitting, growing,
 * vanishing; pages faulting in, COW breaks, zaps, THP, exec).
 *
 * Protocol (stdin/stdout, one line each way per step):
 *   at start           -> "ready <pid>"
 *   "<cmd> [args...]"  -> "ok <cmd> [values...]" or "err <cmd> <reason>"
 * and then the program waits for the next command. Every address printed
 * is hex with a 0x prefix; ranges are printed as half-open [start, end).
 * stdin is read one byte at a time so that nothing is read ahead of the
 * current command (this matters across exec), and stdout is flushed per
 * line. Commands (N counts 4 KiB pages, ADDR is hex or decimal):
 *
 *   mmap-anon N                 private anonymous RW, untouched -> START END
 *   mmap-reserve N              PROT_NONE, MAP_NORESERVE (a JVM-style
 *                               reservation; N may be huge)      -> START END
 *   touch-read ADDR N           read one byte per page          -> START END
 *   touch-write ADDR N          write one byte per page         -> START END
 *   touch-every ADDR N K        write one byte in every K-th page of N: many
 *                               runs that cannot merge          -> START END
 *   munmap ADDR N               unmap                           -> START END
 *   munmap-partial ADDR N       unmap the middle third of [ADDR, ADDR+N
 *                               pages): the VMA splits          -> HOLE_START HOLE_END
 *   mprotect ADDR N PROT        PROT: none|r|rw|rx|rwx          -> START END
 *   mremap ADDR N NEWN          may move                        -> NEW_START NEW_END
 *   anon-name ADDR N NAME       PR_SET_VMA_ANON_NAME            -> START END
 *   brk-grow N                  sbrk(+N pages), touch them      -> OLD_BRK NEW_BRK
 *   brk-shrink N                sbrk(-N pages) (only what grew) -> OLD_BRK NEW_BRK
 *   mmap-file [N]               temp file in $TMPDIR mapped MAP_PRIVATE and
 *                               MAP_SHARED; private: read page 0, write page
 *                               1 (COW); shared: write page 0, read page 1
 *                               -> PRIV_START PRIV_END SHARED_START SHARED_END PATH
 *   mmap-shared-anon [N]        MAP_SHARED|MAP_ANONYMOUS, written -> START END
 *   stack-grow N                grow the stack by N pages (recursion)
 *                               -> LOWEST_TOUCHED_PAGE
 *   fork-cow [ADDR] [N]         with ADDR: the existing writable private
 *                               region [ADDR, ADDR+N pages); without: maps N
 *                               (>= 2, default 4) private pages. Writes them
 *                               all, forks; the child writes
 *                               page 0 (its own copy), then the parent writes
 *                               page 1, whose pfn therefore changes in the
 *                               PARENT (the process tests observe); page 0
 *                               keeps its frame in the parent. The child
 *                               stays alive (parked) until "reap" or until
 *                               the parent dies.
 *                               -> START END PARENT_PID CHILD_PID
 *   reap                        kill and wait for fork-cow children -> COUNT
 *   madvise-dontneed ADDR N     MADV_DONTNEED (zap the PTEs)     -> START END
 *   fault-late MS               two private anonymous pages; the second is
 *                               registered with userfaultfd, whose handler
 *                               thread fills it MS ms after it is asked. The
 *                               main thread writes page 0 (done at once),
 *                               then page 1 (a fault that ends MS ms later,
 *                               with no event of its own)   -> START END
 *   thp                         2 MiB-aligned MADV_HUGEPAGE region, written
 *                               -> START END
 *   mmap-zero-huge N            N pages (a multiple of 512) PROT_READ,
 *                               MAP_NORESERVE, 2 MiB aligned, MADV_HUGEPAGE,
 *                               one byte read per 2 MiB: the huge zero page
 *                               maps it all for a few page tables (what an
 *                               unprivileged user can do for free)
 *                               -> START END
 *   exec                        re-exec /proc/self/exe --after-exec; the new
 *                               image prints "ok exec <pid>" and goes on
 *                               reading commands (all mappings are new)
 *   info                        "map <line>" per /proc/self/maps line, then
 *                               "ok info <count>"
 *   dumpable 0|1                PR_SET_DUMPABLE                 -> VALUE
 *   pid                         -> PID
 *   exit CODE                   exit(CODE) after "ok exit CODE"
 *   leader-exit                 the commands go on in a new thread; the
 *                               main thread calls pthread_exit() and stays
 *                               a zombie leader without an mm until the
 *                               process exits             -> TID (new thread)
 *
 * "--demo" instead loops forever through a visible cycle at about five
 * steps per second (for the README demo); it prints its pid first and
 * a short line per step.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif

#define PAGE 4096ul
#define HUGE_2M (2ul * 1024 * 1024)
#define MAX_LINE 512
#define MAX_ARGS 8
#define MAX_CHILDREN 64
#define MAX_FILES 64

static pid_t children[MAX_CHILDREN];
static int nchildren;
static char *temp_files[MAX_FILES];
static int ntemp_files;
static size_t brk_grown; /* bytes this program added with brk-grow */

static void reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

static uintptr_t uptr(const void *p)
{
	return (uintptr_t)p;
}

/* Reads one line with read(2), byte by byte: nothing is read ahead. */
static int read_line(char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(STDIN_FILENO, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return n ? (int)n : -1;
		if (c == '\n')
			break;
		if (n + 1 < cap)
			buf[n++] = c;
	}
	buf[n] = '\0';
	return (int)n;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;

	if (!s || !*s)
		return false;
	errno = 0;
	*out = strtoull(s, &end, 0);
	return errno == 0 && *end == '\0';
}

static bool parse_pages(const char *s, size_t *out)
{
	uint64_t v;

	if (!parse_u64(s, &v) || v == 0 || v > (1ull << 24))
		return false;
	*out = (size_t)v;
	return true;
}

static bool parse_addr(const char *s, char **out)
{
	uint64_t v;

	if (!parse_u64(s, &v) || (v & (PAGE - 1)))
		return false;
	*out = (char *)(uintptr_t)v;
	return true;
}

static void touch_read(volatile char *p, size_t npages)
{
	for (size_t i = 0; i < npages; i++)
		(void)p[i * PAGE];
}

static void touch_write(volatile char *p, size_t npages, char val)
{
	for (size_t i = 0; i < npages; i++)
		p[i * PAGE] = (char)(val + i);
}

static void remove_temp_files(void)
{
	for (int i = 0; i < ntemp_files; i++) {
		unlink(temp_files[i]);
		free(temp_files[i]);
	}
	ntemp_files = 0;
}

static void reap_children(void)
{
	for (int i = 0; i < nchildren; i++) {
		kill(children[i], SIGKILL);
		waitpid(children[i], NULL, 0);
	}
	nchildren = 0;
}

static void cleanup(void)
{
	reap_children();
	remove_temp_files();
}

static void on_fatal_signal(int sig)
{
	/* Only async-signal-safe calls: unlink and kill. */
	for (int i = 0; i < ntemp_files; i++)
		unlink(temp_files[i]);
	for (int i = 0; i < nchildren; i++)
		kill(children[i], SIGKILL);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* --- steps ------------------------------------------------------------ */

static void cmd_mmap_anon(char **argv, int argc)
{
	size_t n;
	char *p;

	if (argc < 2 || !parse_pages(argv[1], &n))
		return reply("err mmap-anon usage: mmap-anon N");
	p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return reply("err mmap-anon %s", strerror(errno));
	reply("ok mmap-anon 0x%lx 0x%lx", uptr(p), uptr(p + n * PAGE));
}

static void cmd_mmap_reserve(char **argv, int argc)
{
	size_t n;
	char *p;

	if (argc < 2 || !parse_pages(argv[1], &n))
		return reply("err mmap-reserve usage: mmap-reserve N");
	p = mmap(NULL, n * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return reply("err mmap-reserve %s", strerror(errno));
	reply("ok mmap-reserve 0x%lx 0x%lx", uptr(p), uptr(p + n * PAGE));
}

static void cmd_touch(char **argv, int argc, bool write)
{
	const char *name = write ? "touch-write" : "touch-read";
	size_t n;
	char *p;

	if (argc < 3 || !parse_addr(argv[1], &p) || !parse_pages(argv[2], &n))
		return reply("err %s usage: %s ADDR N", name, name);
	if (write)
		touch_write(p, n, 'w');
	else
		touch_read(p, n);
	reply("ok %s 0x%lx 0x%lx", name, uptr(p), uptr(p + n * PAGE));
}

static void cmd_touch_every(char **argv, int argc)
{
	size_t n, k;
	char *p;

	if (argc < 4 || !parse_addr(argv[1], &p) || !parse_pages(argv[2], &n) ||
	    !parse_pages(argv[3], &k) || !k)
		return reply("err touch-every usage: touch-every ADDR N K");
	for (size_t i = 0; i < n; i += k)
		((volatile char *)p)[i * PAGE] = 'e';
	reply("ok touch-every 0x%lx 0x%lx", uptr(p), uptr(p + n * PAGE));
}

struct thread_touch {
	char *p;
	size_t n;
	pid_t tid;
};

static void *thread_touch_main(void *arg)
{
	struct thread_touch *tt = arg;

	tt->tid = gettid();
	touch_write(tt->p, tt->n, 't');
	return NULL;
}

static void cmd_thread_touch(char **argv, int argc)
{
	struct thread_touch tt = { 0 };
	pthread_t th;
	int r;

	if (argc < 3 || !parse_addr(argv[1], &tt.p) || !parse_pages(argv[2], &tt.n))
		return reply("err thread-touch usage: thread-touch ADDR N");
	r = pthread_create(&th, NULL, thread_touch_main, &tt);
	if (r)
		return reply("err thread-touch %s", strerror(r));
	pthread_join(th, NULL);
	reply("ok thread-touch 0x%lx 0x%lx %d", uptr(tt.p), uptr(tt.p + tt.n * PAGE), (int)tt.tid);
}

struct late_fill {
	int uffd;
	unsigned ms;
	char *src;
	int err;
};

/* Answers one missing fault, ms ms after it was asked. */
static void *late_fill_main(void *arg)
{
	struct late_fill *lf = arg;
	struct pollfd pfd = { .fd = lf->uffd, .events = POLLIN };
	struct uffd_msg msg;
	struct timespec ts = { lf->ms / 1000, (long)(lf->ms % 1000) * 1000000 };
	struct uffdio_copy copy = { 0 };

	if (poll(&pfd, 1, 10000) != 1 || read(lf->uffd, &msg, sizeof(msg)) != sizeof(msg) ||
	    msg.event != UFFD_EVENT_PAGEFAULT) {
		lf->err = errno ? errno : EIO;
		return NULL;
	}
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
	copy.dst = msg.arg.pagefault.address & ~(PAGE - 1);
	copy.src = uptr(lf->src);
	copy.len = PAGE;
	if (ioctl(lf->uffd, UFFDIO_COPY, &copy))
		lf->err = errno;
	return NULL;
}

static void cmd_fault_late(char **argv, int argc)
{
	struct late_fill lf = { .uffd = -1 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	uint64_t ms;
	pthread_t th;
	char *p;
	int r;

	if (argc < 2 || !parse_u64(argv[1], &ms) || ms > 10000)
		return reply("err fault-late usage: fault-late MS (0..10000)");
	lf.ms = (unsigned)ms;
	p = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lf.src = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || lf.src == MAP_FAILED)
		return reply("err fault-late mmap: %s", strerror(errno));
	memset(lf.src, 'l', PAGE);
	lf.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (lf.uffd < 0)
		return reply("err fault-late userfaultfd: %s", strerror(errno));
	reg.range.start = uptr(p + PAGE);
	reg.range.len = PAGE;
	if (ioctl(lf.uffd, UFFDIO_API, &api) || ioctl(lf.uffd, UFFDIO_REGISTER, &reg)) {
		r = errno;
		close(lf.uffd);
		return reply("err fault-late uffd: %s", strerror(r));
	}
	r = pthread_create(&th, NULL, late_fill_main, &lf);
	if (r) {
		close(lf.uffd);
		return reply("err fault-late %s", strerror(r));
	}
	touch_write(p, 1, 'f');
	touch_write(p + PAGE, 1, 'f'); /* returns once the handler filled it */
	pthread_join(th, NULL);
	close(lf.uffd);
	munmap(lf.src, PAGE);
	if (lf.err)
		return reply("err fault-late handler: %s", strerror(lf.err));
	reply("ok fault-late 0x%lx 0x%lx", uptr(p), uptr(p + 2 * PAGE));
}

static void cmd_munmap(char **argv, int argc)
{
	size_t n;
	char *p;

	if (argc < 3 || !parse_addr(argv[1], &p) || !parse_pages(argv[2], &n))
		return reply("err munmap usage: munmap ADDR N");
	if (munmap(p, n * PAGE))
		return reply("err munmap %s", strerror(errno));
	reply("ok munmap 0x%lx 0x%lx", uptr(p), uptr(p + n * PAGE));
}

static void cmd_munmap_partial(char **argv, int argc)
{
	size_t n, first, count;
	char *p;

	if (argc < 3 || !parse_addr(argv[1], &p) || !parse_pages(argv[2], &n) || n < 3)
		return reply("err munmap-partial usage: munmap-partial ADDR N (N >= 3)");
	first = n / 3;
	count = (2 * n) / 3 - first;
	if (munmap(p + first * PAGE, count * PAGE))
		return reply("err munmap-partial %s", strerror(errno));
	reply("ok munmap-partial 0x%lx 0x%lx", uptr(p + first * PAGE),
	      uptr(p + (first + count) * PAGE));
}

static void cmd_mprotect(char **argv, int argc)
{
	static const struct {
		const char *name;
		int prot;
	} prots[] = {
		{ "none", PROT_NONE },
		{ "r", PROT_READ },
		{ "rw", PROT_READ | PROT_WRITE },
		{ "rx", PROT_READ | PROT_EXEC },
		{ "rwx", PROT_READ | PROT_WRITE | PROT_EXEC },
	};
	size_t n, i;
	char *p;

	if (argc < 4 || !parse_addr(argv[1], &p) || !parse_pages(argv[2], &n))
		return reply("err mprotect usage: mprotect ADDR N none|r|rw|rx|rwx");
	for (i = 0; i < sizeof(prots) / sizeof(prots[0]); i++)
		if (!strcmp(argv[3], prots[i].name))
			break;
	if (i == sizeof(prots) / sizeof(prots[0]))
		return reply("err mprotect unknown protection %s", argv[3]);
	if (mprotect(p, n * PAGE, prots[i].prot))
		return reply("err mprotect %s", strerror(errno));
	reply("ok mprotect 0x%lx 0x%lx", uptr(p), uptr(p + n * PAGE));
}

static void cmd_mremap(char **argv, int argc)
{
	size_t n, newn;
	char *p, *q;

	if (argc < 4 || !parse_addr(argv[1], &p) || !parse_pages(argv[2], &n) ||
	    !parse_pages(argv[3], &newn))
		return reply("err mremap usage: mremap ADDR N NEWN");
	q = mremap(p, n * PAGE, newn * PAGE, MREMAP_MAYMOVE);
	if (q == MAP_FAILED)
		return reply("err mremap %s", strerror(errno));
	reply("ok mremap 0x%lx 0x%lx", uptr(q), uptr(q + newn * PAGE));
}

static void cmd_anon_name(char **argv, int argc)
{
	size_t n;
	char *p;

	if (argc < 4 || !parse_addr(argv[1], &p) || !parse_pages(argv[2], &n))
		return reply("err anon-name usage: anon-name ADDR N NAME");
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)p, n * PAGE,
		  (unsigned long)argv[3]))
		return reply("err anon-name %s", strerror(errno));
	reply("ok anon-name 0x%lx 0x%lx", uptr(p), uptr(p + n * PAGE));
}

static void cmd_brk(char **argv, int argc, bool grow)
{
	const char *name = grow ? "brk-grow" : "brk-shrink";
	size_t n, bytes;
	char *old, *now;

	if (argc < 2 || !parse_pages(argv[1], &n))
		return reply("err %s usage: %s N", name, name);
	bytes = n * PAGE;
	if (!grow && bytes > brk_grown)
		return reply("err brk-shrink only %zu pages were grown", brk_grown / PAGE);
	old = sbrk(0);
	if (sbrk(grow ? (intptr_t)bytes : -(intptr_t)bytes) == (void *)-1)
		return reply("err %s %s", name, strerror(errno));
	now = sbrk(0);
	if (grow) {
		brk_grown += bytes;
		/* The break need not be page aligned: touch whole pages in it. */
		char *first = (char *)(((uintptr_t)old + PAGE - 1) & ~(PAGE - 1));

		for (char *q = first; q + PAGE <= now; q += PAGE)
			*(volatile char *)q = 'b';
	} else {
		brk_grown -= bytes;
	}
	reply("ok %s 0x%lx 0x%lx", name, uptr(old), uptr(now));
}

static void cmd_mmap_file(char **argv, int argc)
{
	const char *dir = getenv("TMPDIR");
	size_t n = 4;
	char path[4096];
	char *priv, *shared;
	int fd;

	if (argc >= 2 && (!parse_pages(argv[1], &n) || n < 2))
		return reply("err mmap-file usage: mmap-file [N] (N >= 2)");
	if (ntemp_files >= MAX_FILES)
		return reply("err mmap-file too many temp files");
	snprintf(path, sizeof(path), "%s/shadowpt-target-XXXXXX", dir && *dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return reply("err mmap-file mkstemp: %s", strerror(errno));
	temp_files[ntemp_files++] = strdup(path);
	/* Real blocks (not a hole) so that reads map page-cache pages. */
	{
		char block[PAGE];

		for (size_t i = 0; i < n; i++) {
			memset(block, 'a' + (int)(i % 26), sizeof(block));
			if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block)) {
				close(fd);
				return reply("err mmap-file write: %s", strerror(errno));
			}
		}
	}
	priv = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	shared = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (priv == MAP_FAILED || shared == MAP_FAILED)
		return reply("err mmap-file mmap: %s", strerror(errno));
	touch_read(priv, 1);
	touch_write(priv + PAGE, 1, 'p'); /* COW: an anon page in a file VMA */
	touch_write(shared, 1, 's');
	touch_read(shared + PAGE, 1);
	/* The path may hold odd bytes (tests use them): one line, no newline. */
	for (char *q = path; *q; q++)
		if (*q == '\n')
			*q = '?';
	reply("ok mmap-file 0x%lx 0x%lx 0x%lx 0x%lx %s", uptr(priv), uptr(priv + n * PAGE),
	      uptr(shared), uptr(shared + n * PAGE), path);
}

static void cmd_mmap_shared_anon(char **argv, int argc)
{
	size_t n = 4;
	char *p;

	if (argc >= 2 && !parse_pages(argv[1], &n))
		return reply("err mmap-shared-anon usage: mmap-shared-anon [N]");
	p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return reply("err mmap-shared-anon %s", strerror(errno));
	touch_write(p, n, 'S');
	reply("ok mmap-shared-anon 0x%lx 0x%lx", uptr(p), uptr(p + n * PAGE));
}

static uintptr_t lowest_stack_page = UINTPTR_MAX;

/* One page of stack per level; noinline so that each level really has it. */
static __attribute__((noinline)) void grow_stack(size_t depth)
{
	volatile char frame[PAGE - 256];

	frame[0] = (char)depth;
	frame[sizeof(frame) - 1] = (char)depth;
	if ((uintptr_t)&frame[0] < lowest_stack_page)
		lowest_stack_page = (uintptr_t)&frame[0] & ~(PAGE - 1);
	if (depth > 1)
		grow_stack(depth - 1);
	frame[1] = frame[0]; /* not a tail call */
}

static void cmd_stack_grow(char **argv, int argc)
{
	size_t n;

	if (argc < 2 || !parse_pages(argv[1], &n) || n > 4096)
		return reply("err stack-grow usage: stack-grow N (N <= 4096)");
	/* Frames are slightly under a page: add a few levels to cover N pages. */
	grow_stack(n + n / 8 + 1);
	reply("ok stack-grow 0x%lx", (unsigned long)lowest_stack_page);
}

static void cmd_fork_cow(char **argv, int argc)
{
	size_t n = 4;
	int to_parent[2];
	pid_t parent = getpid(), child;
	char *p, c;

	if (nchildren >= MAX_CHILDREN)
		return reply("err fork-cow too many children");
	if (argc >= 3) {
		if (!parse_addr(argv[1], &p) || !parse_pages(argv[2], &n) || n < 2)
			return reply("err fork-cow usage: fork-cow [ADDR] [N] (N >= 2)");
	} else {
		if (argc == 2 && (!parse_pages(argv[1], &n) || n < 2))
			return reply("err fork-cow usage: fork-cow [ADDR] [N] (N >= 2)");
		p = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (p == MAP_FAILED)
			return reply("err fork-cow %s", strerror(errno));
	}
	touch_write(p, n, 'f');
	if (pipe(to_parent))
		return reply("err fork-cow pipe: %s", strerror(errno));
	child = fork();
	if (child < 0)
		return reply("err fork-cow fork: %s", strerror(errno));
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		close(to_parent[0]);
		close(STDIN_FILENO); /* never compete for the parent's commands */
		p[0] = 'c'; /* the child's own copy of page 0 */
		if (write(to_parent[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(to_parent[1]);
	while (read(to_parent[0], &c, 1) < 0 && errno == EINTR)
		;
	close(to_parent[0]);
	children[nchildren++] = child;
	p[PAGE] = 'P'; /* page 1 still shared with the child: the parent copies */
	reply("ok fork-cow 0x%lx 0x%lx %d %d", uptr(p), uptr(p + n * PAGE), (int)parent,
	      (int)child);
}

static void cmd_reap(void)
{
	int n = nchildren;

	reap_children();
	reply("ok reap %d", n);
}

static void cmd_madvise_dontneed(char **argv, int argc)
{
	size_t n;
	char *p;

	if (argc < 3 || !parse_addr(argv[1], &p) || !parse_pages(argv[2], &n))
		return reply("err madvise-dontneed usage: madvise-dontneed ADDR N");
	if (madvise(p, n * PAGE, MADV_DONTNEED))
		return reply("err madvise-dontneed %s", strerror(errno));
	reply("ok madvise-dontneed 0x%lx 0x%lx", uptr(p), uptr(p + n * PAGE));
}

/* len bytes (a multiple of 2 MiB) at a 2 MiB boundary, MADV_HUGEPAGE; NULL on error. */
static char *map_huge_aligned(size_t len, int prot, int flags)
{
	char *raw = mmap(NULL, len + HUGE_2M, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		return NULL;
	p = (char *)((uptr(raw) + HUGE_2M - 1) & ~(HUGE_2M - 1));
	/* Trim to exactly the aligned region. */
	if (p > raw)
		munmap(raw, (size_t)(p - raw));
	if (p + len < raw + len + HUGE_2M)
		munmap(p + len, (size_t)(raw + len + HUGE_2M - (p + len)));
	if (madvise(p, len, MADV_HUGEPAGE)) {
		munmap(p, len);
		return NULL;
	}
	return p;
}

static void cmd_thp(void)
{
	char *p = map_huge_aligned(HUGE_2M, PROT_READ | PROT_WRITE, 0);

	if (!p)
		return reply("err thp %s", strerror(errno));
	touch_write(p, HUGE_2M / PAGE, 'h');
	reply("ok thp 0x%lx 0x%lx", uptr(p), uptr(p + HUGE_2M));
}

static void cmd_mmap_zero_huge(char **argv, int argc)
{
	uint64_t n;
	size_t len;
	char *p;

	/* Up to the whole 128 TiB: parse_pages stops at 64 GiB. */
	if (argc < 2 || !parse_u64(argv[1], &n) || !n || n > (1ull << 35) || n % (HUGE_2M / PAGE))
		return reply("err mmap-zero-huge usage: mmap-zero-huge N (a multiple of 512)");
	len = n * PAGE;
	/* PROT_READ private memory is not committed: no overcommit setting needed. */
	p = map_huge_aligned(len, PROT_READ, MAP_NORESERVE);
	if (!p)
		return reply("err mmap-zero-huge %s", strerror(errno));
	for (size_t off = 0; off < len; off += HUGE_2M)
		(void)*(volatile char *)(p + off);
	reply("ok mmap-zero-huge 0x%lx 0x%lx", uptr(p), uptr(p + len));
}

static void cmd_exec(const char *self)
{
	char *args[] = { (char *)"target", (char *)"--after-exec", NULL };

	fflush(stdout);
	/*
	 * Temp files and children stay: the new image does not know them.
	 * Children die with their parent thread via PDEATHSIG only at exit,
	 * so kill them now; temp files are unlinked (their mappings vanish
	 * at exec anyway).
	 */
	cleanup();
	execv(self, args);
	reply("err exec %s", strerror(errno));
}

static void cmd_info(void)
{
	char line[1024];
	FILE *f = fopen("/proc/self/maps", "r");
	int n = 0;

	if (!f)
		return reply("err info %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		reply("map %s", line);
		n++;
	}
	fclose(f);
	reply("ok info %d", n);
}

static void command_loop(void);

static void *command_thread_main(void *arg)
{
	(void)arg;
	reply("ok leader-exit %d", (int)gettid());
	command_loop();
	cleanup();
	exit(0); /* stdin closed: as the leader would have */
}

static void cmd_leader_exit(void)
{
	pthread_t th;
	int r = pthread_create(&th, NULL, command_thread_main, NULL);

	if (r)
		return reply("err leader-exit %s", strerror(r));
	pthread_exit(NULL);
}

static void command_loop(void)
{
	char line[MAX_LINE];

	for (;;) {
		char *argv[MAX_ARGS];
		int argc = 0;
		char *save = NULL, *tok;

		if (read_line(line, sizeof(line)) < 0)
			break; /* EOF: the test closed our stdin */
		for (tok = strtok_r(line, " \t\r", &save); tok && argc < MAX_ARGS;
		     tok = strtok_r(NULL, " \t\r", &save))
			argv[argc++] = tok;
		if (argc == 0)
			continue;
		const char *c = argv[0];

		if (!strcmp(c, "mmap-anon"))
			cmd_mmap_anon(argv, argc);
		else if (!strcmp(c, "mmap-reserve"))
			cmd_mmap_reserve(argv, argc);
		else if (!strcmp(c, "touch-read"))
			cmd_touch(argv, argc, false);
		else if (!strcmp(c, "touch-write"))
			cmd_touch(argv, argc, true);
		else if (!strcmp(c, "touch-every"))
			cmd_touch_every(argv, argc);
		else if (!strcmp(c, "thread-touch"))
			cmd_thread_touch(argv, argc);
		else if (!strcmp(c, "munmap"))
			cmd_munmap(argv, argc);
		else if (!strcmp(c, "munmap-partial"))
			cmd_munmap_partial(argv, argc);
		else if (!strcmp(c, "mprotect"))
			cmd_mprotect(argv, argc);
		else if (!strcmp(c, "mremap"))
			cmd_mremap(argv, argc);
		else if (!strcmp(c, "anon-name"))
			cmd_anon_name(argv, argc);
		else if (!strcmp(c, "brk-grow"))
			cmd_brk(argv, argc, true);
		else if (!strcmp(c, "brk-shrink"))
			cmd_brk(argv, argc, false);
		else if (!strcmp(c, "mmap-file"))
			cmd_mmap_file(argv, argc);
		else if (!strcmp(c, "mmap-shared-anon"))
			cmd_mmap_shared_anon(argv, argc);
		else if (!strcmp(c, "stack-grow"))
			cmd_stack_grow(argv, argc);
		else if (!strcmp(c, "fork-cow"))
			cmd_fork_cow(argv, argc);
		else if (!strcmp(c, "reap"))
			cmd_reap();
		else if (!strcmp(c, "madvise-dontneed"))
			cmd_madvise_dontneed(argv, argc);
		else if (!strcmp(c, "fault-late"))
			cmd_fault_late(argv, argc);
		else if (!strcmp(c, "thp"))
			cmd_thp();
		else if (!strcmp(c, "mmap-zero-huge"))
			cmd_mmap_zero_huge(argv, argc);
		else if (!strcmp(c, "exec"))
			cmd_exec("/proc/self/exe");
		else if (!strcmp(c, "info"))
			cmd_info();
		else if (!strcmp(c, "leader-exit"))
			cmd_leader_exit();
		else if (!strcmp(c, "dumpable") && argc >= 2 &&
			 (!strcmp(argv[1], "0") || !strcmp(argv[1], "1"))) {
			if (prctl(PR_SET_DUMPABLE, (unsigned long)atoi(argv[1]), 0, 0, 0))
				reply("err dumpable %s", strerror(errno));
			else
				reply("ok dumpable %s", argv[1]);
		} else if (!strcmp(c, "pid"))
			reply("ok pid %d", (int)getpid());
		else if (!strcmp(c, "exit")) {
			uint64_t code = 0;

			if (argc >= 2 && (!parse_u64(argv[1], &code) || code > 255)) {
				reply("err exit usage: exit CODE (0..255)");
				continue;
			}
			reply("ok exit %d", (int)code);
			cleanup();
			exit((int)code);
		} else {
			reply("err %s unknown command", c);
		}
	}
}

/* --- demo ------------------------------------------------------------- */

static void demo_sleep(void)
{
	struct timespec ts = { 0, 200 * 1000 * 1000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void demo_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void demo_step(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	demo_sleep();
}

/*
 * One cycle: map an arena, fault it in page by page, punch holes with
 * MADV_DONTNEED, split it with a partial munmap, grow and shrink the heap,
 * then unmap everything. About 60 steps, i.e. ~12 s per cycle.
 */
static void demo_loop(void)
{
	const size_t arena_pages = 32, heap_pages = 8;
	unsigned long cycle = 0;

	for (;;) {
		char *arena = mmap(NULL, arena_pages * PAGE, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char *brk0;

		if (arena == MAP_FAILED) {
			perror("demo: mmap");
			exit(1);
		}
		cycle++;
		demo_step("demo %lu: mapped arena 0x%lx-0x%lx", cycle, uptr(arena),
			  uptr(arena + arena_pages * PAGE));
		for (size_t i = 0; i < arena_pages; i++) {
			touch_write(arena + i * PAGE, 1, 'd');
			demo_step("demo %lu: touched page %zu at 0x%lx", cycle, i,
				  uptr(arena + i * PAGE));
		}
		for (size_t i = 0; i < arena_pages; i += 4) {
			madvise(arena + i * PAGE, 2 * PAGE, MADV_DONTNEED);
			demo_step("demo %lu: freed pages %zu-%zu", cycle, i, i + 1);
		}
		munmap(arena + (arena_pages / 4) * PAGE, (arena_pages / 2) * PAGE);
		demo_step("demo %lu: unmapped the middle half", cycle);
		brk0 = sbrk(0);
		for (size_t i = 0; i < heap_pages; i++) {
			char *old = sbrk(PAGE);

			if (old != (void *)-1)
				*(volatile char *)old = 'h';
			demo_step("demo %lu: heap grew to 0x%lx", cycle, uptr(sbrk(0)));
		}
		if (brk(brk0) == 0)
			demo_step("demo %lu: heap shrank back to 0x%lx", cycle, uptr(brk0));
		munmap(arena, (arena_pages / 4) * PAGE);
		munmap(arena + (arena_pages * 3 / 4) * PAGE, (arena_pages / 4) * PAGE);
		demo_step("demo %lu: unmapped the arena", cycle);
	}
}

int main(int argc, char **argv)
{
	bool after_exec = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--after-exec")) {
			after_exec = true;
		} else if (!strcmp(argv[i], "--demo")) {
			printf("ready %d\n", (int)getpid());
			fflush(stdout);
			demo_loop();
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("usage: %s [--demo]\n"
			       "Reads step commands on stdin, one per line; see the "
			       "comment at the top of tests/workloads/target.c.\n",
			       argv[0]);
			return 0;
		} else {
			fprintf(stderr, "target: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_fatal_signal);
	signal(SIGINT, on_fatal_signal);
	signal(SIGHUP, on_fatal_signal);
	if (after_exec)
		reply("ok exec %d", (int)getpid());
	else
		reply("ready %d", (int)getpid());
	command_loop();
	cleanup();
	return 0;
}
