// SPDX-License-Identifier: GPL-2.0-or-later
/* Per-uid charges against per-uid maxima and a fairly shared pool; see user.h. */
#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "spt-assert.h"
#include "user.h"

static LIST_HEAD(, spt_user) all_users = LIST_HEAD_INITIALIZER(all_users);
static struct {
	uint64_t size, used;
	unsigned holders; /* uids with used[slot] > 0 */
} pool[SPT_SLOT_N];
static uint64_t per_uid_max[SPT_SLOT_N];

static const char *const slot_names[SPT_SLOT_N] = {
    [SPT_SLOT_MEMORY] = "memory",
    [SPT_SLOT_FDS] = "file descriptors",
    [SPT_SLOT_CONNECTIONS] = "connections",
    [SPT_SLOT_WATCHES] = "watches",
};

const char *spt_slot_name(enum spt_slot slot)
{
	return slot < SPT_SLOT_N ? slot_names[slot] : "?";
}

void spt_users_init(const uint64_t pool_size[SPT_SLOT_N], const uint64_t per_uid[SPT_SLOT_N])
{
	for (int i = 0; i < SPT_SLOT_N; i++) {
		pool[i].size = pool_size[i];
		per_uid_max[i] = per_uid[i];
	}
}

struct spt_user *spt_user_find(uid_t uid)
{
	struct spt_user *u;

	LIST_FOREACH(u, &all_users, entry)
		if (u->uid == uid)
			return u;
	return NULL;
}

struct spt_user *spt_user_get(uid_t uid)
{
	struct spt_user *u = spt_user_find(uid);

	if (u) {
		u->refs++;
		return u;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	u->uid = uid;
	u->refs = 1;
	LIST_INSERT_HEAD(&all_users, u, entry);
	return u;
}

void spt_user_put(struct spt_user *u)
{
	if (!u)
		return;
	spt_assert(u->refs > 0);
	if (--u->refs)
		return;
	for (int i = 0; i < SPT_SLOT_N; i++)
		spt_assert(u->used[i] == 0);
	LIST_REMOVE(u, entry);
	free(u);
}

/* dbus-broker's check: (users + 1) * (share + amount) - share <= remaining. */
static bool fair_share_allows(uint64_t remaining, unsigned users, uint64_t share, uint64_t amount)
{
	uint64_t limit;

	return !__builtin_add_overflow(share, amount, &limit) &&
	       !__builtin_mul_overflow(limit, (uint64_t)users + 1, &limit) && limit - share <= remaining;
}

static bool allows(const struct spt_user *u, enum spt_slot slot, uint64_t more,
		   enum spt_charge_mode mode)
{
	uint64_t remaining = pool[slot].size - pool[slot].used;
	unsigned users = pool[slot].holders;

	if (mode == SPT_CHARGE_FORCED || !more)
		return true;
	if (more > remaining)
		return false;
	if (mode == SPT_CHARGE_EXEMPT)
		return true;
	if (more > per_uid_max[slot] || u->used[slot] > per_uid_max[slot] - more)
		return false;
	/* An unbounded pool needs no sharing. */
	if (pool[slot].size == UINT64_MAX)
		return true;
	/* users counts this uid already if it holds some (as dbus-broker's n_usages does). */
	return fair_share_allows(remaining, users, u->used[slot], more);
}

static void account(struct spt_user *u, enum spt_slot slot, uint64_t from, uint64_t to)
{
	uint64_t before = u->used[slot];

	spt_assert(before >= from && pool[slot].used >= from);
	u->used[slot] = before - from + to;
	pool[slot].used = pool[slot].used - from + to;
	if (!before && u->used[slot])
		pool[slot].holders++;
	else if (before && !u->used[slot])
		pool[slot].holders--;
}

bool spt_charge_fits(const struct spt_charge *c, struct spt_user *u, enum spt_slot slot,
		     uint64_t more, enum spt_charge_mode mode)
{
	spt_assert(!c->user || (c->user == u && c->slot == slot));
	return allows(u, slot, more, mode);
}

int spt_charge_set(struct spt_charge *c, struct spt_user *u, enum spt_slot slot, uint64_t amount,
		   enum spt_charge_mode mode)
{
	spt_assert(u && slot < SPT_SLOT_N);
	spt_assert(!c->user || (c->user == u && c->slot == slot));
	if (amount > c->amount && !allows(u, slot, amount - c->amount, mode)) {
		if (!u->warned[slot]) {
			u->warned[slot] = true;
			log_notice("uid %u reached its %s quota (%llu held, %llu more refused; "
				   "daemon-wide %llu of %llu held by %u uids)",
				   (unsigned)u->uid, slot_names[slot],
				   (unsigned long long)u->used[slot],
				   (unsigned long long)(amount - c->amount),
				   (unsigned long long)pool[slot].used,
				   (unsigned long long)pool[slot].size, pool[slot].holders);
		}
		return -EDQUOT;
	}
	if (!c->user) {
		if (!amount)
			return 0;
		u->refs++;
		c->user = u;
		c->slot = slot;
	}
	account(u, slot, c->amount, amount);
	c->amount = amount;
	if (!amount)
		spt_charge_release(c);
	return 0;
}

void spt_charge_release(struct spt_charge *c)
{
	struct spt_user *u = c->user;

	if (!u) {
		spt_assert(c->amount == 0);
		return;
	}
	account(u, c->slot, c->amount, 0);
	/* Once a uid is back under its quota, its next refusal is news again. */
	if (u->used[c->slot] < per_uid_max[c->slot] / 2)
		u->warned[c->slot] = false;
	*c = (struct spt_charge){0};
	spt_user_put(u);
}

void spt_charge_move(struct spt_charge *c, struct spt_user *to)
{
	enum spt_slot slot = c->slot;
	uint64_t amount = c->amount;

	if (!c->user || c->user == to)
		return;
	spt_charge_release(c);
	spt_charge_set(c, to, slot, amount, SPT_CHARGE_FORCED);
}

uint64_t spt_pool_used(enum spt_slot slot)
{
	return pool[slot].used;
}

uint64_t spt_pool_size(enum spt_slot slot)
{
	return pool[slot].size;
}

uint64_t spt_user_max(enum spt_slot slot)
{
	return per_uid_max[slot];
}

void spt_users_check_empty(void)
{
	for (int i = 0; i < SPT_SLOT_N; i++)
		spt_assert(pool[i].used == 0 && pool[i].holders == 0);
}
