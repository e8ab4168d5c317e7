// SPDX-License-Identifier: GPL-2.0-or-later
/* Page-state model: append validation, lookups, diff + apply round trips. */
#include <errno.h>
#include <stdio.h>
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
	CHECK(spt_state_copy(&copy, old) == 0 && spt_state_equal(&copy, old), "%s: copy", what);
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
	CHECK(d.nruns == 1 && d.runs[0].npages == 2 && d.runs[0].stride == 1 && !d.nvmas_added &&
		      !d.nvmas_removed,
	      "two faults of contiguous frames, one run of two pages");
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
	CHECK(d.nvmas_removed == 1 && d.nvmas_added == 2 && d.nruns == 1 && d.runs[0].flags == 0,
	      "split: 1 removed, 2 added, 1 page gone");
	check_round_trip("split", &a, &b);

	/* COW: same vaddr, new pfn. Exec: everything replaced. */
	spt_state_clear(&b);
	add_vma(&b, 0x10000, 0x20000, SPT_VMA_ANON, "");
	add_page(&b, 0x10000, 7, 999);
	add_page(&b, 0x14000, 7, 104);
	spt_state_diff(&a, &b, &d);
	CHECK(d.nruns == 1 && d.runs[0].npages == 1 && d.runs[0].pfn == 999, "cow: one page, new pfn");
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
	struct spt_run pg[2] = { { .vaddr = 0x2000, .npages = 1, .flags = 1 },
				 { .vaddr = 0x1000, .npages = 1, .flags = 1 } };
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
	d.runs = pg, d.nruns = 2;
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "unsorted delta runs refused");
	pg[0].vaddr = 0x1000, pg[1].vaddr = 0x1000;
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "overlapping delta runs refused");
	pg[0].npages = 0, d.nruns = 1;
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "empty delta run refused");
	pg[0] = (struct spt_run){ .vaddr = 0x1000, .npages = 2, .flags = 1, .stride = 2 };
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "stride 2 refused");
	pg[0] = (struct spt_run){ .vaddr = SPT_USER_ADDR_MAX - PG, .npages = 2, .flags = 1 };
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "run beyond the user address space refused");
	pg[0] = (struct spt_run){ .vaddr = 0x1000, .npages = 3, .flags = 1, .stride = 1,
				  .pfn = UINT64_MAX - 1 };
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "run whose frames wrap refused");
	CHECK(spt_state_check(&st) && st.nvmas == 1 && spt_state_nruns(&st) == 0,
	      "nothing applied");
	spt_state_free(&st);
}

/*
 * Issue 10, defect 3: a delta removing one existing and one nonexistent
 * VMA compacted the array before failing, leaving a duplicated name that
 * spt_state_free then freed twice (ASan: double free).
 */
static void test_remove_missing_vma_no_double_free(void)
{
	struct spt_range rm[2] = { { 0x10000, 0x20000 }, { 0x50000, 0x60000 } };
	struct spt_state st;
	struct spt_delta d;

	spt_state_init(&st);
	add_vma(&st, 0x10000, 0x20000, SPT_VMA_ANON, "first");
	add_vma(&st, 0x30000, 0x40000, SPT_VMA_ANON, "second");
	add_vma(&st, 0x40000, 0x48000, SPT_VMA_FILE, "/third");
	spt_delta_init(&d);
	d.vmas_removed = rm, d.nvmas_removed = 2;
	CHECK(spt_state_apply(&st, &d) == -EINVAL, "one existing, one missing removal refused");
	CHECK(st.nvmas == 3 && !strcmp(st.vmas[0].name, "first") &&
		      !strcmp(st.vmas[1].name, "second") && !strcmp(st.vmas[2].name, "/third"),
	      "the VMAs are untouched");
	rm[1] = rm[0];
	CHECK(spt_state_apply(&st, &d) == -EINVAL && st.nvmas == 3,
	      "the same removal twice refused");
	rm[1] = (struct spt_range){ 0x30000, 0x38000 };
	CHECK(spt_state_apply(&st, &d) == -EINVAL && st.nvmas == 3,
	      "a removal with the wrong end refused");
	rm[1] = (struct spt_range){ 0x40000, 0x48000 };
	CHECK(spt_state_apply(&st, &d) == 0 && st.nvmas == 1 && !strcmp(st.vmas[0].name, "second"),
	      "two existing removals applied");
	CHECK(spt_state_check(&st), "state consistent");
	spt_state_free(&st); /* the double free happened here */
}

static void add_run(struct spt_state *st, uint64_t va, uint64_t n, uint32_t flags, uint64_t pfn,
		    uint8_t stride)
{
	struct spt_run r = { .vaddr = va, .npages = n, .flags = flags, .pfn = pfn,
			     .stride = stride };

	if (spt_state_append_run(st, &r))
		abort();
}

/* The run list st holds, as "vaddr:npages:pfn:stride" words. */
static const char *runs_str(const struct spt_state *st)
{
	static char buf[512];
	struct spt_run_iter it;
	struct spt_run r;
	size_t n = 0;

	buf[0] = 0;
	spt_run_iter_all(&it, st);
	while (spt_run_iter_next(&it, &r) && n < sizeof(buf) - 64)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%llx:%llu:%llu:%u", n ? " " : "",
				      (unsigned long long)r.vaddr / PG,
				      (unsigned long long)r.npages, (unsigned long long)r.pfn,
				      r.stride);
	return buf;
}

