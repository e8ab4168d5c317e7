// SPDX-License-Identifier: GPL-2.0-or-later
/* Kernel table + maps VMAs -> page state, checking the two agree. */
#include <errno.h>

#include "kernel-state.h"
#include "shadowpt-limits.h"

int spt_kernel_state_build(const struct shadow_pte *t, size_t n, uint64_t start,
			   const struct spt_state *vmas, struct spt_state *out)
{
	size_t v = 0;
	int ret;

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
	for (size_t i = 0; i < vmas->nvmas; i++) {
		ret = spt_state_append_vma(out, &vmas->vmas[i]);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < n; i++) {
		struct spt_page p = {
			.vaddr = t[i].vaddr,
			.pfn = t[i].pfn,
			.flags = (uint32_t)t[i].state_flags & SPT_F_SPEC_MASK,
		};

		if (!(p.flags & SPT_F_MAPPED))
			continue;
		ret = spt_state_append_page(out, &p);
		if (ret)
			return ret;
	}
	return 0;
}
