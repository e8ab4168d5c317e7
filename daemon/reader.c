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

#include "interval.h"
#include "log.h"
#include "reader.h"
#include "wire.h"

/* Full reads that fail with -EAGAIN (the target changed under us) are retried this long. */
#define READER_FULL_READ_PATIENCE_MS 5000u
#define READER_STACK_SIZE	     (512u * 1024u)

struct peek_cmd {
	struct peek_cmd *next;
	uint64_t cookie, vaddr;
	struct spt_peer peer;
};

/* A fault re-read that showed nothing yet: the PTE may still be on its way. */
struct retry {
	uint64_t page, time_ns, due_ns;
	int32_t tid;
	uint8_t cause;
	unsigned attempts;
};

/*
 * Changes so far in d, in O(1): runs only ever get appended or extend the
 * last one, so its count and the last run's length say whether a call
 * added anything.
 */
static uint64_t delta_mark(const struct spt_delta *d)
{
	return (uint64_t)d->nruns << 40 ^ (d->nruns ? d->runs[d->nruns - 1].npages : 0);
}

/* One range to re-read, with the cause of the last event that touched it. */

struct segment {
	uint64_t start, end, time_ns;
	int32_t tid;
	uint8_t cause;
	bool fault; /* a fault window: retried when it shows nothing */
	bool widened; /* a changed VMA's extent beyond what its event named */
	unsigned attempts;
	uint64_t fault_page; /* the faulting page, whose window is recomputed on retry */
};

struct spt_reader {
	/* Set at start, then read-only. */
	const struct spt_backend_ops *ops;
	int requested;
	bool events_allowed;
	pid_t pid;
	int pidfd;
	uint64_t start, end;
	pthread_t thread;

	/* Shared with the loop, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t space; /* the loop took messages, or stop */
	int refs;
	bool stopping;
	struct spt_reader_msg *head, **tailp;
	unsigned nqueued;
	struct peek_cmd *peeks;
	int out_efd; /* loop waits on it */
	int cmd_efd; /* reader waits on it */
	uint64_t busy_since;   /* atomic */
	uint32_t min_ms, max_ms; /* polling bounds, atomic */
	bool hurry;		 /* atomic: a viewer joined, poll now */
	int mode;		 /* atomic */
	struct spt_reader_stats stats; /* written by the reader, read by the loop */

