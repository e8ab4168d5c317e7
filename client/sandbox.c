/* SPDX-License-Identifier: GPL-2.0-or-later */
/* seccomp allow-list of shadowctl; see sandbox.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <seccomp.h>

#include "sandbox.h"

/*
 * Syscalls allowed without argument checks. Each is needed after the
 * sandbox is up by the code named in the comment (checked with strace on
 * glibc 2.36 / ncurses 6.4).
 */
static const int sctl_allowed[] = {
    /* frame I/O on the connected socket, output on stdout/stderr */
    SCMP_SYS(read),
    SCMP_SYS(readv),
    SCMP_SYS(write),
    SCMP_SYS(writev),
    SCMP_SYS(recvfrom),
    SCMP_SYS(recvmsg),
    SCMP_SYS(sendto),
    SCMP_SYS(sendmsg),
    SCMP_SYS(lseek), /* stdio on a redirected stdout */
    SCMP_SYS(close),
    SCMP_SYS(shutdown),
    SCMP_SYS(fstat),	  /* stdio buffer sizing */
    SCMP_SYS(newfstatat), /* fstat() in glibc >= 2.33 */
    /* the event loop */
    SCMP_SYS(poll),
    SCMP_SYS(ppoll),
    SCMP_SYS(clock_gettime),
    SCMP_SYS(gettimeofday),
    SCMP_SYS(nanosleep),
    SCMP_SYS(clock_nanosleep),
    /* signals: Ctrl-C, SIGWINCH and SIGTSTP handling in ncurses */
    SCMP_SYS(rt_sigaction),
    SCMP_SYS(rt_sigprocmask),
    SCMP_SYS(rt_sigreturn),
    SCMP_SYS(sigaltstack),
    /* malloc */
    SCMP_SYS(brk),
    SCMP_SYS(munmap),
    SCMP_SYS(mremap),
    SCMP_SYS(madvise),
    SCMP_SYS(futex),
    SCMP_SYS(sysinfo), /* glibc qsort() sizes its buffer by physical memory */
    /* identity, for the self-only kill/tgkill below and abort() */
    SCMP_SYS(getpid),
    SCMP_SYS(gettid),
    SCMP_SYS(exit),
    SCMP_SYS(exit_group),
};

/*
 * Terminal ioctls ncurses uses after initialisation: window size on
 * SIGWINCH, tcgetattr/tcsetattr in endwin and on resume after Ctrl-Z, and
 * tcflush (flushinp) on resume.
 */
static const unsigned long sctl_allowed_ioctls[] = {
    TIOCGWINSZ, TCGETS, TCSETS, TCSETSW, TCSETSF, TCFLSH,
};

#ifdef SCTL_SANDBOX_SANITIZER
/* What the sanitizer runtimes use while writing a report. */
static const int sctl_sanitizer_extra[] = {
    SCMP_SYS(sched_yield), SCMP_SYS(prctl),	 SCMP_SYS(getrlimit),
    SCMP_SYS(prlimit64),   SCMP_SYS(readlink),	 SCMP_SYS(pread64),
    SCMP_SYS(getdents64),  SCMP_SYS(fcntl),
};

/*
 * LeakSanitizer stops the world with ptrace and reads /proc at exit, which
 * the sandbox forbids: sanitizer builds default to detect_leaks=0 (the unit
 * tests, which run unsandboxed, still check leaks).
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
#endif

int sctl_sandbox_install(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	pid_t self = getpid();
	size_t i;
	int r = 0;

	if (!ctx)
		return -ENOMEM;
	for (i = 0; i < sizeof(sctl_allowed) / sizeof(sctl_allowed[0]) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sctl_allowed[i], 0);
	for (i = 0; i < sizeof(sctl_allowed_ioctls) / sizeof(sctl_allowed_ioctls[0]) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				     SCMP_A1(SCMP_CMP_EQ, sctl_allowed_ioctls[i]));
	/* malloc: mmap and mprotect, but never make anything executable. */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Signals to ourselves only: ncurses' SIGTSTP handler, raise(), abort(). */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)self));
#ifdef SCTL_SANDBOX_SANITIZER
	/*
	 * Sanitizer builds only (see client/meson.build), relaxed so that a
	 * report is complete: the runtimes read /proc/self/maps and the binary
	 * (symbols) while reporting, so read-only opens are allowed, which is
	 * why the openat selftest is skipped in these builds. The leak checker
	 * would also need ptrace: it is off by default above.
	 */
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(open), 1,
				     SCMP_A1(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDONLY));
	if (!r)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, O_ACCMODE, O_RDONLY));
	for (i = 0; i < sizeof(sctl_sanitizer_extra) / sizeof(sctl_sanitizer_extra[0]) && !r; i++)
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sctl_sanitizer_extra[i], 0);
#endif
	if (!r)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

void sctl_sandbox_selftest(const char *what)
{
	long r;

	if (!strcmp(what, "socket"))
		r = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	else
		r = syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC);
	fprintf(stderr, "shadowctl: sandbox selftest FAILED: %s returned %ld\n",
		strcmp(what, "socket") ? "openat" : "socket", r);
	fflush(stderr);
	_exit(1);
}
