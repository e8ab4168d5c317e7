// SPDX-License-Identifier: GPL-2.0-or-later
/* Authorization of peers and requests; the rules are in auth.h. */
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <grp.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "log.h"

static gid_t admin_gid = (gid_t)-1;

void auth_init_group(const char *group)
{
	struct group *gr = getgrnam(group);

	admin_gid = gr ? gr->gr_gid : (gid_t)-1;
	if (!gr)
		log_info("group '%s' does not exist: only root viewers are admins", group);
}

void auth_init(void)
{
	auth_init_group(SPT_ADMIN_GROUP);
}

gid_t auth_admin_gid(void)
{
	return admin_gid;
}

/* The value part of line "Key:\t..." in a status text, or NULL. */
static const char *status_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == ':')
			return p + klen + 1;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return NULL;
}

/* Parses exactly n unsigned decimal ids up to the end of the line. */
static int parse_ids(const char *p, unsigned long *out, int n)
{
	for (int i = 0; i < n; i++) {
		char *end;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		out[i] = strtoul(p, &end, 10);
		if (errno || out[i] > UINT32_MAX)
			return -EINVAL;
		p = end;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	return (*p == '\n' || *p == '\0') ? 0 : -EINVAL;
}

int auth_parse_status(const char *text, struct spt_proc_ids *ids)
{
	unsigned long v[4];
	const char *p;

	p = status_field(text, "Tgid");
	if (!p || parse_ids(p, v, 1) || v[0] == 0 || v[0] > INT32_MAX)
		return -EINVAL;
	ids->tgid = (pid_t)v[0];
	p = status_field(text, "Uid");
	if (!p || parse_ids(p, v, 4))
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		ids->uid[i] = (uid_t)v[i];
	p = status_field(text, "Gid");
	if (!p || parse_ids(p, v, 4))
		return -EINVAL;
	for (int i = 0; i < 4; i++)
		ids->gid[i] = (gid_t)v[i];
	return 0;
}

int auth_status_has_group(const char *text, gid_t gid)
{
	const char *p = status_field(text, "Groups");

	if (!p)
		return -EINVAL;
	for (;;) {
		unsigned long v;
		char *end;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\n' || *p == '\0')
			return 0;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		errno = 0;
		v = strtoul(p, &end, 10);
		if (errno || v > UINT32_MAX)
			return -EINVAL;
		if ((gid_t)v == gid)
			return 1;
		p = end;
	}
}

/*
 * Reads /proc/PID/status into buf and, if owner is not NULL, the file's
 * owner (the kernel's task_dump_owner(): root when not dumpable). 0,
 * -ESRCH if no such process, -errno.
 */
static int read_status_at(const char *path, char *buf, size_t size, uid_t *owner)
{
	size_t used = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	if (owner) {
		struct stat st;

		if (fstat(fd, &st) < 0) {
			int err = -errno;

			close(fd);
			return err;
		}
		*owner = st.st_uid;
	}
	while (used + 1 < size && (n = read(fd, buf + used, size - 1 - used)) > 0)
		used += (size_t)n;
	if (n < 0 && used == 0) {
		int err = errno == ESRCH ? -ESRCH : -errno;

		close(fd);
		return err;
	}
	close(fd);
	buf[used] = '\0';
	return 0;
}

static int read_status(pid_t pid, char *buf, size_t size, uid_t *owner)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	return read_status_at(path, buf, size, owner);
}

int auth_status_is_zombie(const char *text)
{
	const char *p = strncmp(text, "State:", 6) ? strstr(text, "\nState:") : text - 1;

	if (!p)
		return -EINVAL;
	p += 7;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == 'Z' ? 1 : *p && *p != '\n' ? 0 : -EINVAL;
}

/*
 * The status of a thread of pid other than the leader that is not a
 * zombie, into buf and owner. 0, or -ESRCH when there is none.
 */
static int read_live_thread_status(pid_t pid, char *buf, size_t size, uid_t *owner)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int r = -ESRCH;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -ESRCH;
	while (r && (de = readdir(d))) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);

		if (*end || tid <= 0 || tid == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/status", (int)pid, tid);
		if (read_status_at(path, buf, size, owner) == 0 && auth_status_is_zombie(buf) == 0)
			r = 0;
	}
	closedir(d);
	return r;
}

bool auth_peer_is_admin(uid_t uid, gid_t gid, pid_t pid, const gid_t *groups, size_t ngroups)
{
	char buf[4096];

	if (uid == 0)
		return true;
	if (admin_gid == (gid_t)-1)
		return false;
	if (gid == admin_gid)
		return true;
	if (groups) {
		for (size_t i = 0; i < ngroups; i++)
			if (groups[i] == admin_gid)
				return true;
		return false;
	}
	/* No SO_PEERGROUPS: fall back to the peer's current groups. */
	if (pid <= 0 || read_status(pid, buf, sizeof(buf), NULL) < 0)
		return false;
	return auth_status_has_group(buf, admin_gid) == 1;
}

int auth_read_target(pid_t pid, struct spt_target_creds *tc, char *why, size_t whylen)
{
	char buf[4096];
	int r;

	if (pid <= 0) {
		snprintf(why, whylen, "pid %d is not a process id", (int)pid);
		return -ESRCH;
	}
	r = read_status(pid, buf, sizeof(buf), &tc->owner);
	if (r == -ESRCH) {
		snprintf(why, whylen, "no process %d", (int)pid);
		return -ESRCH;
	}
	if (r < 0) {
		snprintf(why, whylen, "cannot read /proc/%d/status: %s", (int)pid, strerror(-r));
		return r;
	}
	if (auth_status_is_zombie(buf) == 1 &&
	    read_live_thread_status(pid, buf, sizeof(buf), &tc->owner) < 0) {
		snprintf(why, whylen, "process %d has exited (a zombie not yet reaped)", (int)pid);
		return -ESRCH;
	}
	if (auth_parse_status(buf, &tc->ids) < 0) {
		snprintf(why, whylen, "cannot parse /proc/%d/status", (int)pid);
		return -EIO;
	}
	if (tc->ids.tgid != pid) {
		snprintf(why, whylen, "%d is a thread of process %d; watch the process", (int)pid,
			 (int)tc->ids.tgid);
		return -EINVAL;
	}
	return 0;
}

int auth_decide(const struct spt_peer *peer, pid_t pid, const struct spt_target_creds *tc,
		char *why, size_t whylen)
{
	const struct spt_proc_ids *ids = &tc->ids;

	if (peer->admin)
		return 0;
	for (int i = 0; i < 3; i++) {
		if (ids->uid[i] != peer->uid || ids->gid[i] != peer->gid) {
			snprintf(why, whylen,
				 "process %d runs with other credentials (uid %u/%u/%u gid "
				 "%u/%u/%u); only root or group %s may watch it",
				 (int)pid, ids->uid[0], ids->uid[1], ids->uid[2], ids->gid[0],
				 ids->gid[1], ids->gid[2], SPT_ADMIN_GROUP);
			return -EPERM;
		}
	}
	if (tc->owner != ids->uid[1]) {
		snprintf(why, whylen,
			 "process %d is not dumpable (setuid or PR_SET_DUMPABLE 0); only "
			 "root or group %s may watch it",
			 (int)pid, SPT_ADMIN_GROUP);
		return -EPERM;
	}
	return 0;
}

int auth_check_target(const struct spt_peer *peer, pid_t pid, char *why, size_t whylen)
{
	struct spt_target_creds tc;
	int r = auth_read_target(pid, &tc, why, whylen);

	return r < 0 ? r : auth_decide(peer, pid, &tc, why, whylen);
}
