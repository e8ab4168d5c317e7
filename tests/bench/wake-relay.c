// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * wake-relay: the platform's floor under bench-latency's figures. A change
 * reaches a viewer through three wakeups of a sleeping thread: the
 * target's fault wakes shadowptd's reader thread, the reader wakes the
 * event loop thread, the loop wakes the viewer. This relays a timestamp
 * along the same shape with no work at all: a "target" process sleeps a
 * random 50..1200 ms and writes it into a pipe; a "reader" thread wakes and
 * passes it on through a pipe to a "loop" thread of the same process,
 * which sends it over a Unix stream socket to a "viewer" process, which
 * prints how long the relay took.
 *
 *   wake-relay TRIALS SEED
 *
 * Output: "relay NS" per trial (CLOCK_MONOTONIC), then "done".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* Block in poll() as the daemon and viewer do, then read one stamp. */
static int take(int fd, uint64_t *t)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, -1) != 1)
		return -1;
	return read(fd, t, sizeof(*t)) == sizeof(*t) ? 0 : -1;
}

static int give(int fd, uint64_t t)
{
	return write(fd, &t, sizeof(t)) == sizeof(t) ? 0 : -1;
}

struct hop {
	int in, out;
};

static void *hop_thread(void *arg)
{
	struct hop *h = arg;
	uint64_t t;

	while (!take(h->in, &t) && !give(h->out, t))
		;
	close(h->out);
	return NULL;
}

int main(int argc, char **argv)
{
	int target_reader[2], reader_loop[2], loop_viewer[2], trials, i;
	struct hop reader, loop;
	pthread_t th[2];
	unsigned int seed;
	pid_t relay, viewer;
	uint64_t t;

	if (argc != 3) {
		fprintf(stderr, "usage: wake-relay TRIALS SEED\n");
		return 2;
	}
	trials = atoi(argv[1]);
	seed = strtoul(argv[2], NULL, 0);
	if (pipe(target_reader) || pipe(reader_loop) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, loop_viewer)) {
		perror("wake-relay");
		return 1;
	}
	viewer = fork();
	if (viewer == 0) {
		/* Only its end of the socket: the others must see EOF. */
		close(target_reader[0]);
		close(target_reader[1]);
		close(reader_loop[0]);
		close(reader_loop[1]);
		close(loop_viewer[0]);
		while (!take(loop_viewer[1], &t))
			printf("relay %llu\n", (unsigned long long)(now_ns() - t));
		printf("done\n");
		return 0;
	}
	close(loop_viewer[1]);
	relay = fork();
	if (relay == 0) {
		reader = (struct hop){ target_reader[0], reader_loop[1] };
		loop = (struct hop){ reader_loop[0], loop_viewer[0] };
		close(target_reader[1]);
		pthread_create(&th[0], NULL, hop_thread, &reader);
		pthread_create(&th[1], NULL, hop_thread, &loop);
		pthread_join(th[0], NULL);
		pthread_join(th[1], NULL);
		return 0;
	}
	close(target_reader[0]);
	close(reader_loop[0]);
	close(reader_loop[1]);
	close(loop_viewer[0]);
	srandom(seed);
	for (i = 0; i < trials; i++) {
		struct timespec gap;
		long ms = 50 + random() % 1151;

		gap.tv_sec = ms / 1000;
		gap.tv_nsec = ms % 1000 * 1000000L;
		nanosleep(&gap, NULL);
		if (give(target_reader[1], now_ns()))
			break;
	}
	close(target_reader[1]);
	waitpid(relay, NULL, 0);
	waitpid(viewer, NULL, 0);
	return 0;
}
