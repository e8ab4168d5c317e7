// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The reader thread of one session (reader.h): open, first read, then
 * event batches -> targeted re-reads -> one delta each; reconcile and the
 * fallback poller on deadlines; peeks on request.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "reader-priv.h"
#include "wire.h"

/* Full reads that fail with -EAGAIN (the target changed under us) are retried this long. */
#define READER_FULL_READ_PATIENCE_MS 5000u
#define READER_STACK_SIZE	     (512u * 1024u)

/* The caps a new reader's states start with (spt_reader_set_initial_caps). */
static size_t initial_runs = SPT_SESSION_INITIAL_RUNS, initial_vmas = SPT_SESSION_INITIAL_VMAS;

struct peek_cmd {
	struct peek_cmd *next;
	uint64_t cookie, vaddr;
	struct spt_peer peer;
};
static bool stopping(struct spt_reader *r)
{
	bool s;

	pthread_mutex_lock(&r->lock);
	s = r->stopping;
	pthread_mutex_unlock(&r->lock);
	return s;
}

static void efd_signal(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void efd_clear(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/*
 * The loop is woken through a pipe, not an eventfd: a pipe wakes its
 * reader synchronously, so the scheduler may run the loop on this
 * thread's CPU as it goes back to sleep, instead of waking another, idle
 * CPU (tens of microseconds in a VM that halts idle CPUs).
 */
static void pipe_signal(int fd)
{
	const char one = 1;

	while (write(fd, &one, 1) < 0 && errno == EINTR)
		;
}

static void pipe_clear(int fd)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0 || errno == EINTR)
		;
}

void spt_reader_msg_free(struct spt_reader_msg *m)
{
	if (!m)
		return;
	spt_state_free(&m->state);
	spt_delta_free(&m->delta);
	free(m->page);
	free(m);
}

static struct spt_reader_msg *msg_new(enum spt_reader_msg_type type)
{
	struct spt_reader_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->type = type;
	spt_state_init(&m->state);
	spt_delta_init(&m->delta);
	return m;
}

/*
 * Queues m for the loop; waits while the loop is SPT_READER_QUEUE_MAX
 * messages behind, or a state's worth of delta runs (the session pays
 * for one such copy in flight, see SPT_SESSION_STATE_COPIES).
 */
static void post(struct spt_reader *r, struct spt_reader_msg *m)
{
	bool wake;

	pthread_mutex_lock(&r->lock);
	while ((r->nqueued >= SPT_READER_QUEUE_MAX ||
		(r->nqueued && r->queued_runs + m->delta.nruns > r->lim_runs)) &&
	       !r->stopping)
		pthread_cond_wait(&r->space, &r->lock);
	m->next = NULL;
	*r->tailp = m;
	r->tailp = &m->next;
	r->queued_runs += m->delta.nruns;
	wake = r->nqueued++ == 0; /* the loop takes the whole queue per byte */
	pthread_mutex_unlock(&r->lock);
	if (wake)
		pipe_signal(r->out_pipe[1]);
}

static void reader_free(struct spt_reader *r)
{
	struct spt_reader_msg *m;

	while ((m = r->head)) {
		r->head = m->next;
		spt_reader_msg_free(m);
	}
	while (r->peeks) {
		struct peek_cmd *p = r->peeks;

		r->peeks = p->next;
		free(p);
	}
	for (int i = 0; i < 2; i++)
		if (r->out_pipe[i] >= 0)
			close(r->out_pipe[i]);
	if (r->cmd_efd >= 0)
		close(r->cmd_efd);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->space);
	pthread_cond_destroy(&r->room);
	free(r);
}

static void reader_put(struct spt_reader *r)
{
	bool last;

	pthread_mutex_lock(&r->lock);
	last = --r->refs == 0;
	pthread_mutex_unlock(&r->lock);
	if (last)
		reader_free(r);
}

/* ---- reads ---- */

