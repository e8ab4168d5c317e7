/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Authorization (DESIGN.md section 4). Who is asking is fixed at accept
 * (SO_PEERCRED, SO_PEERGROUPS); what they may see is checked per request
 * against the target's credentials in /proc/PID/status.
 *
 * A peer may watch or peek target PID iff one of:
 *  1. the peer's uid is 0 (root);
 *  2. the peer is in the admin group "shadowpt" (primary or supplementary);
 *  3. the kernel would let the peer read the target's maps itself without
 *     CAP_SYS_PTRACE (ptrace_may_access(PTRACE_MODE_READ_FSCREDS)):
 *     - peer uid == target real, effective AND saved uid (status "Uid:"),
 *     - peer gid == target real, effective AND saved gid (status "Gid:"),
 *     - and the target is dumpable: the kernel makes the files in
 *       /proc/PID owned by root when the mm is not SUID_DUMP_USER (setuid,
 *       prctl PR_SET_DUMPABLE 0, ...), so we require the owner of
 *       /proc/PID/status (fstat of the fd we read it from) to be the
 *       target's effective uid. Not the /proc/PID directory: measured on
 *       6.18, it kept the task's uid after PR_SET_DUMPABLE 0.
 * Raw pfns are shown only to cases 1 and 2 (the kernel's pagemap rule);
 * everyone else gets tokens.
 */
#ifndef SHADOWPTD_AUTH_H
#define SHADOWPTD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define SPT_ADMIN_GROUP "shadowpt"

struct spt_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	bool admin; /* root or member of SPT_ADMIN_GROUP */
};

/* Credentials of a process, from /proc/PID/status. */
struct spt_proc_ids {
	pid_t tgid;
	uid_t uid[4]; /* real, effective, saved, fs */
	gid_t gid[4];
};

/* Looks up the admin group (SPT_ADMIN_GROUP) once, before dropping privileges. */
void auth_init(void);
/* Same with another group name (unit tests). */
void auth_init_group(const char *group);
/* The admin group's gid, or (gid_t)-1 if the group does not exist. */
gid_t auth_admin_gid(void);

/* Parses Tgid:, Uid: and Gid: of a /proc/PID/status text. 0 or -EINVAL. */
int auth_parse_status(const char *text, struct spt_proc_ids *ids);
/* 1 if the "Groups:" line of a status text lists gid, 0 if not, -EINVAL. */
int auth_status_has_group(const char *text, gid_t gid);
/* 1 if the "State:" line of a status text says zombie (Z), 0 if not, -EINVAL. */
int auth_status_is_zombie(const char *text);

/*
 * Decides whether a connecting peer is an admin. groups/ngroups are the
 * peer's supplementary groups from SO_PEERGROUPS, or NULL when unavailable,
 * in which case /proc/PEERPID/status "Groups:" is read.
 */
bool auth_peer_is_admin(uid_t uid, gid_t gid, pid_t pid, const gid_t *groups, size_t ngroups);

/* What authorization needs to know about a target, read once. */
struct spt_target_creds {
	struct spt_proc_ids ids;
	uid_t owner; /* of /proc/PID/status: root when not dumpable */
};

/*
 * Reads pid's credentials: 0, -ESRCH, -EINVAL (a thread), -errno; why set.
 * A leader that exited before its threads has no mm, so its /proc files
 * belong to root as a non-dumpable process's would: then a live thread's
 * are read, the one the procfs backend reads the mm through. A zombie
 * whose threads are all gone is -ESRCH: there is nothing left to watch.
 */
int auth_read_target(pid_t pid, struct spt_target_creds *tc, char *why, size_t whylen);
/* The decision for one peer on credentials read before: 0 or -EPERM. */
int auth_decide(const struct spt_peer *peer, pid_t pid, const struct spt_target_creds *tc,
		char *why, size_t whylen);

/*
 * May peer watch/peek pid? Returns 0; -ESRCH when there is no such process
 * (pid <= 0 included); -EINVAL when pid is a thread, not a process;
 * -EPERM when not allowed. why gets a short reason for the viewer.
 */
int auth_check_target(const struct spt_peer *peer, pid_t pid, char *why, size_t whylen);

#endif
