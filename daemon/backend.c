// SPDX-License-Identifier: GPL-2.0-or-later
/* Backend choice: which backends this system offers and which a watch gets. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "backend.h"
#include "log.h"
#include "wire.h"

static char kernel_why[160] = "not probed";
static int default_backend = SHADOWPT__BACKEND__BACKEND_PROCFS;

/* Not const: the daemon builds before the procfs backend exists. */
#ifdef SPT_HAVE_PROCFS_BACKEND
static const struct spt_backend_ops *procfs_ops = &spt_backend_procfs;
#else
static const struct spt_backend_ops *procfs_ops;
#endif

const char *spt_backend_name(int id)
{
	switch (id) {
	case SHADOWPT__BACKEND__BACKEND_AUTO: return "auto";
	case SHADOWPT__BACKEND__BACKEND_PROCFS: return "procfs";
	case SHADOWPT__BACKEND__BACKEND_KERNEL: return "kernel";
	default: return "unspecified";
	}
}

/*
 * Whether the shadowpt syscalls exist. shadowpt_stop (466) takes no
 * arguments; ENOSYS means the kernel lacks the patch.
 * Any other answer is NOT proof of the patch: Linux >= 6.13 uses 463..467
 * for the *xattrat calls, so we only trust ENOSYS (see notes-proto).
 */
static void probe_kernel(void)
{
	long r;

#ifdef __NR_shadowpt_stop
	errno = 0;
	/* Explicit harmless arguments: on >= 6.13 this is removexattrat(). */
	r = syscall(__NR_shadowpt_stop, -1, NULL, 0, NULL, NULL, 0);
	if (r < 0 && errno == ENOSYS) {
		snprintf(kernel_why, sizeof(kernel_why), "kernel syscalls not available");
		return;
	}
#else
	(void)r;
#endif
	/* The kernel backend itself is a later addition to the daemon. */
	snprintf(kernel_why, sizeof(kernel_why),
		 "kernel backend not built into this shadowptd");
}

int spt_backend_probe(int preferred, char *why, size_t whylen)
{
	probe_kernel();
	snprintf(why, whylen, "%s", kernel_why);
	if (!procfs_ops)
		log_warn("procfs backend not built: every watch will fail");
	if (preferred == SHADOWPT__BACKEND__BACKEND_KERNEL)
		log_warn("kernel backend requested but unavailable: %s", kernel_why);
	default_backend = preferred == SHADOWPT__BACKEND__BACKEND_UNSPECIFIED
				  ? SHADOWPT__BACKEND__BACKEND_AUTO
				  : preferred;
	return SHADOWPT__BACKEND__BACKEND_PROCFS;
}

size_t spt_backend_available(int *ids, size_t max)
{
	size_t n = 0;

	if (procfs_ops && n < max)
		ids[n++] = SHADOWPT__BACKEND__BACKEND_PROCFS;
	return n;
}

int spt_backend_select(int requested, uint64_t start, uint64_t end,
		       const struct spt_backend_ops **ops, char *why, size_t whylen)
{
	(void)start;
	(void)end;
	if (requested == SHADOWPT__BACKEND__BACKEND_UNSPECIFIED)
		requested = default_backend;
	switch (requested) {
	case SHADOWPT__BACKEND__BACKEND_KERNEL:
		snprintf(why, whylen, "kernel backend unavailable: %s", kernel_why);
		return -ENODEV;
	case SHADOWPT__BACKEND__BACKEND_AUTO:
		if (!procfs_ops)
			break;
		*ops = procfs_ops;
		snprintf(why, whylen, "procfs (kernel backend unavailable: %s)", kernel_why);
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
