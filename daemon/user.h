/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-uid accounting of what viewers make the daemon hold, after
 * dbus-broker's util/user.c. Every resource a viewer causes is charged to
 * its uid (struct spt_user) in a slot, and taken from the daemon-wide pool
 * of that slot at the same time:
 *
 *   - a uid holds at most its own maximum of a slot (SPT_MEMORY_PER_UID,
 *     SPT_MAX_CONNECTIONS_PER_UID, ...);
 *   - in the pool, uids share what is left fairly: a charge passes only if
 *
 *         (users + 1) * (share + amount) - share <= remaining
 *
 *     where share is what the uid holds of the slot already and users the
 *     number of uids holding some (dbus-broker's A(users) = users + 1), so
 *     no uid can take the last of anything while others need it.
 *
 * Admins (root, group shadowpt) are exempt from both rules for their own
 * charges: they may use whatever the pool has left (exempt = true). A
 * forced charge always passes; it is for what cannot be refused any more
 * (a reply already decided on, a charge moving to another uid).
 *
 * Everything here runs on the event loop; nothing is thread-safe.
 */
#ifndef SHADOWPTD_USER_H
#define SHADOWPTD_USER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

enum spt_slot {
	SPT_SLOT_MEMORY,      /* bytes */
	SPT_SLOT_FDS,	      /* file descriptors */
	SPT_SLOT_CONNECTIONS, /* viewer connections */
	SPT_SLOT_WATCHES,     /* subscriptions */
	SPT_SLOT_N,
};

struct spt_user {
	LIST_ENTRY(spt_user) entry;
	uid_t uid;
	unsigned refs;
	uint64_t used[SPT_SLOT_N];
	bool warned[SPT_SLOT_N]; /* a refused charge was logged (once per uid and slot) */
};

/* One holder's charge of one slot of one user; starts zeroed. */
struct spt_charge {
	struct spt_user *user;
	enum spt_slot slot;
	uint64_t amount;
};

enum spt_charge_mode {
	SPT_CHARGE_CHECKED, /* the uid's maximum and its fair share of the pool */
	SPT_CHARGE_EXEMPT,  /* an admin: what the pool has left */
	SPT_CHARGE_FORCED,  /* always passes */
};

/* Sets the pool size of each slot (UINT64_MAX: unbounded) and each uid's maximum. */
void spt_users_init(const uint64_t pool[SPT_SLOT_N], const uint64_t per_uid[SPT_SLOT_N]);
/* The user of uid (created on first use, referenced). NULL on ENOMEM. */
struct spt_user *spt_user_get(uid_t uid);
void spt_user_put(struct spt_user *u);
/* Looks a uid up without creating it. */
struct spt_user *spt_user_find(uid_t uid);

/*
 * Sets c to amount units of slot on u (c must be unused, or already on u
 * and slot). Shrinking always passes; growing is checked as mode says.
 * 0, or -EDQUOT when the uid's maximum or its share would be exceeded
 * (nothing changes then; the first refusal per uid and slot is logged).
 */
int spt_charge_set(struct spt_charge *c, struct spt_user *u, enum spt_slot slot, uint64_t amount,
		   enum spt_charge_mode mode);
/* Would growing c by more units pass? (Nothing changes.) */
bool spt_charge_fits(const struct spt_charge *c, struct spt_user *u, enum spt_slot slot,
		     uint64_t more, enum spt_charge_mode mode);
/* Releases everything c holds; c is unused afterwards. */
void spt_charge_release(struct spt_charge *c);
/* Moves c, whole, to another user (forced: the memory exists already). */
void spt_charge_move(struct spt_charge *c, struct spt_user *to);

/* What the pool of slot has left and its size, for status and tests. */
uint64_t spt_pool_used(enum spt_slot slot);
uint64_t spt_pool_size(enum spt_slot slot);
/* The uid's maximum of slot. */
uint64_t spt_user_max(enum spt_slot slot);
const char *spt_slot_name(enum spt_slot slot);
/* Asserts that nothing is charged any more (at exit). */
void spt_users_check_empty(void);

#endif
