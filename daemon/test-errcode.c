// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests: every errno the daemon maps, and what it maps to (errcode.c). */
#include <errno.h>

#include "errcode.h"
#include "shadowpt.pb-c.h"
#include "test-common.h"

#define MAPS(err, code)                                                                            \
	CHECK(spt_error_code_of(-(err)) == SHADOWPT__ERROR_CODE__ERROR_##code, "%s -> %s", #err,   \
	      #code)

int main(void)
{
	MAPS(ESRCH, NO_SUCH_PROCESS);
	MAPS(EPERM, PERMISSION_DENIED);
	MAPS(EACCES, PERMISSION_DENIED);
	MAPS(ERANGE, INVALID_RANGE);
	MAPS(EINVAL, INVALID_ARGUMENT);
	MAPS(E2BIG, LIMIT_EXCEEDED);
	MAPS(EDQUOT, LIMIT_EXCEEDED);
	MAPS(EMFILE, LIMIT_EXCEEDED);
	MAPS(ENFILE, LIMIT_EXCEEDED);
	MAPS(ENXIO, NOT_MAPPED);
	MAPS(EFAULT, NOT_MAPPED);
	MAPS(ENODEV, BACKEND_UNAVAILABLE);
	MAPS(ENOSYS, BACKEND_UNAVAILABLE);
	MAPS(ENOSPC, BACKEND_UNAVAILABLE);
	MAPS(EOPNOTSUPP, BACKEND_UNAVAILABLE);
	MAPS(EAGAIN, BACKEND_UNAVAILABLE);
	/* Whatever else: the daemon's own failure, never blamed on the viewer. */
	MAPS(ENOMEM, INTERNAL);
	MAPS(EIO, INTERNAL);
	MAPS(ENOENT, INTERNAL);
	MAPS(EBADF, INTERNAL);
	CHECK(spt_error_code_of(0) == SHADOWPT__ERROR_CODE__ERROR_INTERNAL &&
		  spt_error_code_of(-4095) == SHADOWPT__ERROR_CODE__ERROR_INTERNAL,
	      "0 and an unknown errno -> INTERNAL");
	return spt_test_done();
}
