// SPDX-License-Identifier: GPL-2.0-or-later
/* Privilege drop with libcap; the policy is in privs.h. */
#include <errno.h>
#include <stdio.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

/*
 * CAP_SYS_ADMIN: pfns in pagemap. CAP_SYS_PTRACE: ptrace_may_access() on
 * other users' maps/pagemap/mem. CAP_DAC_READ_SEARCH: /proc/PID/pagemap is
 * mode 0400 and /proc/PID/mem 0600, owned by the target's uid (root when
 * not dumpable), so without it open() fails with EACCES before ptrace
 * access is even checked (measured: see DESIGN deviation note in privs.h).
 */
static const cap_value_t keep_caps[] = {CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
#define NKEEP ((int)(sizeof(keep_caps) / sizeof(keep_caps[0])))

int privs_lookup_user(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(user);
	if (!pw)
		return errno ? -errno : -ENOENT;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static bool is_kept(cap_value_t c)
{
	for (int i = 0; i < NKEEP; i++)
		if (keep_caps[i] == c)
			return true;
	return false;
}

/*
 * Removes every capability but the kept ones from the bounding set. Ones
 * already out (systemd's CapabilityBoundingSet=) are skipped. Without
 * CAP_SETPCAP the rest stay; that is only noted: the bounding set limits
 * what an execve() could gain, and the no_new_privs set next, with the
 * permitted set cut to the kept ones, already rules that out.
 */
static int privs_drop_bounding(void)
{
	char stuck[256] = "";
	size_t len = 0;

	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		if (is_kept(c) || !CAP_IS_SUPPORTED(c) || cap_get_bound(c) == 0)
			continue;
		if (cap_drop_bound(c) == 0)
			continue;
		if (errno != EPERM) {
			int r = -errno;

			log_err("cannot drop capability %d from the bounding set: %s", (int)c,
				strerror(-r));
			return r;
		}
		char *name = cap_to_name(c);

		if (len < sizeof(stuck))
			len += (size_t)snprintf(stuck + len, sizeof(stuck) - len, " %s",
						name ? name : "?");
		cap_free(name);
	}
	if (stuck[0])
		log_notice("no CAP_SETPCAP: kept in the bounding set:%s (harmless: with "
			   "no_new_privs they can never be regained)",
			   stuck);
	return 0;
}

/* Sets permitted and effective to exactly the kept caps, inheritable empty. */
static int privs_set_caps(void)
{
	cap_t caps = cap_init();
	int r = 0;

	if (!caps)
		return -ENOMEM;
	if (cap_set_flag(caps, CAP_PERMITTED, NKEEP, keep_caps, CAP_SET) < 0 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, NKEEP, keep_caps, CAP_SET) < 0 ||
	    cap_set_proc(caps) < 0) {
		r = -errno;
		log_err("cannot set capabilities to "
			"cap_sys_admin,cap_sys_ptrace,cap_dac_read_search=ep: %s",
			strerror(-r));
	}
	cap_free(caps);
	if (r == 0 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 &&
	    errno != EINVAL)
		log_warn("cannot clear ambient capabilities: %s", strerror(errno));
	return r;
}

static int privs_no_new_privs(void)
{
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int r = -errno;

		log_err("PR_SET_NO_NEW_PRIVS: %s", strerror(-r));
		return r;
	}
	return 0;
}

static void privs_log_result(void)
{
	cap_t caps = cap_get_proc();
	char *text = caps ? cap_to_text(caps, NULL) : NULL;

	log_info("running as uid %u gid %u with capabilities '%s'", (unsigned)getuid(),
		 (unsigned)getgid(), text ? text : "?");
	cap_free(text);
	cap_free(caps);
}

bool privs_have_sys_admin(void)
{
	cap_flag_value_t v = CAP_CLEAR;
	cap_t caps = cap_get_proc();

	if (caps) {
		cap_get_flag(caps, CAP_SYS_ADMIN, CAP_EFFECTIVE, &v);
		cap_free(caps);
	}
	return v == CAP_SET;
}

int privs_drop(const char *user, bool keep_root)
{
	uid_t uid = 0;
	gid_t gid = 0;
	int r;

	if (geteuid() != 0) {
		log_notice("not started as root (uid %u): viewers can watch only processes "
			   "of uid %u%s",
			   (unsigned)geteuid(), (unsigned)geteuid(),
			   privs_have_sys_admin() ? "" : ", and without pfns");
		r = privs_no_new_privs();
		privs_log_result();
		return r;
	}
	r = privs_lookup_user(user, &uid, &gid);
	if (r == -ENOENT && keep_root) {
		log_warn("user '%s' does not exist; --keep-root: staying uid 0 with only "
			 "cap_sys_admin, cap_sys_ptrace and cap_dac_read_search",
			 user);
		r = privs_drop_bounding();
		if (r == 0)
			r = privs_set_caps();
		if (r == 0)
			r = privs_no_new_privs();
		if (r == 0)
			privs_log_result();
		return r;
	}
	if (r == -ENOENT) {
		log_err("user '%s' does not exist. Create it (systemd-sysusers "
			"packaging/sysusers.d/shadowpt.conf, or useradd --system %s), or pass "
			"--keep-root to run as root with reduced capabilities",
			user, user);
		return r;
	}
	if (r < 0) {
		log_err("cannot look up user '%s': %s", user, strerror(-r));
		return r;
	}
	if (uid == 0) {
		log_err("user '%s' is uid 0; refusing to treat it as unprivileged", user);
		return -EINVAL;
	}
	/* Bounding set first: dropping from it needs CAP_SETPCAP, gone after setuid. */
	r = privs_drop_bounding();
	if (r < 0)
		return r;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
		r = -errno;
		log_err("PR_SET_KEEPCAPS: %s", strerror(-r));
		return r;
	}
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(uid, uid, uid) < 0) {
		r = -errno;
		log_err("cannot switch to user '%s' (uid %u gid %u): %s", user, (unsigned)uid,
			(unsigned)gid, strerror(-r));
		return r;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	/* setuid cleared the effective set; permitted kept the two we need. */
	r = privs_set_caps();
	if (r == 0)
		r = privs_no_new_privs();
	if (r == 0)
		privs_log_result();
	return r;
}
