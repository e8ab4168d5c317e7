/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Invariant checks that stay on in release builds (like c-stdaux's
 * c_assert): only for cheap conditions whose failure means memory is
 * about to be corrupted, never for input validation.
 */
#ifndef SHADOWPT_SPT_ASSERT_H
#define SHADOWPT_SPT_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define spt_assert(cond)                                                          \
	do {                                                                      \
		if (__builtin_expect(!(cond), 0)) {                               \
			fprintf(stderr, "%s:%d: %s: invariant '%s' failed\n",     \
				__FILE__, __LINE__, __func__, #cond);             \
			abort();                                                  \
		}                                                                 \
	} while (0)

#endif