/* The caps the loop granted, on every state the reader fills. */
static void apply_limits(struct spt_reader *r)
{
	pthread_mutex_lock(&r->lock);
	r->lim_runs = r->max_runs;
	r->lim_vmas = r->max_vmas;
	pthread_mutex_unlock(&r->lock);
	spt_state_set_limits(&r->known, r->lim_runs, r->lim_vmas);
	spt_state_set_limits(&r->next, r->lim_runs, r->lim_vmas);
	spt_state_set_limits(&r->fresh, r->lim_runs, r->lim_vmas);
	spt_state_set_limits(&r->vbefore, r->lim_runs, r->lim_vmas);
}

/*
 * The target outgrew the caps: asks the loop for more room (it reserves
 * the memory first) and waits for the answer. True if granted.
 */
static bool ask_room(struct spt_reader *r)
{
	struct spt_reader_msg *m = msg_new(SPT_RMSG_ROOM);
	unsigned gen;
	bool granted;

	if (!m)
		return false;
	pthread_mutex_lock(&r->lock);
	gen = r->room_gen;
	pthread_mutex_unlock(&r->lock);
	m->err = -E2BIG;
	post(r, m);
	pthread_mutex_lock(&r->lock);
	while (r->room_gen == gen && !r->stopping)
		pthread_cond_wait(&r->room, &r->lock);
	granted = !r->stopping && !r->room_refused;
	pthread_mutex_unlock(&r->lock);
	if (granted)
		apply_limits(r);
	return granted;
}

/*
 * The whole window into r->next: retried while the target changes under
 * the read (-EAGAIN), up to READER_FULL_READ_PATIENCE_MS; then -EAGAIN.
 */
static int full_read(struct spt_reader *r)
{
	uint64_t t0 = spt_now_ns(), deadline = t0 + READER_FULL_READ_PATIENCE_MS * 1000000ull;
	unsigned backoff_us = 100;
	int ret;

	for (;;) {
		spt_state_clear(&r->next);
		busy(r);
		ret = r->ops->sample(r->handle, &r->next);
		idle(r);
		if (ret == -E2BIG && ask_room(r))
			continue;
		if (ret != -EAGAIN && ret != -EINVAL)
			break;
		/* -EINVAL: maps read across a change (out of order); try again too. */
		if (spt_now_ns() > deadline || stopping(r))
			break;
		usleep(backoff_us);
		if (backoff_us < 20000)
			backoff_us *= 2;
	}
	r->last_full_ns = spt_now_ns() - t0;
	stat_add(&r->stats.reads, 1);
	stat_add(&r->stats.read_ns, r->last_full_ns);
	/* Out of patience with a moving target: busy, not an invalid request. */
	return ret == -EINVAL ? -EAGAIN : ret;
}

static void post_failing(struct spt_reader *r, int err, const char *what)
{
	struct spt_reader_msg *m;

	if (r->failing == err)
		return;
	r->failing = err;
	m = msg_new(SPT_RMSG_FAILING);
	if (!m)
		return;
	m->err = err;
	snprintf(m->why, sizeof(m->why), "%s of pid %d failed: %s", what, (int)r->pid,
		 strerror(-err));
	post(r, m);
}

static void post_recovered(struct spt_reader *r)
{
	struct spt_reader_msg *m;

	if (!r->failing)
		return;
	r->failing = 0;
	m = msg_new(SPT_RMSG_RECOVERED);
	if (m)
		post(r, m);
}

void reader_post_gone(struct spt_reader *r)
{
	struct spt_reader_msg *m = msg_new(SPT_RMSG_GONE);

	if (m)
		post(r, m);
}

/*
 * Posts r->delta if it says anything, with meta from the batch that
 * caused it. 1 if posted, 0 if there was nothing to say.
 */
