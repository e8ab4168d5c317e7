/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Privilege drop (DESIGN.md section 4). Started as root, shadowptd becomes
 * its own user keeping exactly CAP_SYS_ADMIN (pfns in pagemap),
 * CAP_SYS_PTRACE (ptrace access to other users' maps/pagemap/mem) and
 * CAP_DAC_READ_SEARCH, with every other capability removed from the
 * bounding set and no_new_privs set.
 *
 * Deviation from DESIGN.md (which names only the first two): after
 * setuid, opening /proc/PID/pagemap of another uid failed with EACCES with
 * just SYS_ADMIN+SYS_PTRACE, because pagemap is mode 0400 (mem 0600) owned
 * by the target's uid and the DAC check comes before the ptrace check.
 * CAP_DAC_READ_SEARCH (read any file) is the narrowest capability that
 * passes it; it adds little to what CAP_SYS_ADMIN already grants.
 */
#ifndef SHADOWPTD_PRIVS_H
#define SHADOWPTD_PRIVS_H

#include <stdbool.h>
#include <sys/types.h>

#define SPT_DEFAULT_USER "shadowpt"

/*
 * Looks up user (before anything else needs it). Returns 0 with uid/gid,
 * -ENOENT if the user does not exist, -errno.
 */
int privs_lookup_user(const char *user, uid_t *uid, gid_t *gid);

/*
 * Drops privileges. As root: to user (must exist, else -ENOENT unless
 * keep_root, which stays uid 0 with only the two capabilities). Not root:
 * keeps running as is. Logs what it did; returns 0 or -errno (logged).
 */
int privs_drop(const char *user, bool keep_root);

/* Whether CAP_SYS_ADMIN is effective now (pagemap will show pfns). */
bool privs_have_sys_admin(void);

#endif
