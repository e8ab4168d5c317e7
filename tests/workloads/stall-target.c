// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stall-target: a process whose mmap_lock it holds itself, for as long as
 * it is told to: the "stuck target" of the integration tests.
 *
 * A child process serves a tiny FUSE file system (raw /dev/fuse, one
 * 1 MiB file) that answers everything but READ. The target maps that
 * file; on "stall" one thread reads the mapping through /proc/self/mem,
 * which faults the page in with the mmap_lock held (GUP without
 * FOLL_UNLOCKABLE waits for the read that never comes), and another calls
 * mmap(), whose write lock then queues: every later reader of the mm
 * (/proc/PID/maps before 6.17, pagemap) blocks behind it; a third thread
 * then writes a page (a fault that takes only the VMA's lock), so that a
 * watcher has something to read back. "release" makes the child
 * abort the FUSE connection (the read fails, everything unblocks).
 *
 * Protocol (stdin/stdout, one line each):
 *   at start  -> "ready <pid>"
 *   "stall"   -> "ok stall"   (the threads are on their way)
 *   "release" -> "ok release" (the stuck threads returned)
 *   "touch N" -> "ok touch START END": maps N anonymous pages and writes them
 *   "exit"    -> exits
 * Needs root (mounting FUSE).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_SIZE (1u << 20)
#define FILE_INO  2

static char mnt[64];
static char *region;
static char *spare; /* anonymous pages, the second written while the lock is stuck */
static pthread_t reader_thread, mapper_thread, poker_thread;
/*
 * The three threads exist from the start and wait for "stall": creating
 * a thread maps its stack, which would itself wait for the stuck lock.
 */
static pthread_mutex_t go_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t go_cond = PTHREAD_COND_INITIALIZER;
static bool go;

static void wait_go(void)
{
	pthread_mutex_lock(&go_lock);
	while (!go)
		pthread_cond_wait(&go_cond, &go_lock);
	pthread_mutex_unlock(&go_lock);
}

static void die(const char *what)
{
	fprintf(stderr, "stall-target: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void reply(int fd, uint64_t unique, int error, const void *body, size_t len)
{
	struct fuse_out_header h = {
	    .len = sizeof(h) + (error ? 0 : len), .error = error, .unique = unique};
	char buf[sizeof(h) + 256];

	memcpy(buf, &h, sizeof(h));
	if (!error && len)
		memcpy(buf + sizeof(h), body, len);
	if (write(fd, buf, h.len) < 0 && errno != ENOENT)
		perror("stall-target: fuse reply");
}

static void fill_attr(struct fuse_attr *a, uint64_t ino)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->mode = ino == FUSE_ROOT_ID ? S_IFDIR | 0555 : S_IFREG | 0444;
	a->nlink = ino == FUSE_ROOT_ID ? 2 : 1;
	a->size = ino == FUSE_ROOT_ID ? 0 : FILE_SIZE;
	a->blocks = a->size / 512;
	a->blksize = 4096;
}

/* Serves until the control pipe says stop (or closes): then the connection aborts. */
static void serve(int fd, int ctl)
{
	static char buf[FUSE_MIN_READ_BUFFER + 65536];

	for (;;) {
		struct fuse_in_header *in = (void *)buf;
		void *arg = buf + sizeof(*in);
		fd_set rd;
		ssize_t n;

		FD_ZERO(&rd);
		FD_SET(fd, &rd);
		FD_SET(ctl, &rd);
		if (select((fd > ctl ? fd : ctl) + 1, &rd, NULL, NULL, NULL) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (FD_ISSET(ctl, &rd))
			break;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(*in))
			break;
		switch (in->opcode) {
		case FUSE_INIT: {
			struct fuse_init_out o = {.major = FUSE_KERNEL_VERSION,
						  .minor = FUSE_KERNEL_MINOR_VERSION,
						  .max_readahead = 65536,
						  .max_write = 4096,
						  .max_background = 16,
						  .congestion_threshold = 12};

			reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_LOOKUP: {
			struct fuse_entry_out o = {.nodeid = FILE_INO};

			if (strcmp(arg, "f")) {
				reply(fd, in->unique, -ENOENT, NULL, 0);
				break;
			}
			fill_attr(&o.attr, FILE_INO);
			reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out o = {0};

			fill_attr(&o.attr, in->nodeid);
			reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_OPEN:
		case FUSE_OPENDIR: {
			struct fuse_open_out o = {.fh = 1};

			reply(fd, in->unique, 0, &o, sizeof(o));
			break;
		}
		case FUSE_READ:
		case FUSE_INTERRUPT:
			break; /* never answered: that is the point */
		case FUSE_FLUSH:
		case FUSE_RELEASE:
		case FUSE_RELEASEDIR:
			reply(fd, in->unique, 0, NULL, 0);
			break;
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
			break;
		default:
			reply(fd, in->unique, -ENOSYS, NULL, 0);
		}
	}
	close(fd); /* aborts the connection: pending READs fail */
}

static void *stuck_read(void *arg)
{
	char c;
	int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);

	wait_go();
	/* GUP from /proc/PID/mem holds the mmap_lock across the page-in. */
	if (fd >= 0) {
		/* Fails (EIO) once released: the wait is what matters. */
		(void)!pread(fd, &c, 1, (off_t)(uintptr_t)region);
		close(fd);
	}
	return NULL;
}

/*
 * A fault that needs no mmap_lock (the per-VMA lock of a VMA that has its
 * anon_vma already: see main): its reader then blocks.
 */
static void *poke(void *arg)
{
	wait_go();
	usleep(300 * 1000); /* after mmap() has queued */
	((volatile char *)arg)[4096] = 1;
	return NULL;
}

static void *stuck_mmap(void *arg)
{
	wait_go();
	usleep(200 * 1000); /* after the reader holds the lock */
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		munmap(p, 4096);
	return NULL;
}

int main(void)
{
	char opts[128], path[96], line[128];
	int fuse, ctl[2], fd;
	pid_t server;

	snprintf(mnt, sizeof(mnt), "/tmp/spt-stall.XXXXXX");
	if (!mkdtemp(mnt))
		die("mkdtemp");
	fuse = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fuse < 0)
		die("/dev/fuse");
	snprintf(opts, sizeof(opts), "fd=%d,rootmode=40000,user_id=0,group_id=0", fuse);
	if (mount("spt-stall", mnt, "fuse", MS_NOSUID | MS_NODEV, opts) < 0)
		die("mount fuse");
	if (pipe(ctl) < 0)
		die("pipe");
	server = fork();
	if (server < 0)
		die("fork");
	if (server == 0) {
		close(ctl[1]);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* the connection dies with the target */
		serve(fuse, ctl[0]);
		_exit(0);
	}
	close(fuse);
	close(ctl[0]);

	snprintf(path, sizeof(path), "%s/f", mnt);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die(path);
	region = mmap(NULL, FILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (region == MAP_FAILED)
		die("mmap");
	close(fd);
	/* The mapping keeps the file system alive: no mount is left if we are killed. */
	umount2(mnt, MNT_DETACH);
	rmdir(mnt);
	spare = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (spare == MAP_FAILED)
		die("mmap");
	spare[0] = 1; /* its anon_vma now exists: a later fault needs no mmap_lock */
	pthread_create(&reader_thread, NULL, stuck_read, NULL);
	pthread_create(&mapper_thread, NULL, stuck_mmap, NULL);
	/* Before per-VMA locks (6.4) the poke waits for the lock too: harmless. */
	pthread_create(&poker_thread, NULL, poke, spare);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready %d\n", (int)getpid());

	while (fgets(line, sizeof(line), stdin)) {
		unsigned long n;

		if (!strcmp(line, "stall\n")) {
			pthread_mutex_lock(&go_lock);
			go = true;
			pthread_cond_broadcast(&go_cond);
			pthread_mutex_unlock(&go_lock);
			usleep(500 * 1000);
			printf("ok stall\n");
		} else if (!strcmp(line, "release\n")) {
			if (write(ctl[1], "x", 1) < 0)
				die("release");
			pthread_join(reader_thread, NULL);
			pthread_join(mapper_thread, NULL);
			pthread_join(poker_thread, NULL);
			printf("ok release\n");
		} else if (sscanf(line, "touch %lu", &n) == 1) {
			char *p = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			for (unsigned long i = 0; p != MAP_FAILED && i < n; i++)
				p[i * 4096] = 1;
			printf("ok touch %p %p\n", (void *)p, (void *)(p + n * 4096));
		} else if (!strcmp(line, "exit\n")) {
			break;
		} else {
			printf("err unknown command\n");
		}
	}
	close(ctl[1]); /* the connection aborts: stuck threads, if any, return */
	waitpid(server, NULL, 0);
	return 0;
}
