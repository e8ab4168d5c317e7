/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The procfs backend beyond the generic ops (daemon/backend.h): an open
 * variant that picks the pagemap strategy, and the last sample's
 * statistics. Used by tests and the benchmark; the daemon needs only
 * spt_backend_procfs.
 */
#ifndef SHADOWPTD_PROCFS_BACKEND_PROCFS_H
#define SHADOWPTD_PROCFS_BACKEND_PROCFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pagemap.h"

/* Maps re-reads when the maps text was inconsistent or the mm changed. */
#define SPT_PROCFS_SAMPLE_ATTEMPTS 3

int spt_procfs_open(pid_t pid, int pidfd, uint64_t start, uint64_t end,
		    enum spt_pagemap_mode mode, void **handle, char *why, size_t whylen);

const struct spt_pagemap_stats *spt_procfs_last_stats(void *handle);

#endif
