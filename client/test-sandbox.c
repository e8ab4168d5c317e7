/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unit test of the seccomp allow-list: in forked children, what the
 * viewer needs keeps working and anything else dies of SIGSYS.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "test-common.h"

/* Runs fn sandboxed in a child; returns its wait status. */
static int run_sandboxed(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (sctl_sandbox_install() < 0)
			_exit(99);
		fn();
		_exit(0);
	}
	waitpid(pid, &status, 0);
	return status;
}

static void allowed_ops(void)
{
	struct timespec ts;
	struct pollfd pfd;
	char buf[16];
	void *big;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	big = malloc(8 << 20); /* mmap-backed */
	if (!big)
		_exit(2);
	memset(big, 1, 8 << 20);
	free(big);
	big = malloc(100);
	free(big);
	pfd.fd = 1;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, 0) < 0)
		_exit(3);
	if (write(2, "", 0) < 0)
		_exit(4);
	if (read(0, buf, 0) < 0)
		_exit(5);
	ts.tv_sec = 0;
	ts.tv_nsec = 1000;
	nanosleep(&ts, NULL);
	kill(getpid(), 0);
}

#ifndef SCTL_SANDBOX_SANITIZER
static void do_openat(void)
{
	sctl_sandbox_selftest("openat"); /* exits 1 if openat was allowed */
}
#endif

/* Even sanitizer builds never open for writing. */
static void do_open_write(void)
{
	openat(AT_FDCWD, "/tmp/shadowctl-sandbox-test", O_WRONLY | O_CREAT, 0600);
}

static void do_socket(void)
{
	socket(AF_UNIX, SOCK_STREAM, 0);
}

static void do_execve(void)
{
	char *argv[] = {(char *)"/bin/true", NULL};

	execve("/bin/true", argv, NULL);
}

static void do_mmap_exec(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void do_kill_other(void)
{
	kill(getppid(), 0);
}

static void do_ioctl_other(void)
{
	int n;

	ioctl(0, FIONREAD, &n);
}

#define EXPECT_SIGSYS(fn)                                                                          \
	do {                                                                                       \
		int st_ = run_sandboxed(fn);                                                       \
		CHECK(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGSYS,                                 \
		      #fn " dies of SIGSYS "                                                       \
			  "(status 0x%x)",                                                         \
		      st_);                                                                        \
	} while (0)

int main(void)
{
	int st = run_sandboxed(allowed_ops);

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "allowed operations work (status 0x%x)", st);
#ifdef SCTL_SANDBOX_SANITIZER
	/* Sanitizer builds allow read-only opens (sandbox.c): nothing to check. */
	CHECK(1, "# SKIP openat selftest in a sanitizer build");
#else
	EXPECT_SIGSYS(do_openat);
#endif
	EXPECT_SIGSYS(do_open_write);
	EXPECT_SIGSYS(do_socket);
	EXPECT_SIGSYS(do_execve);
	EXPECT_SIGSYS(do_mmap_exec);
	EXPECT_SIGSYS(do_kill_other);
	EXPECT_SIGSYS(do_ioctl_other);
	return spt_test_done();
}
