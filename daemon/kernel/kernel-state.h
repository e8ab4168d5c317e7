/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Turning the kernel's dense table into the sparse page-state model. */
#ifndef SHADOWPTD_KERNEL_STATE_H
#define SHADOWPTD_KERNEL_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "linux/shadowpt.h"
#include "state.h"

/*
 * Builds the state of the window [start, start + n pages) from the
 * kernel table t (the truth for the three spec flags and the pfns) and
 * vmas, the window's VMAs from /proc/PID/maps (their names, protections
 * and kinds). out must be empty. Returns 0; -EAGAIN when the two sources
 * disagree on which pages are allocated or anonymous (the address space
 * changed between the two reads: read both again); -EINVAL when the
 * table is not the window's (entry vaddrs do not match).
 */
int spt_kernel_state_build(const struct shadow_pte *t, size_t n, uint64_t start,
			   const struct spt_state *vmas, struct spt_state *out);

/*
 * The same for the pages only (appended to out, VMAs untouched): t holds
 * the n entries from start, vmas at least the VMAs overlapping them.
 */
int spt_kernel_state_pages(const struct shadow_pte *t, size_t n, uint64_t start,
			   const struct spt_state *vmas, struct spt_state *out);

#endif
