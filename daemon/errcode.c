// SPDX-License-Identifier: GPL-2.0-or-later
/* -errno -> ErrorCode: why each errno means what it does to a viewer. */
#include <errno.h>

#include "errcode.h"
#include "shadowpt.pb-c.h"

int spt_error_code_of(int err)
{
	switch (err) {
	case -ESRCH: /* the pidfd says it exited, or /proc/PID is gone */
		return SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS;
	case -EPERM:  /* auth.c's refusal */
	case -EACCES: /* /proc's own: a target that became undumpable */
		return SHADOWPT__ERROR_CODE__ERROR_PERMISSION_DENIED;
	case -ERANGE: /* a window or address a backend cannot take */
		return SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE;
	case -EINVAL: /* anything else in the request that makes no sense */
		return SHADOWPT__ERROR_CODE__ERROR_INVALID_ARGUMENT;
	case -E2BIG:  /* the target outgrew the session's caps */
	case -EDQUOT: /* the uid's charges (user.c) are used up */
	case -EMFILE: /* the daemon ran out of fds (rlimits.c) */
	case -ENFILE:
		return SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED;
	case -ENXIO:  /* peek: no resident page there */
	case -EFAULT: /* peek: unmapped while it was read */
		return SHADOWPT__ERROR_CODE__ERROR_NOT_MAPPED;
	case -ENODEV:	  /* not built in, or the range does not fit it */
	case -ENOSYS:	  /* a kernel without the shadowpt syscalls */
	case -ENOSPC:	  /* the kernel's single table is taken */
	case -EOPNOTSUPP: /* the backend cannot do this (peek) */
	case -EAGAIN:	  /* the target never held still long enough to read */
		return SHADOWPT__ERROR_CODE__ERROR_BACKEND_UNAVAILABLE;
	default: /* ENOMEM, EIO, ...: nothing the viewer did or can fix */
		return SHADOWPT__ERROR_CODE__ERROR_INTERNAL;
	}
}
