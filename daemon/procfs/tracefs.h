/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The tracepoints the procfs backend's event source samples through
 * perf_event_open: their ids and the offsets of the fields it reads, taken
 * from tracefs (events/<system>/<name>/{id,format}) once at startup.
 *
 * tracefs is looked for at /sys/kernel/tracing and
 * /sys/kernel/debug/tracing; when neither is mounted it is mounted at
 * /sys/kernel/tracing (needs CAP_SYS_ADMIN in the initial user namespace;
 * under systemd the mount stays in the service's own mount namespace).
 * Without tracefs the event source falls back to the software page-fault
 * event, which has the address but not the access type, and cannot see
 * the target's VMA syscalls: the session then polls (see perf-events.h).
 */
#ifndef SHADOWPTD_PROCFS_TRACEFS_H
#define SHADOWPTD_PROCFS_TRACEFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One tracepoint: id, and the raw-record offset of up to three fields. */
struct spt_tracepoint {
	int64_t id; /* -1: not available */
	uint16_t off[3];
};

struct spt_tracefs {
	bool probed;
	char why[160];			    /* what is missing, "" when everything is there */
	char path[64];			    /* where tracefs is mounted, "" if nowhere */
	struct spt_tracepoint fault_user;   /* exceptions:page_fault_user: address, error_code */
	struct spt_tracepoint fault_kernel; /* exceptions:page_fault_kernel: address, error_code */
	struct spt_tracepoint sys_enter;    /* raw_syscalls:sys_enter: id, args */
	struct spt_tracepoint sys_exit;	    /* raw_syscalls:sys_exit: id, ret */
	struct spt_tracepoint new_task;	    /* task:task_newtask: clone_flags (optional) */
};

/*
 * Probes once (later calls return the first result): finds or mounts
 * tracefs and reads the four tracepoints. Returns the result; ids of what
 * is missing are -1 and why says which and why.
 */
const struct spt_tracefs *spt_tracefs_probe(void);

/*
 * Parses a tracepoint "format" file's text for the offsets of the named
 * fields (array fields like "args[6]" match by their base name). Exposed
 * for tests. Returns 0, or -ENOENT if a field is missing.
 */
int spt_tracefs_parse_format(const char *text, const char *const names[], size_t n, uint16_t off[]);

#endif
