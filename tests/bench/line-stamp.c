// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * line-stamp: copies lines from stdin to stdout, each prefixed with the
 * CLOCK_MONOTONIC nanoseconds at which its last byte was read. The
 * benchmarks pipe a viewer's --json output through it, so that a line is
 * stamped as soon as the viewer writes it, not when a slower harness gets
 * round to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	size_t cap = 1 << 20, have = 0;
	char *buf = malloc(cap);

	while (buf) {
		ssize_t n = read(STDIN_FILENO, buf + have, cap - have);
		struct timespec ts;
		size_t start = 0;

		if (n <= 0)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		have += (size_t)n;
		for (size_t i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			printf("%llu ", (unsigned long long)ts.tv_sec * 1000000000ull + ts.tv_nsec);
			fwrite(buf + start, 1, i + 1 - start, stdout);
			start = i + 1;
		}
		fflush(stdout);
		memmove(buf, buf + start, have - start);
		have -= start;
		if (have == cap) /* a long line (a big snapshot): room for more */
			buf = realloc(buf, cap *= 2);
	}
	free(buf);
	return 0;
}
