// SPDX-License-Identifier: GPL-2.0-or-later
/* Kernel table + maps -> state: agreement check and sparse output. */
#include <errno.h>
#include <string.h>

#include "kernel-state.h"
#include "test-common.h"

#define START 0x10000ull
#define N 8

static void table(struct shadow_pte *t, const unsigned long *flags)
{
	for (int i = 0; i < N; i++) {
		t[i].vaddr = START + i * 4096ull;
		t[i].state_flags = flags[i];
		t[i].pfn = (flags[i] & SPTE_PTE_MAPPED) ? 500 + i : 0;
	}
}

int main(void)
{
	/* maps: anon [0x10000,0x13000), file [0x14000,0x16000) */
	struct spt_vma anon = { .start = 0x10000, .end = 0x13000, .prot = 3,
				.kind = SPT_VMA_ANON, .name = "" };
	struct spt_vma file = { .start = 0x14000, .end = 0x16000, .prot = 1,
				.kind = SPT_VMA_FILE, .name = "/bin/x" };
	const unsigned long ok_flags[N] = { 7, 3, 3, 0, 5, 1, 0, 0 };
	const unsigned long racy_flags[N] = { 7, 3, 0, 0, 5, 1, 0, 0 };
	const unsigned long anon_file[N] = { 7, 3, 3, 0, 7, 1, 0, 0 };
	struct shadow_pte t[N];
	struct spt_state vmas, out;
	struct spt_page p;

	spt_state_init(&vmas);
	spt_state_init(&out);
	spt_state_append_vma(&vmas, &anon);
	spt_state_append_vma(&vmas, &file);

	table(t, ok_flags);
	CHECK(spt_kernel_state_build(t, N, START, &vmas, &out) == 0, "consistent table builds");
	CHECK(out.nvmas == 2 && spt_state_npages(&out) == 2, "two vmas, two mapped pages (sparse)");
	CHECK(spt_state_get_page(&out, 0x10000, &p) && p.pfn == 500 && p.flags == 7,
	      "anon mapped page with pfn");
	CHECK(spt_state_get_page(&out, 0x14000, &p) && p.flags == 5,
	      "file mapped page: allocated|mapped, not anonymous");
	CHECK(spt_state_flags_at(&out, 0x11000) == 3 && spt_state_flags_at(&out, 0x13000) == 0,
	      "unmapped pages take their vma's flags");

	spt_state_clear(&out);
	table(t, racy_flags);
	CHECK(spt_kernel_state_build(t, N, START, &vmas, &out) == -EAGAIN,
	      "table and maps disagreeing on allocation asks for a re-read");
	spt_state_clear(&out);
	table(t, anon_file);
	CHECK(spt_kernel_state_build(t, N, START, &vmas, &out) == -EAGAIN,
	      "disagreeing on anonymity asks for a re-read");
	spt_state_clear(&out);
	table(t, ok_flags);
	t[3].vaddr = 0;
	CHECK(spt_kernel_state_build(t, N, START, &vmas, &out) == -EINVAL,
	      "an entry with the wrong vaddr is refused");
	spt_state_free(&out);
	spt_state_free(&vmas);
	return spt_test_done();
}
