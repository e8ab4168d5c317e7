/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The backend interface of shadowptd (DESIGN.md section 4): a backend
 * turns one (target, range) into page-state samples. The daemon core owns
 * everything around it (sessions, diffing, fan-out, authorization); a
 * backend only reads the target.
 *
 * Contract, for every op:
 * - Every call for one handle, open included, comes from that session's
 *   reader thread (reader.h), never from the event loop: reads may block
 *   on the target's mmap_lock for as long as the target holds it. Backend
 *   code shared between handles (the one kernel table) locks for itself.
 * - Errors are negative errnos. The daemon logs them with context; a
 *   backend should log only what the daemon cannot know (e.g. which file
 *   failed to parse), at debug level, through its own stderr if at all.
 * - Authorization has already been checked by the daemon before open and
 *   before every peek; a backend never decides who may see what.
 * - Addresses: start/end are page aligned, start < end <= SPT_USER_ADDR_MAX.
 *   A whole-address-space watch is [0, SPT_USER_ADDR_MAX).
 */
#ifndef SHADOWPTD_BACKEND_H
#define SHADOWPTD_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>

#include "events.h"
#include "state.h"

/*
 * True once the process a pidfd names has exited (zombie or reaped): a
 * pidfd polls readable then. Needs no permission over the process, unlike
 * pidfd_send_signal(pidfd, 0), which fails with EPERM for another uid's
 * process once the daemon has dropped to its own user.
 */
static inline bool spt_pidfd_exited(int pidfd)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	return poll(&p, 1, 0) != 0;
}

struct spt_backend_ops {
	const char *name; /* "procfs", "kernel" */
	int id;		  /* Shadowpt__Backend: SHADOWPT__BACKEND__BACKEND_PROCFS, ... */

	/*
	 * Starts observing [start, end) of pid. pidfd is the daemon's pidfd
	 * for pid (opened before the pid was verified, so it names the right
	 * process); the backend may use it (e.g. pidfd_getfd, or
	 * pidfd_send_signal(pidfd, 0) to check liveness) but must not close
	 * it. On failure returns -errno and writes a short human reason to
	 * why (sent to the viewer as-is, so no secrets): -ESRCH target gone,
	 * -EPERM/-EACCES not readable by the daemon, -ENOSPC resource busy
	 * (kernel table taken), -ERANGE range unsupported, other -errno
	 * (errcode.c says what the viewer is told for each).
	 */
	int (*open)(pid_t pid, int pidfd, uint64_t start, uint64_t end, void **handle, char *why,
		    size_t whylen);

	/*
	 * Fills out (initialised and empty on entry; spt_state_append_*
	 * in ascending order) with the full current state of the range:
	 * every VMA overlapping [start, end) clipped to it, and every page
	 * with page-level state (mapped or swapped). pfn is the raw pfn, or 0
	 * when the backend cannot read pfns (no CAP_SYS_ADMIN); the daemon
	 * maps it to what each viewer may see. Returns 0, -ESRCH when the
	 * target is gone (exited, or its mm is gone: zombie), or another
	 * -errno for a failed sample (the daemon keeps the previous state and
	 * retries at the next tick). On error out may hold partial content;
	 * the daemon discards it.
	 */
	int (*sample)(void *handle, struct spt_state *out);

	/*
	 * Copies the 4096 bytes of the page at vaddr (page aligned, inside the
	 * range, else -ERANGE) into page. It first binds the target's
	 * current mm (opens what it reads through), then calls
	 * authorize(ctx) (0 or -EPERM), then reads only from that mm: an
	 * exec of a setuid program between the check and the read cannot
	 * hand over the new image's pages. Returns 0, -ENXIO if the page is
	 * not resident (ERROR_NOT_MAPPED), -ESRCH target gone, -EPERM from
	 * authorize, -EFAULT unmapped meanwhile, -EIO unreadable, or another
	 * -errno. Optional: NULL means peek is unsupported.
	 */
	int (*peek)(void *handle, uint64_t vaddr, uint8_t page[4096], int (*authorize)(void *ctx),
		    void *ctx);