static void test_runs_canonical(void)
{
	struct spt_state st, b;
	struct spt_page p;
	struct spt_run r;

	spt_state_init(&st);
	spt_state_init(&b);
	/* Greedy: 5,5,6 is [5,5] then [6], never [5] then [5,6]. */
	add_page(&st, 0x1000, 7, 5);
	add_page(&st, 0x2000, 7, 5);
	add_page(&st, 0x3000, 7, 6);
	CHECK(!strcmp(runs_str(&st), "1:2:5:0 3:1:6:0"), "5,5,6 -> %s", runs_str(&st));
	/* A run appended whole merges the same way as its pages would. */
	add_run(&b, 0x1000, 1, 7, 5, 0);
	add_run(&b, 0x2000, 2, 7, 5, 1);
	CHECK(spt_state_equal(&st, &b), "page by page == run by run (%s)", runs_str(&b));
	spt_state_clear(&st);
	add_page(&st, 0x1000, 7, 5);
	add_page(&st, 0x2000, 7, 6);
	add_page(&st, 0x3000, 7, 7);
	add_page(&st, 0x4000, 7, 7);
	add_page(&st, 0x5000, 5, 8);
	CHECK(!strcmp(runs_str(&st), "1:3:5:1 4:1:7:0 5:1:8:0"), "5,6,7,7 | flags -> %s",
	      runs_str(&st));
	CHECK(spt_state_npages(&st) == 5 && spt_state_nruns(&st) == 3, "counts");
	CHECK(spt_state_get_page(&st, 0x2800, &p) && p.vaddr == 0x2000 && p.pfn == 6 && p.flags == 7,
	      "page inside a stride-1 run");
	CHECK(!spt_state_get_page(&st, 0x6000, &p) && !spt_state_get_page(&st, 0, &p),
	      "no entry outside runs");
	CHECK(spt_state_get_run(&st, 0x3000, &r) && r.vaddr == 0x1000 && r.npages == 3,
	      "the run holding a page");
	/* Updating the middle page of [5,6,7] splits it; restoring merges it again. */
	spt_state_clear(&b);
	add_page(&b, 0x2000, 7, 99);
	{
		struct spt_delta d;
		struct spt_state orig;

		spt_delta_init(&d);
		spt_state_init(&orig);
		spt_state_copy(&orig, &st);
		CHECK(spt_state_update_pages(&st, 0x2000, 0x3000, &b, 1, &d) == 0 &&
			      !strcmp(runs_str(&st), "1:1:5:0 2:1:99:0 3:2:7:0 5:1:8:0"),
		      "update splits, 7 and 7 join: %s", runs_str(&st));
		CHECK(spt_state_check(&st), "still canonical");
		CHECK(d.nruns == 1 && d.runs[0].vaddr == 0x2000 && d.runs[0].npages == 1 &&
			      d.runs[0].pfn == 99 && d.runs[0].cause == 1,
		      "the change, with its cause");
		/* Back to 6: [5] takes 6 and then the first 7 of [7,7] (the cascade). */
		spt_state_clear(&b);
		add_page(&b, 0x2000, 7, 6);
		CHECK(spt_state_update_pages(&st, 0x2000, 0x3000, &b, 2, &d) == -EINVAL,
		      "a range below the delta's last change refused");
		spt_delta_clear(&d);
		CHECK(spt_state_update_pages(&st, 0x2000, 0x3000, &b, 2, &d) == 0 &&
			      spt_state_equal(&st, &orig),
		      "restored: %s", runs_str(&st));
		spt_delta_free(&d);
		spt_state_free(&orig);
	}
	spt_state_free(&st);
	spt_state_free(&b);
}

static void test_relabel(void)
{
	struct spt_delta d;
	struct spt_run r = {.vaddr = 0x10000, .npages = 8, .pfn = 100, .flags = 7, .stride = 1,
			    .cause = 5};
	struct spt_run gone = {.vaddr = 0x20000, .npages = 4, .flags = 0, .cause = 5};

	spt_delta_init(&d);
	CHECK(!spt_delta_add_run(&d, &r) && !spt_delta_add_run(&d, &gone), "two runs");
	/* The middle of a stride-1 run: three runs, frames following on. */
	CHECK(!spt_delta_relabel_present(&d, 0x12000, 0x14000, 9) && d.nruns == 4, "split: %zu",
	      d.nruns);
	CHECK(d.runs[0].npages == 2 && d.runs[0].cause == 5 && d.runs[1].vaddr == 0x12000 &&
		      d.runs[1].npages == 2 && d.runs[1].pfn == 102 && d.runs[1].cause == 9 &&
		      d.runs[2].vaddr == 0x14000 && d.runs[2].npages == 4 && d.runs[2].pfn == 104 &&
		      d.runs[2].cause == 5,
	      "the pieces");
	/* Removals keep their cause: a fault removes nothing. */
	CHECK(!spt_delta_relabel_present(&d, 0, 0x30000, 9) && d.nruns == 4 &&
		      d.runs[3].cause == 5 && d.runs[0].cause == 9 && d.runs[2].cause == 9,
	      "present pages only");
	CHECK(spt_delta_npages(&d) == 12, "no page lost or made: %llu",
	      (unsigned long long)spt_delta_npages(&d));
	spt_delta_free(&d);
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
	test_remove_missing_vma_no_double_free();
	test_runs_canonical();
	test_relabel();
	test_names();
	return spt_test_done();
}
