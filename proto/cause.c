// SPDX-License-Identifier: GPL-2.0-or-later
/* Cause names: one table for every renderer. */
#include "cause.h"
#include "shadowpt.pb-c.h"

const char *spt_cause_name(unsigned cause)
{
	static const char *const names[] = {
	    [SHADOWPT__CAUSE__CAUSE_UNSPECIFIED] = "unknown",
	    [SHADOWPT__CAUSE__CAUSE_READ_FAULT] = "read-fault",
	    [SHADOWPT__CAUSE__CAUSE_WRITE_FAULT] = "write-fault",
	    [SHADOWPT__CAUSE__CAUSE_FAULT] = "fault",
	    [SHADOWPT__CAUSE__CAUSE_COW] = "cow",
	    [SHADOWPT__CAUSE__CAUSE_MMAP] = "mmap",
	    [SHADOWPT__CAUSE__CAUSE_MUNMAP] = "munmap",
	    [SHADOWPT__CAUSE__CAUSE_BRK] = "brk",
	    [SHADOWPT__CAUSE__CAUSE_MREMAP] = "mremap",
	    [SHADOWPT__CAUSE__CAUSE_MADVISE] = "madvise",
	    [SHADOWPT__CAUSE__CAUSE_MPROTECT] = "mprotect",
	    [SHADOWPT__CAUSE__CAUSE_EXEC] = "exec",
	    [SHADOWPT__CAUSE__CAUSE_STACK_GROWTH] = "stack-growth",
	    [SHADOWPT__CAUSE__CAUSE_EXIT] = "exit",
	    [SHADOWPT__CAUSE__CAUSE_ZAP] = "zap",
	    [SHADOWPT__CAUSE__CAUSE_THP_COLLAPSE] = "thp-collapse",
	    [SHADOWPT__CAUSE__CAUSE_THP_SPLIT] = "thp-split",
	    [SHADOWPT__CAUSE__CAUSE_MIGRATION] = "migration",
	    [SHADOWPT__CAUSE__CAUSE_RECLAIM] = "reclaim",
	    [SHADOWPT__CAUSE__CAUSE_UFFD] = "userfaultfd",
	    [SHADOWPT__CAUSE__CAUSE_RECONCILE] = "reconcile",
	    [SHADOWPT__CAUSE__CAUSE_POLL] = "poll",
	    [SHADOWPT__CAUSE__CAUSE_VMA_CHANGE] = "vma-change",
	    [SHADOWPT__CAUSE__CAUSE_RESYNC] = "resync",
	    [SHADOWPT__CAUSE__CAUSE_SWAP_IN] = "swap-in",
	    [SHADOWPT__CAUSE__CAUSE_MULTIPLE] = "multiple",
	    [SHADOWPT__CAUSE__CAUSE_FORK] = "fork",
	};

	return cause < sizeof(names) / sizeof(names[0]) && names[cause] ? names[cause] : "unknown";
}