	/*
	 * Event-driven mode, optional (NULL: the reader polls with sample).
	 * events_start registers the backend's event fds with epfd (any
	 * data.ptr; the reader calls events_drain whenever epfd is readable)
	 * and describes its sources in desc; -errno (reason in desc) makes
	 * the session poll instead. events_drain moves everything pending
	 * into b; 0 or -errno.
	 */
	int (*events_start)(void *handle, int epfd, char *desc, size_t desclen);
	int (*events_drain)(void *handle, struct spt_batch *b);

	/*
	 * Targeted reads, needed with events_start. read_vmas appends the
	 * VMAs overlapping [start, end), clipped to the window, in order.
	 * read_pages appends the page entries inside [start, end) of the
	 * VMAs in vmas (entries beyond are ignored); it returns 1 instead of
	 * 0 when a THP reaches beyond the range (the reader then asks again
	 * with the fault's window recomputed). fault_window widens a fault at
	 * vaddr in v to what one fault may map (fault-around, a THP, a large
	 * folio), wider for each widen step (the reader asks again, widen + 1,
	 * while a fault's changes reach the edge of its window); optional.
	 * All 0 or -errno like sample.
	 */
	int (*read_vmas)(void *handle, uint64_t start, uint64_t end, struct spt_state *out);
	int (*read_pages)(void *handle, const struct spt_state *vmas, uint64_t start, uint64_t end,
			  struct spt_state *out);
	void (*fault_window)(void *handle, const struct spt_vma *v, uint64_t vaddr,
			     unsigned widen, uint64_t *start, uint64_t *end);

	/*
	 * Optional (NULL): true if the last successful sample observed that
	 * the target called execve since the previous sample. The daemon marks
	 * that Delta with exec=true.
	 */
	bool (*exec_seen)(void *handle);

	/* Releases everything open took (kernel table, fds). Never fails. */
	void (*close)(void *handle);
};

/* The procfs backend (daemon/procfs/): /proc/PID/maps + pagemap. */
extern const struct spt_backend_ops spt_backend_procfs;
/* The kernel backend (daemon/kernel/): the patched kernel's table. */
extern const struct spt_backend_ops spt_backend_kernel;

/*
 * Chooses the backend for one watch. requested is a Shadowpt__Backend
 * (UNSPECIFIED/AUTO pick the best available). Returns 0 and sets *ops,
 * with a human reason for the choice in why ("kernel syscalls not
 * available", ...); or -ENODEV when the requested backend cannot be used,
 * with the reason in why (the viewer gets ERROR_BACKEND_UNAVAILABLE).
 */
int spt_backend_select(int requested, uint64_t start, uint64_t end,
		       const struct spt_backend_ops **ops, char *why, size_t whylen);

/*
 * After ops->open of a backend chosen for requested failed with err:
 * the backend to try instead (auto: kernel table busy or refusing the
 * range -> procfs), with the reason in why; or NULL.
 */
const struct spt_backend_ops *spt_backend_fallback(int requested,
						   const struct spt_backend_ops *failed, int err,
						   const char *failed_why, char *why,
						   size_t whylen);

/*
 * Probes the system once at startup (patched kernel present?) and sets
 * the default for watches without a preference (preferred; AUTO when
 * UNSPECIFIED), which it returns. kernel_why gets why the kernel backend
 * is unavailable ("" when it is available).
 */
int spt_backend_probe(int preferred, char *kernel_why, size_t whylen);

/*
 * The event sources' daemon-wide budget of perf rings (procfs backend):
 * sets it, returns what was set and the fds each ring holds (0 rings
 * without the procfs backend). spt_backend_ring_bytes: the locked memory
 * of one ring.
 */
unsigned spt_backend_set_ring_budget(unsigned rings, unsigned *fds_per_ring);
size_t spt_backend_ring_bytes(void);

/* Backends usable on this system, for Welcome.backends. Returns count. */
size_t spt_backend_available(int *ids, size_t max);


#endif