int reader_publish(struct spt_reader *r, const struct spt_batch *b, uint8_t cause, bool exec,
		   uint64_t t0)
{
	struct spt_reader_msg *m;

	post_recovered(r);
	if (spt_delta_empty(&r->delta))
		return 0;
	m = msg_new(SPT_RMSG_UPDATE);
	if (!m)
		return -ENOMEM; /* the next full read puts it right */
	m->delta = r->delta;
	spt_delta_init(&r->delta);
	m->cause = cause;
	m->exec = exec;
	if (r->first_change.set) {
		/* Named by the event that changed pages, not one that did nothing. */
		m->event_time_ns = r->first_change.time_ns;
		m->cause_vaddr = r->first_change.vaddr;
		m->cause_tid = r->first_change.tid;
	} else {
		m->event_time_ns = b && b->nevents ? b->first_ns : t0;
		m->cause_vaddr = b && b->nevents ? b->first_vaddr : 0;
		m->cause_tid = b && b->nevents ? b->first_tid : 0;
	}
	m->events = b ? b->nevents : 0;
	m->read_ns = spt_now_ns() - t0;
	post(r, m);
	return 1;
}

/* A full read, diffed against what we knew, published with cause (see publish). */
int reader_full_read_publish(struct spt_reader *r, const struct spt_batch *b, uint8_t cause)
{
	uint64_t t0 = spt_now_ns();
	bool exec;
	int ret = full_read(r);

	if (ret == -ESRCH) {
		reader_post_gone(r);
		return ret;
	}
	if (ret < 0) {
		post_failing(r, ret, "reading the memory map");
		return ret;
	}
	exec = r->ops->exec_seen && r->ops->exec_seen(r->handle);
	ret = spt_state_diff(&r->known, &r->next, &r->delta);
	if (ret < 0)
		return ret;
	spt_delta_set_cause(&r->delta, exec ? SHADOWPT__CAUSE__CAUSE_EXEC : cause);
	{
		struct spt_state t = r->known;

		r->known = r->next;
		r->next = t;
	}
	reader_keep_unfinished(r, b); /* everything else was just read */
	r->first_change.set = false;
	return reader_publish(r, b, exec ? SHADOWPT__CAUSE__CAUSE_EXEC : cause, exec, t0);
}

/* ---- peeks ---- */

struct peek_auth {
	struct spt_reader *r;
	const struct spt_peer *peer;
	char *why;
	size_t whylen;
};

static int peek_authorize(void *ctx)
{
	struct peek_auth *a = ctx;

	return auth_check_target(a->peer, a->r->pid, a->why, a->whylen);
}

static void do_peeks(struct spt_reader *r)
{
	struct peek_cmd *list;

	pthread_mutex_lock(&r->lock);
	list = r->peeks;
	r->peeks = NULL;
	pthread_mutex_unlock(&r->lock);
	while (list) {
		struct peek_cmd *pc = list;
		struct spt_reader_msg *m = msg_new(SPT_RMSG_PEEK);
		struct peek_auth auth = {.r = r, .peer = &pc->peer};

		list = pc->next;
		if (m && !(m->page = malloc(SPT_PAGE_SIZE))) {
			free(m);
			m = NULL;
		}
		if (m) {
			auth.why = m->why;
			auth.whylen = sizeof(m->why);
			m->cookie = pc->cookie;
			m->vaddr = pc->vaddr;
			busy(r);
			m->err = r->ops->peek ? r->ops->peek(r->handle, pc->vaddr, m->page,
							     peek_authorize, &auth)
					      : -EOPNOTSUPP;
			idle(r);
			post(r, m);
		}
		free(pc);
	}
}

/* ---- the thread ---- */

static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, len - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

static uint64_t reconcile_period_ns(const struct spt_reader *r)
{
	uint64_t ns = r->last_full_ns * SPT_RECONCILE_COST_FACTOR;

	if (ns < SPT_RECONCILE_MIN_MS * 1000000ull)
		ns = SPT_RECONCILE_MIN_MS * 1000000ull;
	if (ns > SPT_RECONCILE_MAX_MS * 1000000ull)
		ns = SPT_RECONCILE_MAX_MS * 1000000ull;
	return ns;
}

