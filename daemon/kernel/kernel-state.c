// SPDX-License-Identifier: GPL-2.0-or-later
/* Kernel table + maps VMAs -> page state, checking the two agree. */
#include <errno.h>

#include "kernel-state.h"
#include "shadowpt-limits.h"

/* Both sources must say the same about which pages are allocated/anonymous. */
static int check_vmas(const struct shadow_pte *t, size_t n, uint64_t start,
		      const struct spt_state *vmas)
{
	size_t v = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t vaddr = start + i * SPT_PAGE_SIZE;
		uint32_t kflags = (uint32_t)t[i].state_flags & SPT_F_SPEC_MASK;
		uint32_t implied = 0;

		if (t[i].vaddr != vaddr)
			return -EINVAL;
		while (v < vmas->nvmas && vmas->vmas[v].end <= vaddr)
			v++;
		if (v < vmas->nvmas && vmas->vmas[v].start <= vaddr)
			implied = spt_vma_flags(&vmas->vmas[v]);
		if ((kflags & (SPT_F_ALLOCATED | SPT_F_ANONYMOUS)) != implied)
			return -EAGAIN;
	}
	return 0;
}

int spt_kernel_state_pages(const struct shadow_pte *t, size_t n, uint64_t start,
			   const struct spt_state *vmas, struct spt_state *out)
{
	int ret = check_vmas(t, n, start, vmas);

	for (size_t i = 0; i < n && !ret; i++) {
		struct spt_page p = {
			.vaddr = t[i].vaddr,
			.pfn = t[i].pfn,
			.flags = (uint32_t)t[i].state_flags & SPT_F_SPEC_MASK,
		};

		if (p.flags & SPT_F_MAPPED)
			ret = spt_state_append_page(out, &p);
	}
	return ret;
}

int spt_kernel_state_build(const struct shadow_pte *t, size_t n, uint64_t start,
			   const struct spt_state *vmas, struct spt_state *out)
{
	int ret = 0;

	for (size_t i = 0; i < vmas->nvmas && !ret; i++)
		ret = spt_state_append_vma(out, &vmas->vmas[i]);
	return ret ? ret : spt_kernel_state_pages(t, n, start, vmas, out);
}
