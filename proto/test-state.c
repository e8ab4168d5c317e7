// SPDX-License-Identifier: GPL-2.0-or-later
/* Page-state model: append validation, lookups, diff + apply round trips. */
#include <errno.h>
#include <string.h>

#include "state.h"
#include "test-common.h"

#define PG 4096ull

static void add_vma(struct spt_state *st, uint64_t s, uint64_t e, enum spt_vma_kind k,
		    const char *name)
{
	struct spt_vma v = { .start = s, .end = e, .prot = 3, .kind = k, .name = (char *)name };

	if (spt_state_append_vma(st, &v))
		abort();
}

static void add_page(struct spt_state *st, uint64_t va, uint32_t flags, uint64_t pfn)
{
	struct spt_page p = { .vaddr = va, .flags = flags, .pfn = pfn };

	if (spt_state_append_page(st, &p))
		abort();
}

static void test_append_validation(void)
{
	struct spt_state st;
	struct spt_vma v = { .start = 0x1000, .end = 0x3000, .kind = SPT_VMA_ANON, .name = "" };
	struct spt_page p = { .vaddr = 0x2000, .flags = SPT_F_MAPPED };

	spt_state_init(&st);
	CHECK(spt_state_append_vma(&st, &v) == 0, "append vma");
	v.start = 0x2000, v.end = 0x4000;
	CHECK(spt_state_append_vma(&st, &v) == -EINVAL, "overlapping vma refused");
	v.start = 0x5001, v.end = 0x6000;
	CHECK(spt_state_append_vma(&st, &v) == -EINVAL, "unaligned vma refused");
	v.start = 0x6000, v.end = 0x6000;
	CHECK(spt_state_append_vma(&st, &v) == -EINVAL, "empty vma refused");
	v.start = 0x6000, v.end = 0x7000, v.kind = 9;
	CHECK(spt_state_append_vma(&st, &v) == -EINVAL, "unknown kind refused");
	CHECK(spt_state_append_page(&st, &p) == 0, "append page");
	CHECK(spt_state_append_page(&st, &p) == -EINVAL, "duplicate page refused");
	p.vaddr = 0x1000;
	CHECK(spt_state_append_page(&st, &p) == -EINVAL, "out-of-order page refused");
	p.vaddr = 0x3001;
	CHECK(spt_state_append_page(&st, &p) == -EINVAL, "unaligned page refused");
	p.vaddr = 0x4000, p.flags = 0;
	CHECK(spt_state_append_page(&st, &p) == -EINVAL, "flagless page refused");
	spt_state_free(&st);
}

static void test_lookup(void)
{
	struct spt_state st;

	spt_state_init(&st);
	add_vma(&st, 0x10000, 0x20000, SPT_VMA_ANON, "");
	add_vma(&st, 0x30000, 0x31000, SPT_VMA_FILE, "/lib/x.so");
	add_page(&st, 0x11000, SPT_F_ALLOCATED | SPT_F_ANONYMOUS | SPT_F_MAPPED, 77);
	CHECK(spt_state_flags_at(&st, 0x11000) == 7, "mapped anon page flags");
	CHECK(spt_state_flags_at(&st, 0x12000) == (SPT_F_ALLOCATED | SPT_F_ANONYMOUS),
	      "unmapped anon page implied by vma");
	CHECK(spt_state_flags_at(&st, 0x30000) == SPT_F_ALLOCATED, "file page not anonymous");
	CHECK(spt_state_flags_at(&st, 0x20000) == 0, "end is exclusive");
	CHECK(spt_state_flags_at(&st, 0x0) == 0, "below everything");
	CHECK(spt_state_find_vma(&st, 0x1ffff) == &st.vmas[0], "last byte inside vma");
	spt_state_free(&st);
}

/* Builds old and new, diffs, applies to a copy of old, expects new. */
static void check_round_trip(const char *what, struct spt_state *old, struct spt_state *new)
{
	struct spt_state copy;
	struct spt_delta d;
	int ret;

	spt_state_init(&copy);
	spt_delta_init(&d);
	for (size_t i = 0; i < old->nvmas; i++)
		spt_state_append_vma(&copy, &old->vmas[i]);
	for (size_t i = 0; i < old->npages; i++)
		spt_state_append_page(&copy, &old->pages[i]);
	ret = spt_state_diff(old, new, &d);
	CHECK(ret == 0, "%s: diff", what);
	ret = spt_state_apply(&copy, &d);
	CHECK(ret == 0 && spt_state_equal(&copy, new), "%s: old + diff == new", what);
	spt_delta_free(&d);
	spt_state_free(&copy);
}

