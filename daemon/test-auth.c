// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: parsing of /proc/PID/status for authorization. */
#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "test-common.h"


static const char status_ok[] =
    "Name:\tcat\nUmask:\t0022\nState:\tR (running)\nTgid:\t1234\nNgid:\t0\n"
    "Pid:\t1234\nPPid:\t1\nTracerPid:\t0\nUid:\t1000\t1001\t1002\t1003\n"
    "Gid:\t100\t101\t102\t103\nFDSize:\t64\nGroups:\t4 24 27 998 \nNStgid:\t1234\n";

static void test_parse(void)
{
	struct spt_proc_ids ids;

	EXPECT(auth_parse_status(status_ok, &ids) == 0);
	EXPECT(ids.tgid == 1234);
	EXPECT(ids.uid[0] == 1000 && ids.uid[1] == 1001 && ids.uid[2] == 1002 && ids.uid[3] == 1003);
	EXPECT(ids.gid[0] == 100 && ids.gid[1] == 101 && ids.gid[2] == 102 && ids.gid[3] == 103);
	/* Missing, truncated or garbled lines are refused, never guessed. */
	EXPECT(auth_parse_status("Name:\tx\nTgid:\t5\nGid:\t1\t1\t1\t1\n", &ids) == -EINVAL);
	EXPECT(auth_parse_status("Tgid:\t5\nUid:\t1\t1\t1\nGid:\t1\t1\t1\t1\n", &ids) == -EINVAL);
	EXPECT(auth_parse_status("Tgid:\t5\nUid:\t1\t1\tx\t1\nGid:\t1\t1\t1\t1\n", &ids) == -EINVAL);
	EXPECT(auth_parse_status("Tgid:\t5\nUid:\t1\t1\t1\t1\t7\nGid:\t1\t1\t1\t1\n", &ids) ==
	      -EINVAL);
	EXPECT(auth_parse_status("Tgid:\t5\nUid:\t1\t1\t1\t99999999999\nGid:\t1\t1\t1\t1\n", &ids) ==
	      -EINVAL);
	EXPECT(auth_parse_status("Tgid:\t0\nUid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n", &ids) == -EINVAL);
	/* A key must match at line start: "PPid" is not "Pid", "NStgid" not "Tgid". */
	EXPECT(auth_parse_status("NStgid:\t7\nUid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n", &ids) ==
	      -EINVAL);
	EXPECT(auth_parse_status("", &ids) == -EINVAL);
}

static void test_groups(void)
{
	EXPECT(auth_status_has_group(status_ok, 998) == 1);
	EXPECT(auth_status_has_group(status_ok, 4) == 1);
	EXPECT(auth_status_has_group(status_ok, 2) == 0);
	EXPECT(auth_status_has_group(status_ok, 99) == 0);
	EXPECT(auth_status_has_group("Groups:\t\nX:\t1\n", 1) == 0);
	EXPECT(auth_status_has_group("Groups:\t1 x\n", 2) == -EINVAL);
	EXPECT(auth_status_has_group("Name:\tx\n", 1) == -EINVAL);
}

static void test_zombie_state(void)
{
	EXPECT(auth_status_is_zombie("Name:\tx\nState:\tZ (zombie)\nTgid:\t5\n") == 1);
	EXPECT(auth_status_is_zombie("State:\tZ (zombie)\n") == 1);
	EXPECT(auth_status_is_zombie("Name:\tx\nState:\tS (sleeping)\n") == 0);
	EXPECT(auth_status_is_zombie("Name:\tZ\n") == -EINVAL);
	EXPECT(auth_status_is_zombie("State:\t\n") == -EINVAL);
}

static void test_self(void)
{
	struct spt_peer me = {.uid = geteuid(), .gid = getegid(), .pid = getpid()};
	char why[256];

	/* Our own process is always watchable by ourselves. */
	EXPECT(auth_check_target(&me, getpid(), why, sizeof(why)) == 0);
	EXPECT(auth_check_target(&me, 0, why, sizeof(why)) == -ESRCH);
	EXPECT(auth_check_target(&me, -5, why, sizeof(why)) == -ESRCH);
	EXPECT(auth_check_target(&me, 0x3fffffff, why, sizeof(why)) == -ESRCH);
	if (geteuid() != 0) {
		/* pid 1 runs as root: a non-admin non-root peer is refused. */
		EXPECT(auth_check_target(&me, 1, why, sizeof(why)) == -EPERM);
	} else {
		struct spt_peer nobody = {.uid = 65534, .gid = 65534, .pid = 1};

		EXPECT(auth_check_target(&nobody, 1, why, sizeof(why)) == -EPERM);
		EXPECT(auth_check_target(&nobody, getpid(), why, sizeof(why)) == -EPERM);
	}
}

/* Admin = uid 0, or the admin group as primary or supplementary group. */
static void test_admin(void)
{
	const gid_t some[] = {5, 27};
	gid_t with[3] = {5, 27, 0};
	struct group *gr;
	gid_t g;

	auth_init_group("no-such-group-for-shadowpt-tests");
	EXPECT(auth_admin_gid() == (gid_t)-1);
	EXPECT(auth_peer_is_admin(0, 0, 0, NULL, 0));
	EXPECT(!auth_peer_is_admin(1000, 1000, 0, some, 2));
	/* Any existing group of this system will do as "the admin group". */
	gr = getgrnam("daemon");
	if (!gr)
		return;
	g = gr->gr_gid;
	auth_init_group("daemon");
	EXPECT(auth_admin_gid() == g);
	with[2] = g;
	EXPECT(auth_peer_is_admin(1000, g, 0, some, 2));
	EXPECT(auth_peer_is_admin(1000, 1000, 0, with, 3));
	EXPECT(!auth_peer_is_admin(1000, 1000, 0, some, 2));
	EXPECT(!auth_peer_is_admin(1000, 1000, 0, NULL, 0)); /* no pid to look at */
	/* Without SO_PEERGROUPS: the peer's /proc/PID/status Groups: line. */
	if (geteuid() == 0 && setgroups(1, &g) == 0) {
		EXPECT(auth_peer_is_admin(1000, 1000, getpid(), NULL, 0));
		setgroups(0, NULL);
		EXPECT(!auth_peer_is_admin(1000, 1000, getpid(), NULL, 0));
	}
}

/* A child running as nobody, dumpable or not; it waits to be killed. */
static pid_t spawn_nobody(int dumpable)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) || prctl(PR_SET_DUMPABLE, dumpable, 0, 0, 0))
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		pid = -1;
	close(p[0]);
	return pid;
}

/* Same uid is not enough: a non-dumpable target is refused. */
static void test_dumpable(void)
{
	struct spt_peer nobody = {.uid = 65534, .gid = 65534, .pid = 1};
	char why[256];
	pid_t d, nd;

	if (geteuid() != 0)
		return;
	d = spawn_nobody(1);
	nd = spawn_nobody(0);
	EXPECT(d > 0 && nd > 0);
	if (d > 0)
		EXPECT(auth_check_target(&nobody, d, why, sizeof(why)) == 0);
	if (nd > 0)
		EXPECT(auth_check_target(&nobody, nd, why, sizeof(why)) == -EPERM);
	if (d > 0) {
		kill(d, SIGKILL);
		waitpid(d, NULL, 0);
	}
	if (nd > 0) {
		kill(nd, SIGKILL);
		waitpid(nd, NULL, 0);
	}
}

int main(void)
{
	test_parse();
	test_dumpable();
	test_admin();
	test_groups();
	test_zombie_state();
	test_self();
	return spt_test_done();
}