	/* The reader's own. */
	void *handle;
	int epfd;
	struct spt_state known, next, fresh;
	struct spt_state vbefore; /* known's VMAs before a batch that changes them */
	struct spt_delta delta, vdelta;
	struct spt_batch batch;
	struct spt_interval iv;
	struct retry *retries;
	size_t nretries, retries_cap;
	struct segment *segs;
	size_t nsegs, segs_cap;
	uint64_t poll_due_ns, reconcile_due_ns;
	uint64_t drain_due_ns; /* the event source asked to be drained again by then */
	/* The first event of a batch that changed pages: what the delta is named by. */
	struct {
		bool set;
		uint8_t cause;
		int32_t tid;
		uint64_t vaddr, time_ns;
	} first_change;
	uint64_t last_full_ns; /* what the last full read cost */
	int failing;	       /* last error posted, 0 when reads work */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void busy(struct spt_reader *r)
{
	__atomic_store_n(&r->busy_since, now_ns(), __ATOMIC_RELAXED);
}

static void idle(struct spt_reader *r)
{
	__atomic_store_n(&r->busy_since, 0, __ATOMIC_RELAXED);
}

static void stat_add(uint64_t *v, uint64_t n)
{
	__atomic_store_n(v, *v + n, __ATOMIC_RELAXED);
}

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

void spt_reader_msg_free(struct spt_reader_msg *m)
{
	if (!m)
		return;
	spt_state_free(&m->state);
	spt_delta_free(&m->delta);
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

/* Queues m for the loop; waits while the loop is SPT_READER_QUEUE_MAX behind. */
static void post(struct spt_reader *r, struct spt_reader_msg *m)
{
	pthread_mutex_lock(&r->lock);
	while (r->nqueued >= SPT_READER_QUEUE_MAX && !r->stopping)
		pthread_cond_wait(&r->space, &r->lock);
	m->next = NULL;
	*r->tailp = m;
	r->tailp = &m->next;
	r->nqueued++;
	pthread_mutex_unlock(&r->lock);
	efd_signal(r->out_efd);
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
	if (r->out_efd >= 0)
		close(r->out_efd);
	if (r->cmd_efd >= 0)
		close(r->cmd_efd);
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->space);
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

/*
 * The whole window into r->next: retried while the target changes under
 * the read (-EAGAIN), up to READER_FULL_READ_PATIENCE_MS.
 */
static int full_read(struct spt_reader *r)
{
	uint64_t t0 = now_ns(), deadline = t0 + READER_FULL_READ_PATIENCE_MS * 1000000ull;
	unsigned backoff_us = 100;
	int ret;

	for (;;) {
		spt_state_clear(&r->next);
		busy(r);
		ret = r->ops->sample(r->handle, &r->next);
		idle(r);
		if (ret != -EAGAIN && ret != -EINVAL)
			break;
		/* -EINVAL: maps read across a change (out of order); try again too. */
		if (now_ns() > deadline || stopping(r))
			break;
		usleep(backoff_us);
		if (backoff_us < 20000)
			backoff_us *= 2;
	}
	r->last_full_ns = now_ns() - t0;
	stat_add(&r->stats.reads, 1);
	stat_add(&r->stats.read_ns, r->last_full_ns);
	return ret;
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

static void post_gone(struct spt_reader *r)
{
	struct spt_reader_msg *m = msg_new(SPT_RMSG_GONE);

	if (m)
		post(r, m);
}

/*
 * Posts r->delta if it says anything, with meta from the batch that
 * caused it. 1 if posted, 0 if there was nothing to say.
 */
static int publish(struct spt_reader *r, const struct spt_batch *b, uint8_t cause, bool exec,
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
	m->read_ns = now_ns() - t0;
	post(r, m);
	return 1;
}

/* A full read, diffed against what we knew, published with cause (see publish). */
static int full_read_publish(struct spt_reader *r, const struct spt_batch *b, uint8_t cause)
{
	uint64_t t0 = now_ns();
	bool exec;
	int ret = full_read(r);

	if (ret == -ESRCH) {
		post_gone(r);
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
	r->nretries = 0; /* everything was just read */
	r->first_change.set = false;
	return publish(r, b, exec ? SHADOWPT__CAUSE__CAUSE_EXEC : cause, exec, t0);
}

/* ---- targeted re-reads after events ---- */

static int push_segment(struct spt_reader *r, const struct segment *s)
{
	if (r->nsegs == r->segs_cap) {
		size_t ncap = r->segs_cap ? r->segs_cap * 2 : 64;
		void *n = realloc(r->segs, ncap * sizeof(*r->segs));

		if (!n)
			return -ENOMEM;
		r->segs = n;
		r->segs_cap = ncap;
	}
	r->segs[r->nsegs++] = *s;
	return 0;
}

static int cmp_segment(const void *a, const void *b)
{
	const struct segment *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmp_u64(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return *x < *y ? -1 : *x > *y;
}

/*
 * Makes r->segs sorted and disjoint. Where events overlap, each piece
 * gets the cause of the latest event covering it: that is what happened
 * last to those pages. Adjacent pieces with one cause are merged so that
 * they are read together. O(n log n) plus the overlap depth, which events
 * rarely have.
 */
static int normalize_segments(struct spt_reader *r)
{
	size_t n = r->nsegs, npts = 0, next = 0, nact = 0, w = 0;
	struct segment *in = r->segs, *out = NULL;
	uint64_t *pts = NULL;
	size_t *act = NULL;
	int ret = -ENOMEM;

	if (n < 2)
		return 0;
	qsort(in, n, sizeof(*in), cmp_segment);
	pts = malloc(2 * n * sizeof(*pts));
	act = malloc(n * sizeof(*act));
	out = malloc(2 * n * sizeof(*out));
	if (!pts || !act || !out)
		goto done;
	for (size_t i = 0; i < n; i++) {
		pts[npts++] = in[i].start;
		pts[npts++] = in[i].end;
	}
	qsort(pts, npts, sizeof(*pts), cmp_u64);
	for (size_t p = 0; p + 1 < npts; p++) {
		uint64_t a = pts[p], b = pts[p + 1];
		const struct segment *best = NULL;

		if (a == b)
			continue;
		while (next < n && in[next].start <= a)
			act[nact++] = next++;
		for (size_t k = 0; k < nact;) {
			if (in[act[k]].end <= a) {
				act[k] = act[--nact];
				continue;
			}
			if (!best || in[act[k]].time_ns > best->time_ns)
				best = &in[act[k]];
			k++;
		}
		if (!best)
			continue;
		/*
		 * A VMA that changed is re-read whole, but what its event did to
		 * pages is within the range the event named: another event that
		 * names this piece says better what happened to it.
		 */
		if (best->widened) {
			for (size_t k = 0; k < nact; k++) {
				const struct segment *c = &in[act[k]];

				if (!c->widened && (best->widened || c->time_ns > best->time_ns))
					best = c;
			}
		}
		if (w && out[w - 1].end == a && out[w - 1].cause == best->cause &&
		    out[w - 1].fault == best->fault) {
			out[w - 1].end = b;
			continue;
		}
		out[w] = *best;
		out[w].start = a;
		out[w].end = b;
		w++;
	}
	free(r->segs);
	r->segs = out;
	r->segs_cap = 2 * n;
	r->nsegs = w;
	out = NULL;
	ret = 0;
done:
	free(pts);
	free(act);
	free(out);
	return ret;
}

/*
 * Reads the fault again later: after a backoff when it showed nothing
 * yet (the sample is taken as the fault starts), at once when a THP
 * reaches beyond what was read (its window is recomputed then).
 */
static void add_retry(struct spt_reader *r, const struct segment *s, bool now)
{
	static const uint32_t backoff_us[SPT_FAULT_RETRIES] = {20,    100,    500,	 2000,
								10000, 50000, 250000, 1000000};
	struct retry *rt;

	if (s->attempts >= SPT_FAULT_RETRIES) {
		log_debug("reader pid %d: the fault at %#llx never showed; the reconcile pass will see",
			  (int)r->pid, (unsigned long long)s->fault_page);
		return;
	}
	if (r->nretries == r->retries_cap) {
		size_t ncap = r->retries_cap ? r->retries_cap * 2 : 16;
		void *n = realloc(r->retries, ncap * sizeof(*r->retries));

		if (!n)
			return;
		r->retries = n;
		r->retries_cap = ncap;
	}
	rt = &r->retries[r->nretries++];
	*rt = (struct retry){
	    .page = s->fault_page,
	    .time_ns = s->time_ns,
	    .due_ns = now ? 0 : now_ns() + backoff_us[s->attempts] * 1000ull,
	    .tid = s->tid,
	    .cause = s->cause,
	    .attempts = s->attempts + 1,
	};
	stat_add(&r->stats.retries, 1);
}

/*
 * Did a fault in a file or shared VMA (fault-around, large folios) change
 * the first or last page of its window, where the VMA goes on? Then it
 * may have mapped more than the window: the reader looks again, wider.
 */
static bool change_at_edge(const struct spt_reader *r, const struct segment *s, uint64_t before)
{
	const struct spt_vma *v = spt_state_find_vma(&r->known, s->start);
	const struct spt_run *last;

	if (!v || (v->kind != SPT_VMA_FILE && v->kind != SPT_VMA_SHARED_ANON) ||
	    delta_mark(&r->delta) == before || !r->delta.nruns)
		return false;
	last = &r->delta.runs[r->delta.nruns - 1];
	/* The changes of this segment are the delta's tail, in order. */
	for (size_t i = r->delta.nruns; i-- > 0;) {
		const struct spt_run *c = &r->delta.runs[i];

		if (c->vaddr + c->npages * SPT_PAGE_SIZE <= s->start)
			break;
		if (c->vaddr <= s->start && s->start > v->start)
			return true;
	}
	return last->vaddr + last->npages * SPT_PAGE_SIZE >= s->end && s->end < v->end;
}

/*
 * Moves retries that are due into the batch, as the faults they were. A
 * thread that has done something since (an event in this batch) is out
 * of its fault: its retries are due now.
 */
static int take_due_retries(struct spt_reader *r, uint64_t now)
{
	/* (Bounded: in a burst the backoff alone will do.) */
	for (size_t i = 0; i < r->nretries && r->nretries * r->batch.nev <= 100000; i++) {
		for (size_t k = 0; k < r->batch.nev && r->retries[i].due_ns > now; k++)
			if (r->batch.ev[k].tid == r->retries[i].tid)
				r->retries[i].due_ns = now;
	}
	for (size_t i = 0; i < r->nretries;) {
		struct retry *rt = &r->retries[i];
		struct spt_event ev = {
		    .start = rt->page,
		    .end = rt->page + SPT_PAGE_SIZE,
		    .time_ns = rt->time_ns,
		    .tid = rt->tid,
		    .cause = rt->cause,
		    .fault = true,
		    .attempts = (uint8_t)rt->attempts,
		};

		if (rt->due_ns > now) {
			i++;
			continue;
		}
		if (spt_batch_add(&r->batch, &ev) < 0)
			return -ENOMEM;
		*rt = r->retries[--r->nretries];
	}
	return 0;
}

/* [a, b) widened to whole known VMAs at both ends. */
static void widen_to_known(const struct spt_state *st, uint64_t *a, uint64_t *b)
{
	const struct spt_vma *v = spt_state_find_vma(st, *a);

	if (v && v->start < *a)
		*a = v->start;
	v = spt_state_find_vma(st, *b - 1);
	if (v && v->end > *b)
		*b = v->end;
}

/* known's VMAs with those inside [a, b) replaced by fresh's, into out. */
static int vmas_replaced(const struct spt_state *known, const struct spt_state *fresh,
			 uint64_t a, uint64_t b, struct spt_state *out)
{
	size_t i = 0, j = 0;
	int ret = 0;

	spt_state_clear(out);
	while (!ret && i < known->nvmas && known->vmas[i].end <= a)
		ret = spt_state_append_vma(out, &known->vmas[i++]);
	while (i < known->nvmas && known->vmas[i].start < b)
		i++;
	while (!ret && j < fresh->nvmas)
		ret = spt_state_append_vma(out, &fresh->vmas[j++]);
	while (!ret && i < known->nvmas)
		ret = spt_state_append_vma(out, &known->vmas[i++]);
	return ret;
}

/*
 * Re-reads the VMAs around [a, b) and installs them in known; the ranges
 * of VMAs that changed become segments (their pages' flags or existence
 * changed with them). The delta's VMA part is computed once per batch,
 * from r->vbefore.
 */
static int update_vmas_range(struct spt_reader *r, uint64_t a, uint64_t b, const struct segment *why)
{
	int ret;

	if (a < r->start)
		a = r->start;
	if (b > r->end)
		b = r->end;
	if (a >= b)
		return 0;
	widen_to_known(&r->known, &a, &b);
	/* A VMA that merged with a neighbour reaches beyond: widen until stable. */
	for (int pass = 0;; pass++) {
		uint64_t na = a, nb = b;

		spt_state_clear(&r->fresh);
		busy(r);
		ret = r->ops->read_vmas(r->handle, a, b, &r->fresh);
		idle(r);
		if (ret)
			return ret;
		if (r->fresh.nvmas) {
			if (r->fresh.vmas[0].start < na)
				na = r->fresh.vmas[0].start;
			if (r->fresh.vmas[r->fresh.nvmas - 1].end > nb)
				nb = r->fresh.vmas[r->fresh.nvmas - 1].end;
		}
		widen_to_known(&r->known, &na, &nb);
		if (na == a && nb == b)
			break;
		if (pass == 4)
			return -EAGAIN; /* still moving: the caller re-reads everything */
		a = na;
		b = nb;
	}
	ret = vmas_replaced(&r->known, &r->fresh, a, b, &r->next);
	if (!ret) {
		spt_delta_clear(&r->vdelta);
		ret = spt_state_diff_vmas(&r->known, &r->next, &r->vdelta);
	}
	if (ret || (!r->vdelta.nvmas_removed && !r->vdelta.nvmas_added))
		return ret;
	ret = spt_state_apply(&r->known, &r->vdelta);
	for (size_t i = 0; !ret && i < r->vdelta.nvmas_removed + r->vdelta.nvmas_added; i++) {
		struct segment s = *why;
		bool rm = i < r->vdelta.nvmas_removed;

		s.start = rm ? r->vdelta.vmas_removed[i].start
			     : r->vdelta.vmas_added[i - r->vdelta.nvmas_removed].start;
		s.end = rm ? r->vdelta.vmas_removed[i].end
			   : r->vdelta.vmas_added[i - r->vdelta.nvmas_removed].end;
		s.fault = false;
		s.widened = true;
		ret = push_segment(r, &s);
	}
	return ret;
}

/* The batch's events as segments, VMAs re-read first where they name them. */
static int batch_segments(struct spt_reader *r, bool *vmas_touched)
{
	struct spt_batch *b = &r->batch;
	int ret = 0;

	*vmas_touched = b->all_vmas;
	for (size_t i = 0; i < b->nev; i++) {
		struct spt_event *ev = &b->ev[i];

		/*
		 * A fault outside every known VMA: the stack grew, a VMA we have
		 * not heard of yet (its syscall is in this batch), or a SIGSEGV.
		 */
		if (ev->fault && !ev->vmas && ev->start >= r->start && ev->start < r->end &&
		    !spt_state_find_vma(&r->known, ev->start))
			ev->vmas = true;
		*vmas_touched |= ev->vmas;
	}
	if (*vmas_touched) {
		/* The delta's VMA part is before -> after, however many steps. */
		spt_state_clear(&r->vbefore);
		for (size_t i = 0; i < r->known.nvmas && !ret; i++)
			ret = spt_state_append_vma(&r->vbefore, &r->known.vmas[i]);
		if (ret)
			return ret;
	}
	if (b->all_vmas) {
		struct segment s = {.time_ns = b->first_ns, .tid = b->first_tid,
				    .cause = b->first_cause};

		ret = update_vmas_range(r, r->start, r->end, &s);
	}
	for (size_t i = 0; i < b->nev && !ret; i++) {
		const struct spt_event *ev = &b->ev[i];
		struct segment s = {.start = ev->start, .end = ev->end, .time_ns = ev->time_ns,
				    .tid = ev->tid, .cause = ev->cause, .fault = ev->fault,
				    .attempts = ev->attempts, .fault_page = ev->start};

		if (ev->vmas)
			ret = update_vmas_range(r, ev->start, ev->end, &s);
		if (ret)
			break;
		if (ev->fault && ev->vmas) {
			const struct spt_vma *v = spt_state_find_vma(&r->known, ev->start);

			if (v && !strncmp(v->name, "[stack", 6))
				s.cause = SHADOWPT__CAUSE__CAUSE_STACK_GROWTH;
		}
		if (s.start < r->start)
			s.start = r->start;
		if (s.end > r->end)
			s.end = r->end;
		if (s.start >= s.end)
			continue;
		if (ev->fault) {
			const struct spt_vma *v = spt_state_find_vma(&r->known, s.start);

			if (!v)
				continue; /* a fault outside every VMA changes nothing */
			if (r->ops->fault_window)
				r->ops->fault_window(r->handle, v, ev->start, ev->attempts, &s.start,
						     &s.end);
			if (s.start < v->start)
				s.start = v->start;
			if (s.end > v->end)
				s.end = v->end;
		}
		ret = push_segment(r, &s);
	}
	return ret;
}

/*
 * A zap (MADV_DONTNEED) that later events of the same batch fault back in
 * would vanish in one read of the result, the same frames often coming
 * back: so the zap goes out first, as its own delta, its range emptied
 * without a read (that is what it did). Returns 0 or -errno.
 */
static int publish_zaps(struct spt_reader *r)
{
	struct spt_batch *b = &r->batch;
	int ret = 0;

	for (size_t i = 0; i < b->nev && ret >= 0; i++) {
		const struct spt_event *z = &b->ev[i];
		uint64_t a = z->start < r->start ? r->start : z->start;
		uint64_t e = z->end > r->end ? r->end : z->end;
		bool later = false;

		if (!z->zap || a >= e)
			continue;
		for (size_t k = 0; k < b->nev && !later; k++)
			later = b->ev[k].time_ns > z->time_ns && b->ev[k].start < e &&
				b->ev[k].end > a;
		if (!later)
			continue;
		spt_delta_clear(&r->delta);
		spt_state_clear(&r->fresh);
		ret = spt_state_update_pages(&r->known, a, e, &r->fresh, z->cause, &r->delta);
		if (ret < 0)
			break;
		r->first_change = (typeof(r->first_change)){
		    .set = true, .cause = z->cause, .tid = z->tid, .time_ns = z->time_ns,
		    .vaddr = z->start};
		ret = publish(r, b, z->cause, false, now_ns());
	}
	r->first_change.set = false;
	return ret < 0 ? ret : 0;
}

/*
 * One batch of events: VMAs first (they decide what pages mean), then
 * every touched range's pages, each diffed against known and applied.
 * Returns 1 if a delta was published, 0 if nothing changed, -errno.
 */
static int process_batch(struct spt_reader *r)
{
	struct spt_batch *b = &r->batch;
	uint64_t t0 = now_ns();
	bool vmas_touched = false;
	uint8_t cause;
	int ret;

	stat_add(&r->stats.events, b->nevents);
	stat_add(&r->stats.lost, b->lost);
	if (b->full) {
		r->nsegs = 0;
		return full_read_publish(r, b, b->full_cause);
	}
	ret = publish_zaps(r);
	spt_delta_clear(&r->delta);
	r->first_change.set = false;
	if (!ret)
		ret = batch_segments(r, &vmas_touched);
	if (!ret)
		ret = normalize_segments(r);
	/* Pages, segment by segment, in ascending order. */
	for (size_t i = 0; i < r->nsegs && !ret; i++) {
		const struct segment *s = &r->segs[i];
		size_t before = spt_delta_npages(&r->delta);

		bool huge;

		spt_state_clear(&r->fresh);
		busy(r);
		ret = r->ops->read_pages(r->handle, &r->known, s->start, s->end, &r->fresh);
		idle(r);
		huge = ret == 1;
		if (ret > 0)
			ret = 0;
		if (!ret)
			ret = spt_state_update_pages(&r->known, s->start, s->end, &r->fresh,
						     s->cause, &r->delta);
		if (!ret && !r->first_change.set && delta_mark(&r->delta) != before)
			r->first_change = (typeof(r->first_change)){
			    .set = true, .cause = s->cause, .tid = s->tid, .time_ns = s->time_ns,
			    .vaddr = s->fault ? s->fault_page : s->start};
		if (!ret && s->fault && (huge || delta_mark(&r->delta) == before))
			add_retry(r, s, huge);
		else if (!ret && s->fault && change_at_edge(r, s, before))
			add_retry(r, s, true); /* it may reach beyond: look wider at once */
	}
	log_debug("reader pid %d: %u events, %zu segments, %zu runs changed%s", (int)r->pid,
		  b->nevents, r->nsegs, r->delta.nruns, vmas_touched ? ", VMAs re-read" : "");
	r->nsegs = 0;
	if (!ret && vmas_touched)
		ret = spt_state_diff_vmas(&r->vbefore, &r->known, &r->delta);
	if (ret == -ESRCH) {
		post_gone(r);
		return ret;
	}
	if (ret < 0) {
		/* A targeted read failed or raced: a full read decides what is true. */
		log_debug("reader pid %d: targeted read: %s; reading all", (int)r->pid,
			  strerror(-ret));
		return full_read_publish(r, b, SHADOWPT__CAUSE__CAUSE_RESYNC);
	}
	stat_add(&r->stats.reads, 1);
	stat_add(&r->stats.read_ns, now_ns() - t0);
	cause = spt_delta_common_cause(&r->delta);
	if (!cause)
		cause = b->first_cause;
	return publish(r, b, cause, false, t0);
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
			log_info("pid %d: %s backend: %s; falling back to %s", (int)r->pid,
				 r->ops->name, bwhy[0] ? bwhy : strerror(-ret), alt->name);
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
			log_notice("pid %d: no events, polling: %s", (int)r->pid, m->mode_reason);
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

static void wait_events(struct spt_reader *r, uint64_t due_ns)
{
	struct epoll_event evs[8];
	struct timespec ts = {3600, 0};
	uint64_t now = now_ns();

	if (due_ns <= now) {
		ts.tv_sec = 0;
	} else if (due_ns - now < 3600 * 1000000000ull) {
		ts.tv_sec = (time_t)((due_ns - now) / 1000000000ull);
		ts.tv_nsec = (long)((due_ns - now) % 1000000000ull);
	}
	/* Readiness only: every source is drained after. */
	epoll_pwait2(r->epfd, evs, 8, &ts, NULL);
}

/* One round in event mode: drain, re-read, publish; reconcile when due. */
static int events_round(struct spt_reader *r)
{
	uint64_t now = now_ns();
	int ret = 0;

	spt_batch_clear(&r->batch);
	r->nsegs = 0;
	if (r->ops->events_drain(r->handle, &r->batch) < 0)
		spt_batch_full(&r->batch, now, 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
	r->drain_due_ns = r->batch.poll_ns ? now + r->batch.poll_ns : 0;
	if (r->batch.creds) {
		struct spt_reader_msg *m = msg_new(SPT_RMSG_CREDS);

		if (m)
			post(r, m);
	}
	if (take_due_retries(r, now) < 0)
		spt_batch_full(&r->batch, now, 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
	if (!spt_batch_empty(&r->batch))
		ret = process_batch(r);
	if (ret != -ESRCH && now_ns() >= r->reconcile_due_ns) {
		stat_add(&r->stats.reconciles, 1);
		ret = full_read_publish(r, NULL, SHADOWPT__CAUSE__CAUSE_RECONCILE);
		r->reconcile_due_ns = now_ns() + reconcile_period_ns(r);
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
		if (r->poll_due_ns > now_ns() + (uint64_t)r->iv.cur_ms * 1000000ull)
			r->poll_due_ns = now_ns() + (uint64_t)r->iv.cur_ms * 1000000ull;
	}
	if (__atomic_exchange_n(&r->hurry, false, __ATOMIC_RELAXED)) {
		r->iv.cur_ms = r->iv.min_ms;
		r->poll_due_ns = 0;
	}
	if (now_ns() < r->poll_due_ns)
		return 0;
	ret = full_read_publish(r, NULL, SHADOWPT__CAUSE__CAUSE_POLL);
	r->poll_due_ns = now_ns() + (uint64_t)interval_with_cost(interval_next(&r->iv, ret > 0),
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
	r->poll_due_ns = now_ns() + (uint64_t)r->iv.cur_ms * 1000000ull;
	r->reconcile_due_ns = now_ns() + reconcile_period_ns(r);
	while (!stopping(r)) {
		bool events = __atomic_load_n(&r->mode, __ATOMIC_RELAXED) == SPT_MODE_EVENTS;
		uint64_t due = events ? r->reconcile_due_ns : r->poll_due_ns;

		for (size_t i = 0; i < r->nretries && events; i++)
			if (r->retries[i].due_ns < due)
				due = r->retries[i].due_ns;
		if (events && r->drain_due_ns && r->drain_due_ns < due)
			due = r->drain_due_ns;
		wait_events(r, due);
		efd_clear(r->cmd_efd);
		if (stopping(r))
			break;
		do_peeks(r);
		if (spt_pidfd_exited(r->pidfd)) {
			post_gone(r);
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
	free(r->retries);
	free(r->segs);
	reader_put(r);
	return NULL;
}

/* ---- the loop's side ---- */

struct spt_reader *spt_reader_start(const struct spt_backend_ops *ops, int requested, pid_t pid,
				    int pidfd, uint64_t start, uint64_t end, bool events)
{
	struct spt_reader *r = calloc(1, sizeof(*r));
	struct epoll_event ev = {.events = EPOLLIN};
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
	r->pidfd = r->epfd = r->out_efd = r->cmd_efd = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->space, NULL);
	spt_state_init(&r->known);
	spt_state_init(&r->next);
	spt_state_init(&r->fresh);
	spt_state_init(&r->vbefore);
	spt_delta_init(&r->delta);
	spt_delta_init(&r->vdelta);
	spt_batch_init(&r->batch);
	r->pidfd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	r->out_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->cmd_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->pidfd < 0 || r->epfd < 0 || r->out_efd < 0 || r->cmd_efd < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->cmd_efd, &ev) < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->pidfd, &ev) < 0)
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
	return r->out_efd;
}

struct spt_reader_msg *spt_reader_take(struct spt_reader *r)
{
	struct spt_reader_msg *list;

	efd_clear(r->out_efd);
	pthread_mutex_lock(&r->lock);
	list = r->head;
	r->head = NULL;
	r->tailp = &r->head;
	r->nqueued = 0;
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
	pthread_mutex_unlock(&r->lock);
	efd_signal(r->cmd_efd);
	reader_put(r);
}