static void test_diff(void)
{
	struct spt_state a, b;
	struct spt_delta d;

	spt_state_init(&a);
	spt_state_init(&b);
	spt_delta_init(&d);

	/* Identical states diff to nothing. */
	add_vma(&a, 0x10000, 0x20000, SPT_VMA_ANON, "");
	add_vma(&b, 0x10000, 0x20000, SPT_VMA_ANON, "");
	spt_state_diff(&a, &b, &d);
	CHECK(spt_delta_empty(&d), "equal states give an empty delta");

	/* Fault in pages. */
	add_page(&b, 0x10000, 7, 100);
	add_page(&b, 0x11000, 7, 101);
	spt_state_diff(&a, &b, &d);
	CHECK(d.npages == 2 && !d.nvmas_added && !d.nvmas_removed, "two faults, two page changes");
	check_round_trip("fault", &a, &b);

	/* Partial munmap splits a VMA and zaps one page. */
	spt_state_clear(&a);
	add_vma(&a, 0x10000, 0x20000, SPT_VMA_ANON, "");
	add_page(&a, 0x10000, 7, 100);
	add_page(&a, 0x14000, 7, 104);
	spt_state_clear(&b);
	add_vma(&b, 0x10000, 0x13000, SPT_VMA_ANON, "");
	add_vma(&b, 0x16000, 0x20000, SPT_VMA_ANON, "");
	add_page(&b, 0x10000, 7, 100);
	spt_state_diff(&a, &b, &d);
	CHECK(d.nvmas_removed == 1 && d.nvmas_added == 2 && d.npages == 1 && d.pages[0].flags == 0,
	      "split: 1 removed, 2 added, 1 page gone");
	check_round_trip("split", &a, &b);

	/* COW: same vaddr, new pfn. Exec: everything replaced. */
	spt_state_clear(&b);
	add_vma(&b, 0x10000, 0x20000, SPT_VMA_ANON, "");
	add_page(&b, 0x10000, 7, 999);
	add_page(&b, 0x14000, 7, 104);
	spt_state_diff(&a, &b, &d);
	CHECK(d.npages == 1 && d.pages[0].pfn == 999, "cow: one page, new pfn");
	check_round_trip("cow", &a, &b);
	spt_state_clear(&b);
	add_vma(&b, 0x400000, 0x401000, SPT_VMA_FILE, "/bin/true");
	add_vma(&b, 0x7ffff000, 0x80000000, SPT_VMA_ANON, "[stack]");
	add_page(&b, 0x400000, SPT_F_ALLOCATED | SPT_F_MAPPED | SPT_F_FILE, 5);
	check_round_trip("exec", &a, &b);
	/* Rename only (same range) is a remove + add. */
	spt_state_clear(&a);
	add_vma(&a, 0x400000, 0x401000, SPT_VMA_FILE, "/bin/false");
	spt_state_clear(&b);
	add_vma(&b, 0x400000, 0x401000, SPT_VMA_FILE, "/bin/true");
	spt_state_diff(&a, &b, &d);
	CHECK(d.nvmas_removed == 1 && d.nvmas_added == 1, "renamed vma replaced");
	check_round_trip("rename", &a, &b);
	/* To and from empty. */
	spt_state_clear(&a);
	check_round_trip("from empty", &a, &b);
	check_round_trip("to empty", &b, &a);

	spt_delta_free(&d);
	spt_state_free(&a);
	spt_state_free(&b);
}

static void test_apply_rejects(void)
{
	struct spt_state st;
	struct spt_range r = { 0x50000, 0x60000 };
	struct spt_vma v = { .start = 0x18000, .end = 0x19000, .kind = SPT_VMA_ANON, .name = "" };
	struct spt_page pg[2] = { { .vaddr = 0x2000, .flags = 1 }, { .vaddr = 0x1000, .flags = 1 } };
	struct spt_delta d;

	spt_state_init(&st);
	add_vma(&st, 0x10000, 0x20000, SPT_VMA_ANON, "");
	spt_delta_init(&d);
	d.vmas_removed = &r, d.nvmas_removed = 1;
	CHECK(spt_state_apply(&st, &d) == -EINVAL && st.nvmas == 1,
	      "removing a vma that does not exist fails, state intact");
	spt_delta_init(&d);
	d.vmas_added = &v, d.nvmas_added = 1;
	CHECK(spt_state_apply(&st, &d) == -EINVAL && st.nvmas == 1,
	      "adding an overlapping vma fails, state intact");
	spt_delta_init(&d);
	d.pages = pg, d.npages = 2;
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "unsorted delta pages refused");
	spt_state_free(&st);
}

/* Issue 10 defect 3: one existing and one missing VMA removed, then freed. */
static void test_apply_partial_removal(void)
{
	struct spt_state st;
	struct spt_range r[2] = { { 0x10000, 0x20000 }, { 0x50000, 0x60000 } };
	struct spt_delta d;

	spt_state_init(&st);
	add_vma(&st, 0x10000, 0x20000, SPT_VMA_ANON, "first");
	add_vma(&st, 0x30000, 0x40000, SPT_VMA_ANON, "second");
	add_vma(&st, 0x70000, 0x80000, SPT_VMA_ANON, "third");
	spt_delta_init(&d);
	d.vmas_removed = r, d.nvmas_removed = 2;
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "removing a missing vma fails");
	CHECK(st.nvmas == 2 && !strcmp(st.vmas[0].name, "second") &&
		      !strcmp(st.vmas[1].name, "third"),
	      "each remaining vma once, the removed one gone");
	spt_state_free(&st); /* no double free (ASan) */
}

static void test_names(void)
{
	CHECK(strcmp(spt_flag_name(SPT_F_MAPPED), "mapped") == 0, "flag name");
	CHECK(spt_flag_name(1u << 30) == NULL, "unknown flag has no name");
	CHECK(strcmp(spt_vma_kind_name(SPT_VMA_SHARED_ANON), "shared-anon") == 0, "kind name");
}

int main(void)
{
	test_append_validation();
	test_lookup();
	test_diff();
	test_apply_rejects();
	test_apply_partial_removal();
	test_names();
	return spt_test_done();
}