/* Opens the backend (falling back like session selection does) and reads the window. */
static int reader_open(struct spt_reader *r, struct spt_reader_msg *m)
{
	char bwhy[160] = "";
	int ret;

	busy(r);
	ret = r->ops->open(r->pid, r->pidfd, r->start, r->end, &r->handle, bwhy, sizeof(bwhy));
	idle(r);
	if (ret < 0) {
		const struct spt_backend_ops *alt =
		    spt_backend_fallback(r->requested, r->ops, ret, bwhy[0] ? bwhy : strerror(-ret),
					 m->backend_reason, sizeof(m->backend_reason));

		if (alt) {
			log_rl(SPT_LOG_INFO, "pid %d: %s backend: %s; falling back to %s",
			       (int)r->pid, r->ops->name, bwhy[0] ? bwhy : strerror(-ret),
			       alt->name);
			r->ops = alt;
			bwhy[0] = '\0';
			busy(r);
			ret = r->ops->open(r->pid, r->pidfd, r->start, r->end, &r->handle, bwhy,
					   sizeof(bwhy));
			idle(r);
		}
	}
	m->ops = r->ops;
	if (ret < 0) {
		r->handle = NULL;
		m->err = ret;
		snprintf(m->why, sizeof(m->why), "%s backend: %s", r->ops->name,
			 bwhy[0] ? bwhy : strerror(-ret));
		return ret;
	}
	read_comm(r->pid, m->comm, sizeof(m->comm));

	/* Events first: nothing that happens during the first read is missed. */
	if (!r->events_allowed) {
		m->mode = SPT_MODE_POLLING;
		snprintf(m->mode_reason, sizeof(m->mode_reason), "shadowptd runs with --no-events");
	} else if (r->ops->events_start) {
		busy(r);
		ret = r->ops->events_start(r->handle, r->epfd, m->mode_reason,
					   sizeof(m->mode_reason));
		idle(r);
		m->mode = ret == 0 ? SPT_MODE_EVENTS : SPT_MODE_POLLING;
		if (ret)
			log_rl(SPT_LOG_NOTICE, "pid %d: no events, polling: %s", (int)r->pid,
			       m->mode_reason);
	} else {
		m->mode = SPT_MODE_POLLING;
		snprintf(m->mode_reason, sizeof(m->mode_reason),
			 "the %s backend has no change notification", r->ops->name);
	}
	__atomic_store_n(&r->mode, m->mode, __ATOMIC_RELAXED);

	ret = full_read(r);
	if (ret == 0 && spt_pidfd_exited(r->pidfd))
		ret = -ESRCH; /* all of it must be about the process the pidfd names */
	if (ret < 0) {
		m->err = ret;
		if (ret == -ESRCH)
			snprintf(m->why, sizeof(m->why), "process %d exited", (int)r->pid);
		else
			snprintf(m->why, sizeof(m->why), "first read of pid %d failed: %s",
				 (int)r->pid, strerror(-ret));
		return ret;
	}
	{
		struct spt_state t = r->known;

		r->known = r->next;
		r->next = t;
	}
	ret = spt_state_copy(&m->state, &r->known);
	if (ret < 0) {
		m->err = ret;
		snprintf(m->why, sizeof(m->why), "out of memory");
	}
	return ret;
}

/* What woke the reader (epoll data.u64 of its own fds; the backend's carry pointers). */
enum { WOKE_CMD = 1, WOKE_EXIT = 2 };

/* Waits until due_ns or an fd is ready; returns which of cmd/exit fired. */
static unsigned wait_events(struct spt_reader *r, uint64_t due_ns)
{
	struct epoll_event evs[8];
	struct timespec ts = {3600, 0};
	uint64_t now = spt_now_ns();
	unsigned woke = 0;
	int n;

	if (due_ns <= now) {
		ts.tv_sec = 0;
	} else if (due_ns - now < 3600 * 1000000000ull) {
		ts.tv_sec = (time_t)((due_ns - now) / 1000000000ull);
		ts.tv_nsec = (long)((due_ns - now) % 1000000000ull);
	}
	/* The backend's sources are drained after, whatever woke us. */
	n = epoll_pwait2(r->epfd, evs, 8, &ts, NULL);
	for (int i = 0; i < n; i++)
		if (evs[i].data.u64 == WOKE_CMD || evs[i].data.u64 == WOKE_EXIT)
			woke |= (unsigned)evs[i].data.u64;
	return woke;
}

