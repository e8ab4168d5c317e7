/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The viewer's seccomp allow-list. Installed once the daemon connection
 * is up, stdout/stderr are open and ncurses has loaded terminfo: from
 * then on shadowctl only reads and writes the descriptors it has, polls,
 * manages memory and exits. Anything else (open, socket, connect, exec,
 * ...) kills the process (SCMP_ACT_KILL_PROCESS, seen as SIGSYS), so a
 * hostile daemon exploiting a parser bug gets nothing more.
 */
#ifndef SHADOWCTL_SANDBOX_H
#define SHADOWCTL_SANDBOX_H

/* Returns 0 or -errno (seccomp unavailable, out of memory). */
int sctl_sandbox_install(void);

/*
 * Test hook: makes a forbidden call the way an exploit would, openat() of
 * /etc/passwd (what = "1" or "openat") or socket() (what = "socket"). With
 * the sandbox installed the process dies of SIGSYS; if this returns, the
 * sandbox is broken and the process exits 1.
 */
void sctl_sandbox_selftest(const char *what);

#endif
