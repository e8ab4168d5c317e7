// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests: per-uid charges (user.h): a uid's own maximum, the fair
 * share of the pool among uids, admins' exemption, forced charges and
 * moves, and that releasing gives everything back.
 */
#include <errno.h>
#include <stdint.h>

#include "test-common.h"
#include "user.h"

static void setup(uint64_t pool_mem, uint64_t uid_mem)
{
	uint64_t pool[SPT_SLOT_N] = {pool_mem, 100, UINT64_MAX, UINT64_MAX};
	uint64_t per_uid[SPT_SLOT_N] = {uid_mem, UINT64_MAX, 4, 8};

	spt_users_init(pool, per_uid);
}

static void test_own_maximum(void)
{
	struct spt_user *a = spt_user_get(1000);
	struct spt_charge c[5] = {{0}};

	setup(UINT64_MAX, 1000);
	for (int i = 0; i < 4; i++)
		EXPECT(spt_charge_set(&c[i], a, SPT_SLOT_CONNECTIONS, 1, SPT_CHARGE_CHECKED) == 0);
	CHECK(spt_charge_set(&c[4], a, SPT_SLOT_CONNECTIONS, 1, SPT_CHARGE_CHECKED) == -EDQUOT,
	      "the fifth connection of a uid allowed four is refused");
	CHECK(c[4].user == NULL && a->used[SPT_SLOT_CONNECTIONS] == 4, "a refusal charges nothing");
	CHECK(spt_charge_set(&c[4], a, SPT_SLOT_CONNECTIONS, 1, SPT_CHARGE_EXEMPT) == 0,
	      "an admin's is not");
	for (int i = 0; i < 5; i++)
		spt_charge_release(&c[i]);
	EXPECT(a->used[SPT_SLOT_CONNECTIONS] == 0);
	EXPECT(spt_charge_set(&c[0], a, SPT_SLOT_MEMORY, 1000, SPT_CHARGE_CHECKED) == 0);
	EXPECT(spt_charge_set(&c[0], a, SPT_SLOT_MEMORY, 1001, SPT_CHARGE_CHECKED) == -EDQUOT);
	CHECK(spt_charge_set(&c[0], a, SPT_SLOT_MEMORY, 10, SPT_CHARGE_CHECKED) == 0 &&
		  a->used[SPT_SLOT_MEMORY] == 10,
	      "shrinking a charge always passes");
	spt_charge_release(&c[0]);
	spt_user_put(a);
	spt_users_check_empty();
}

static void test_fair_share(void)
{
	struct spt_user *a = spt_user_get(1), *b = spt_user_get(2), *root = spt_user_get(0);
	struct spt_charge ca = {0}, cb = {0}, cr = {0};

	setup(1000, UINT64_MAX);
	/* Alone: (0 + 1) * (0 + x) <= 1000, so all of it. */
	CHECK(spt_charge_fits(&ca, a, SPT_SLOT_MEMORY, 1000, SPT_CHARGE_CHECKED),
	      "a lone uid may take the whole pool at once");
	/* Holding 400: (1 + 1) * (400 + x) - 400 <= 600 -> x <= 100. */
	EXPECT(spt_charge_set(&ca, a, SPT_SLOT_MEMORY, 400, SPT_CHARGE_CHECKED) == 0);
	CHECK(spt_charge_set(&ca, a, SPT_SLOT_MEMORY, 501, SPT_CHARGE_CHECKED) == -EDQUOT,
	      "but not keep growing to the last byte (fair share with itself counted)");
	EXPECT(spt_charge_set(&ca, a, SPT_SLOT_MEMORY, 500, SPT_CHARGE_CHECKED) == 0);
	/* b: users 1 -> (1 + 1) * (0 + x) <= 500 -> x <= 250. */
	CHECK(spt_charge_set(&cb, b, SPT_SLOT_MEMORY, 251, SPT_CHARGE_CHECKED) == -EDQUOT,
	      "a second uid gets at most half of what is left");
	EXPECT(spt_charge_set(&cb, b, SPT_SLOT_MEMORY, 250, SPT_CHARGE_CHECKED) == 0);
	CHECK(spt_charge_set(&cr, root, SPT_SLOT_MEMORY, 250, SPT_CHARGE_EXEMPT) == 0,
	      "an admin takes the rest");
	CHECK(spt_charge_set(&cr, root, SPT_SLOT_MEMORY, 251, SPT_CHARGE_EXEMPT) == -EDQUOT,
	      "but not more than the pool has");
	EXPECT(spt_pool_used(SPT_SLOT_MEMORY) == 1000);
	/* Moving keeps the total and may exceed the target's quota. */
	spt_charge_move(&cb, a);
	CHECK(cb.user == a && a->used[SPT_SLOT_MEMORY] == 750 && b->used[SPT_SLOT_MEMORY] == 0,
	      "a moved charge belongs to its new uid whole");
	EXPECT(spt_pool_used(SPT_SLOT_MEMORY) == 1000);
	spt_charge_release(&ca);
	spt_charge_release(&cb);
	spt_charge_release(&cr);
	EXPECT(spt_pool_used(SPT_SLOT_MEMORY) == 0);
	spt_user_put(a);
	spt_user_put(b);
	spt_user_put(root);
	spt_users_check_empty();
}

static void test_many_uids(void)
{
	struct spt_charge c[1000] = {{0}};
	struct spt_user *u[1000];
	int refused = 0;

	/* 1000 uids with one connection's worth each fit a pool of 1000x that with room. */
	setup(4000ull * 160 * 1024, UINT64_MAX);
	for (int i = 0; i < 1000; i++) {
		u[i] = spt_user_get(10000 + i);
		refused += spt_charge_set(&c[i], u[i], SPT_SLOT_MEMORY, 160 * 1024,
					  SPT_CHARGE_CHECKED) != 0;
	}
	CHECK(refused == 0, "1000 uids each get a connection's charge (%d refused)", refused);
	for (int i = 0; i < 1000; i++) {
		spt_charge_release(&c[i]);
		spt_user_put(u[i]);
	}
	spt_users_check_empty();
}

int main(void)
{
	test_own_maximum();
	test_fair_share();
	test_many_uids();
	return spt_test_done();
}
