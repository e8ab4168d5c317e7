// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Backend choice: which backends this system offers and which a watch
 * gets. auto = kernel when the patched kernel is there and the range fits
 * its table (and, at open, the single table is free), else procfs.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "wire.h"

#ifdef SPT_HAVE_KERNEL_BACKEND
#include "kernel/kernel-table.h"
#endif
#ifdef SPT_HAVE_PROCFS_BACKEND
#include "procfs/perf-events.h"
#include "procfs/tracefs.h"
#endif

/* Not const: the daemon builds before the backends exist. */
#ifdef SPT_HAVE_PROCFS_BACKEND
static const struct spt_backend_ops *procfs_ops = &spt_backend_procfs;
#else
static const struct spt_backend_ops *procfs_ops;
#endif
static const struct spt_backend_ops *kernel_ops; /* set by the probe */

static char kernel_why[160] = "not probed";
static int default_backend = SHADOWPT__BACKEND__BACKEND_AUTO;

/*
 * Never by calling syscalls 463..467 blindly: on Linux >= 6.13 those are
 * the *xattrat calls. The kernel backend checks the patch's sysfs marker.
 */
static void probe_kernel(void)
{
#ifdef SPT_HAVE_KERNEL_BACKEND
	if (spt_kernel_table_probe(kernel_why, sizeof(kernel_why)) == 0) {
		kernel_ops = &spt_backend_kernel;
		kernel_why[0] = '\0';
		return;
	}
#else
	snprintf(kernel_why, sizeof(kernel_why), "kernel backend not built into this shadowptd");
#endif
}

int spt_backend_probe(int preferred, char *why, size_t whylen)
{
	probe_kernel();
	snprintf(why, whylen, "%s", kernel_why);
	if (!procfs_ops)
		log_warn("procfs backend not built into this shadowptd");
#ifdef SPT_HAVE_PROCFS_BACKEND
	/* Now, while still root: tracefs may have to be mounted. */
	{
		const struct spt_tracefs *tf = spt_tracefs_probe();

		if (tf->why[0])
			log_notice("procfs watches will poll: %s", tf->why);
		else
			log_info("procfs watches are event-driven (perf tracepoints, tracefs at %s)",
				 tf->path);
	}
#endif
	if (kernel_ops)
		log_info("kernel backend available");
	else
		log_info("kernel backend unavailable: %s", kernel_why);
	if (preferred == SHADOWPT__BACKEND__BACKEND_KERNEL && !kernel_ops)
		log_warn("--backend kernel: watches without a backend preference will fail");
	default_backend = preferred == SHADOWPT__BACKEND__BACKEND_UNSPECIFIED
			      ? SHADOWPT__BACKEND__BACKEND_AUTO
			      : preferred;
	return default_backend;
}

size_t spt_backend_available(int *ids, size_t max)
{
	size_t n = 0;

	if (kernel_ops && n < max)
		ids[n++] = SHADOWPT__BACKEND__BACKEND_KERNEL;
	if (procfs_ops && n < max)
		ids[n++] = SHADOWPT__BACKEND__BACKEND_PROCFS;
	return n;
}

static bool kernel_fits(uint64_t start, uint64_t end)
{
	return end - start <= MAX_SPT_RANGE;
}

int spt_backend_select(int requested, uint64_t start, uint64_t end,
		       const struct spt_backend_ops **ops, char *why, size_t whylen)
{
	if (requested == SHADOWPT__BACKEND__BACKEND_UNSPECIFIED)
		requested = default_backend;
	switch (requested) {
	case SHADOWPT__BACKEND__BACKEND_KERNEL:
		if (!kernel_ops) {
			snprintf(why, whylen, "kernel backend unavailable: %s", kernel_why);
			return -ENODEV;
		}
		if (!kernel_fits(start, end)) {
			snprintf(why, whylen,
				 "kernel backend unavailable: range larger than its table (%u KiB)",
				 MAX_SPT_RANGE / 1024);
			return -ENODEV;
		}
		*ops = kernel_ops;
		snprintf(why, whylen, "kernel requested");
		return 0;
	case SHADOWPT__BACKEND__BACKEND_AUTO:
		if (kernel_ops && kernel_fits(start, end)) {
			*ops = kernel_ops;
			snprintf(why, whylen, "kernel table");
			return 0;
		}
		if (!procfs_ops)
			break;
		*ops = procfs_ops;
		if (kernel_ops)
			snprintf(why, whylen, "procfs (range larger than the kernel table, %u KiB)",
				 MAX_SPT_RANGE / 1024);
		else
			snprintf(why, whylen, "procfs (kernel backend unavailable: %s)",
				 kernel_why);
		return 0;
	case SHADOWPT__BACKEND__BACKEND_PROCFS:
		if (!procfs_ops)
			break;
		*ops = procfs_ops;
		snprintf(why, whylen, "procfs requested");
		return 0;
	default:
		snprintf(why, whylen, "unknown backend %d", requested);
		return -EINVAL;
	}
	snprintf(why, whylen, "procfs backend not built into this shadowptd");
	return -ENODEV;
}

const struct spt_backend_ops *spt_backend_fallback(int requested,
						   const struct spt_backend_ops *failed, int err,
						   const char *failed_why, char *why, size_t whylen)
{
	if (requested == SHADOWPT__BACKEND__BACKEND_UNSPECIFIED)
		requested = default_backend;
	if (requested != SHADOWPT__BACKEND__BACKEND_AUTO || failed == procfs_ops || !procfs_ops)
		return NULL;
	/* Target gone or not permitted: procfs would say the same. */
	if (err == -ESRCH || err == -EPERM || err == -EACCES)
		return NULL;
	snprintf(why, whylen, "procfs (kernel table: %s)", failed_why);
	return procfs_ops;
}

unsigned spt_backend_set_ring_budget(unsigned rings, unsigned *fds_per_ring)
{
#ifdef SPT_HAVE_PROCFS_BACKEND
	spt_perf_set_ring_budget(rings);
	*fds_per_ring = SPT_PERF_FDS_PER_RING;
	return rings;
#else
	*fds_per_ring = 0;
	return 0;
#endif
}

size_t spt_backend_ring_bytes(void)
{
#ifdef SPT_HAVE_PROCFS_BACKEND
	return (1 + SPT_PERF_RING_PAGES) * 4096u;
#else
	return 0;
#endif
}
