/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VMAs of a range through the PROCMAP_QUERY ioctl on /proc/PID/maps
 * (Linux 6.11+): one VMA per call, each under the VMA's own lock, so a
 * re-read after an munmap costs the VMAs it touched, not every VMA of
 * the process, and the answer is always sorted and disjoint (unlike a
 * text read, which the kernel produces a page at a time, dropping the
 * lock in between). Names come from the same kernel function as the maps
 * text, escaped the same way ('\n' as "\012"), so both agree.
 */
#ifndef SHADOWPTD_PROCFS_MAPS_QUERY_H
#define SHADOWPTD_PROCFS_MAPS_QUERY_H

#include <stdbool.h>
#include <stdint.h>

#include "maps.h"

#include "state.h"

/*
 * Appends the VMAs overlapping [a, b) to st, each clipped to [wstart,
 * wend) only (the caller needs their true extent inside the window).
 * maps_fd is an open /proc/PID/maps. Returns 0, -EOPNOTSUPP when the
 * kernel lacks PROCMAP_QUERY, -ESRCH when the mm is gone, -errno.
 */
int spt_maps_query(int maps_fd, uint64_t a, uint64_t b, uint64_t wstart, uint64_t wend,
		   struct spt_state *st);

/*
 * The VMAs overlapping [a, b) of the window [wstart, wend), with their
 * true extents inside the window: through PROCMAP_QUERY on maps_fd while
 * the kernel has it (*no_query is set, once, when it has not), else from
 * the maps text of dirfd (/proc/PID) read into buf. Returns 0, -EAGAIN
 * (the text changed while read), -ESRCH (mm gone), -errno.
 */
int spt_maps_read_range(int dirfd, int maps_fd, bool *no_query, struct spt_procfs_buf *buf,
			uint64_t a, uint64_t b, uint64_t wstart, uint64_t wend,
			struct spt_state *out);

#endif
