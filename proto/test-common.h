/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Minimal TAP helpers shared by the C unit tests. */
#ifndef SHADOWPT_TEST_COMMON_H
#define SHADOWPT_TEST_COMMON_H

#include <stdio.h>
#include <stdlib.h>

static int spt_test_count, spt_test_failed;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		spt_test_count++;                                          \
		if (cond) {                                                \
			printf("ok %d - ", spt_test_count);                \
		} else {                                                   \
			spt_test_failed++;                                 \
			printf("not ok %d - %s:%d: ", spt_test_count, __FILE__, \
			       __LINE__);                                  \
		}                                                          \
		printf(__VA_ARGS__);                                       \
		printf("\n");                                              \
	} while (0)

/* CHECK with the condition's own text as the message. */
#define EXPECT(cond) CHECK((cond), "%s", #cond)

static inline int spt_test_done(void)
{
	printf("1..%d\n", spt_test_count);
	return spt_test_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