/* One round in event mode: drain, re-read, publish; reconcile when due. */
static int events_round(struct spt_reader *r)
{
	uint64_t now = spt_now_ns();
	int ret = 0;

	spt_batch_clear(&r->batch);
	r->nsegs = 0;
	/* What the last round drained late comes first, in its order. */
	if (spt_batch_merge(&r->batch, &r->late) < 0)
		spt_batch_full(&r->batch, now, 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
	spt_batch_clear(&r->late);
	if (r->ops->events_drain(r->handle, &r->batch) < 0)
		spt_batch_full(&r->batch, now, 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
	r->drain_due_ns = r->batch.poll_ns ? now + r->batch.poll_ns : 0;
	if (r->batch.creds) {
		struct spt_reader_msg *m = msg_new(SPT_RMSG_CREDS);

		if (m)
			post(r, m);
	}
	if (reader_take_due_retries(r, now) < 0)
		spt_batch_full(&r->batch, now, 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
	if (!spt_batch_empty(&r->batch))
		ret = reader_process_batch(r);
	if (!spt_batch_empty(&r->late) || r->late.creds)
		r->drain_due_ns = spt_now_ns(); /* drained already: nothing will wake us */
	if (ret != -ESRCH && spt_now_ns() >= r->reconcile_due_ns) {
		stat_add(&r->stats.reconciles, 1);
		ret = reader_full_read_publish(r, NULL, SHADOWPT__CAUSE__CAUSE_RECONCILE);
		r->reconcile_due_ns = spt_now_ns() + reconcile_period_ns(r);
	}
	return ret;
}

/* One round of the fallback poller, when it is due. */
static int poll_round(struct spt_reader *r)
{
	uint32_t min_ms = __atomic_load_n(&r->min_ms, __ATOMIC_RELAXED);
	uint32_t max_ms = __atomic_load_n(&r->max_ms, __ATOMIC_RELAXED);
	int ret;

	if (min_ms && (min_ms != r->iv.min_ms || max_ms != r->iv.max_ms)) {
		interval_set_bounds(&r->iv, min_ms, max_ms);
		__atomic_store_n(&r->stats.interval_ms, r->iv.cur_ms, __ATOMIC_RELAXED);
		/* A bound that came down applies now, not after the old wait. */
		if (r->poll_due_ns > spt_now_ns() + (uint64_t)r->iv.cur_ms * 1000000ull)
			r->poll_due_ns = spt_now_ns() + (uint64_t)r->iv.cur_ms * 1000000ull;
	}
	if (__atomic_exchange_n(&r->hurry, false, __ATOMIC_RELAXED)) {
		r->iv.cur_ms = r->iv.min_ms;
		r->poll_due_ns = 0;
	}
	if (spt_now_ns() < r->poll_due_ns)
		return 0;
	ret = reader_full_read_publish(r, NULL, SHADOWPT__CAUSE__CAUSE_POLL);
	r->poll_due_ns = spt_now_ns() + (uint64_t)interval_with_cost(interval_next(&r->iv, ret > 0),
								 r->last_full_ns) *
					1000000ull;
	__atomic_store_n(&r->stats.interval_ms, r->iv.cur_ms, __ATOMIC_RELAXED);
	return ret;
}

static void reader_loop(struct spt_reader *r)
{
	interval_init(&r->iv, __atomic_load_n(&r->min_ms, __ATOMIC_RELAXED),
		      __atomic_load_n(&r->max_ms, __ATOMIC_RELAXED), SPT_SAMPLE_MIN_MS_DEFAULT,
		      SPT_SAMPLE_MAX_MS_DEFAULT);
	r->poll_due_ns = spt_now_ns() + (uint64_t)r->iv.cur_ms * 1000000ull;
	r->reconcile_due_ns = spt_now_ns() + reconcile_period_ns(r);
	while (!stopping(r)) {
		bool events = __atomic_load_n(&r->mode, __ATOMIC_RELAXED) == SPT_MODE_EVENTS;
		unsigned woke;
		uint64_t due = events ? r->reconcile_due_ns : r->poll_due_ns;

		for (size_t i = 0; i < r->nretries && events; i++)
			if (r->retries[i].due_ns < due)
				due = r->retries[i].due_ns;
		if (events && r->drain_due_ns && r->drain_due_ns < due)
			due = r->drain_due_ns;
		woke = wait_events(r, due);
		if (woke & WOKE_CMD) {
			efd_clear(r->cmd_efd);
			if (stopping(r))
				break;
			do_peeks(r);
		}
		if ((woke & WOKE_EXIT) && spt_pidfd_exited(r->pidfd)) {
			reader_post_gone(r);
			break;
		}
		if ((events ? events_round(r) : poll_round(r)) == -ESRCH)
			break;
	}
}

static void *reader_main(void *arg)
{
	struct spt_reader *r = arg;
	struct spt_reader_msg *m = msg_new(SPT_RMSG_OPENED);

	if (!m) {
		m = msg_new(SPT_RMSG_OPEN_FAILED);
		/* Without even that the loop never hears back: it is OOM anyway. */
	} else if (reader_open(r, m) < 0) {
		m->type = SPT_RMSG_OPEN_FAILED;
	}
	if (m) {
		bool ok = m->type == SPT_RMSG_OPENED;

		post(r, m);
		if (ok)
			reader_loop(r);
	}
	if (r->handle)
		r->ops->close(r->handle);
	r->handle = NULL;
	close(r->epfd);
	close(r->pidfd);
	spt_state_free(&r->known);
	spt_state_free(&r->next);
	spt_state_free(&r->fresh);
	spt_state_free(&r->vbefore);
	spt_delta_free(&r->delta);
	spt_delta_free(&r->vdelta);
	spt_batch_free(&r->batch);
	spt_batch_free(&r->late);
	free(r->retries);
	free(r->segs);
	reader_put(r);
	return NULL;
}

/* ---- the loop's side ---- */

void spt_reader_set_initial_caps(size_t runs, size_t vmas)
{
	initial_runs = runs;
	initial_vmas = vmas;
}

struct spt_reader *spt_reader_start(const struct spt_backend_ops *ops, int requested, pid_t pid,
				    int pidfd, uint64_t start, uint64_t end, bool events)
{
	struct spt_reader *r = calloc(1, sizeof(*r));
	struct epoll_event cmd_ev = {.events = EPOLLIN, .data.u64 = WOKE_CMD};
	struct epoll_event exit_ev = {.events = EPOLLIN, .data.u64 = WOKE_EXIT};
	sigset_t all, old;
	pthread_attr_t attr;
	int err;

	if (!r)
		return NULL;
	r->ops = ops;
	r->requested = requested;
	r->events_allowed = events;
	r->pid = pid;
	r->start = start;
	r->end = end;
	r->refs = 2; /* the loop's and the thread's */
	r->tailp = &r->head;
	r->pidfd = r->epfd = r->out_pipe[0] = r->out_pipe[1] = r->cmd_efd = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->space, NULL);
	pthread_cond_init(&r->room, NULL);
	r->max_runs = initial_runs;
	r->max_vmas = initial_vmas;
	spt_state_init(&r->known);
	spt_state_init(&r->next);
	spt_state_init(&r->fresh);
	spt_state_init(&r->vbefore);
	spt_delta_init(&r->delta);
	spt_delta_init(&r->vdelta);
	spt_batch_init(&r->batch);
	spt_batch_init(&r->late);
	apply_limits(r);
	r->pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (pipe2(r->out_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		r->out_pipe[0] = r->out_pipe[1] = -1;
	r->cmd_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->pidfd < 0 || r->epfd < 0 || r->out_pipe[0] < 0 || r->cmd_efd < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->cmd_efd, &cmd_ev) < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->pidfd, &exit_ev) < 0)
		goto fail;
	/* Signals are the loop's: the thread starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, READER_STACK_SIZE);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	err = pthread_create(&r->thread, &attr, reader_main, r);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		errno = err;
		goto fail;
	}
	return r;
fail:
	err = errno;
	if (r->pidfd >= 0)
		close(r->pidfd);
	if (r->epfd >= 0)
		close(r->epfd);
	reader_free(r);
	errno = err;
	return NULL;
}

int spt_reader_fd(const struct spt_reader *r)
{
	return r->out_pipe[0];
}

struct spt_reader_msg *spt_reader_take(struct spt_reader *r)
{
	struct spt_reader_msg *list;

	pipe_clear(r->out_pipe[0]);
	pthread_mutex_lock(&r->lock);
	list = r->head;
	r->head = NULL;
	r->tailp = &r->head;
	r->nqueued = 0;
	r->queued_runs = 0;
	pthread_cond_signal(&r->space);
	pthread_mutex_unlock(&r->lock);
	return list;
}

int spt_reader_peek(struct spt_reader *r, uint64_t cookie, uint64_t vaddr,
		    const struct spt_peer *peer)
{
	struct peek_cmd *pc = calloc(1, sizeof(*pc));

	if (!pc)
		return -ENOMEM;
	pc->cookie = cookie;
	pc->vaddr = vaddr;
	pc->peer = *peer;
	pthread_mutex_lock(&r->lock);
	pc->next = r->peeks;
	r->peeks = pc;
	pthread_mutex_unlock(&r->lock);
	efd_signal(r->cmd_efd);
	return 0;
}

void spt_reader_set_bounds(struct spt_reader *r, uint32_t min_ms, uint32_t max_ms, bool hurry)
{
	uint64_t cur = __atomic_load_n(&r->stats.interval_ms, __ATOMIC_RELAXED);

	__atomic_store_n(&r->min_ms, min_ms, __ATOMIC_RELAXED);
	__atomic_store_n(&r->max_ms, max_ms, __ATOMIC_RELAXED);
	/* What status shows at once; the reader applies the same on its next round. */
	cur = hurry || cur < min_ms ? min_ms : cur > max_ms ? max_ms : cur;
	__atomic_store_n(&r->stats.interval_ms, cur, __ATOMIC_RELAXED);
	if (hurry) {
		__atomic_store_n(&r->hurry, true, __ATOMIC_RELAXED);
		efd_signal(r->cmd_efd);
	}
}

void spt_reader_answer_room(struct spt_reader *r, size_t max_runs, size_t max_vmas, bool granted)
{
	pthread_mutex_lock(&r->lock);
	if (granted) {
		r->max_runs = max_runs;
		r->max_vmas = max_vmas;
	}
	r->room_refused = !granted;
	r->room_gen++;
	pthread_cond_broadcast(&r->room);
	pthread_mutex_unlock(&r->lock);
}

uint64_t spt_reader_busy_since(const struct spt_reader *r)
{
	return __atomic_load_n(&r->busy_since, __ATOMIC_RELAXED);
}

const struct spt_reader_stats *spt_reader_stats(const struct spt_reader *r)
{
	return &r->stats;
}

enum spt_reader_mode spt_reader_mode(const struct spt_reader *r)
{
	return (enum spt_reader_mode)__atomic_load_n(&r->mode, __ATOMIC_RELAXED);
}

void spt_reader_stop(struct spt_reader *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stopping = true;
	pthread_cond_broadcast(&r->space);
	pthread_cond_broadcast(&r->room);
	pthread_mutex_unlock(&r->lock);
	efd_signal(r->cmd_efd);
	reader_put(r);
}
