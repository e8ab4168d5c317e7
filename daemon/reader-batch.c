// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * What a batch of a target's events becomes (reader-priv.h): the ranges
 * they touched, made disjoint with the cause of the last event on each
 * piece; VMAs re-read first where events name them; then each range's
 * pages re-read, diffed and applied; faults that did not show yet
 * retried; zaps that the batch faults back in published first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "log.h"
#include "reader-priv.h"
#include "wire.h"

/*
 * Changes so far in d, in O(1): runs only ever get appended or extend the
 * last one, so its count and the last run's length say whether a call
 * added anything.
 */
static uint64_t delta_mark(const struct spt_delta *d)
{
	return (uint64_t)d->nruns << 40 ^ (d->nruns ? d->runs[d->nruns - 1].npages : 0);
}

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
		    out[w - 1].fault == best->fault && out[w - 1].widened == best->widened) {
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
 * Reads the fault again later: after a backoff when it may not have
 * shown yet (the sample is taken as the fault starts), at once when a
 * THP reaches beyond what was read (its window is recomputed then). One
 * retry per page and thread: a second ask only brings it forward.
 */
static void add_retry(struct spt_reader *r, const struct segment *s, bool now)
{
	static const uint32_t backoff_us[SPT_FAULT_RETRIES] = {
	    20, 100, 500, 2000, 10000, 20000, 50000, 100000, 200000, 400000, 800000};
	struct retry *rt;

	if (s->attempts >= SPT_FAULT_RETRIES) {
		log_debug(
		    "reader pid %d: the fault at %#llx never showed; the reconcile pass will see",
		    (int)r->pid, (unsigned long long)s->fault_page);
		return;
	}
	for (size_t i = 0; i < r->nretries; i++) {
		rt = &r->retries[i];
		if (rt->page == s->fault_page && rt->tid == s->tid) {
			if (now)
				rt->due_ns = 0;
			return;
		}
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
	    .due_ns = now ? 0 : spt_now_ns() + backoff_us[s->attempts] * 1000ull,
	    .tid = s->tid,
	    .cause = s->cause,
	    .attempts = s->attempts + 1,
	};
	stat_add(&r->stats.retries, 1);
}

static void retry_event(struct spt_reader *r, const struct spt_event *ev)
{
	struct segment s = {.time_ns = ev->time_ns,
			    .tid = ev->tid,
			    .cause = ev->cause,
			    .fault = true,
			    .attempts = ev->attempts,
			    .fault_page = ev->start};

	add_retry(r, &s, false);
}

struct tid_time {
	int32_t tid;
	uint64_t time_ns;
	size_t idx;
};

/* By thread, latest first. */
static int cmp_tid_time(const void *a, const void *b)
{
	const struct tid_time *x = a, *y = b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	return x->time_ns > y->time_ns ? -1 : x->time_ns < y->time_ns;
}

static int cmp_idx(const void *a, const void *b)
{
	const struct tid_time *x = a, *y = b;

	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * The faults of b that are their thread's latest event: the only ones
 * that may still be in progress. A thread that did anything after a
 * fault (sampled before the drain, so before the read) had finished it;
 * a fault's end (done) is finished by definition.
 * Into *out (malloc'd, the events' indices); returns how many or -ENOMEM.
 */
static ssize_t last_faults(const struct spt_batch *b, size_t **out)
{
	struct tid_time *tt;
	size_t n = 0, w = 0;

	*out = NULL;
	if (!b || !b->nev)
		return 0;
	tt = malloc(b->nev * sizeof(*tt));
	*out = malloc(b->nev * sizeof(**out));
	if (!tt || !*out) {
		free(tt);
		free(*out);
		*out = NULL;
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->nev; i++)
		tt[n++] = (struct tid_time){b->ev[i].tid, b->ev[i].time_ns, i};
	qsort(tt, n, sizeof(*tt), cmp_tid_time);
	for (size_t i = 0; i < n; i++)
		if ((!i || tt[i].tid != tt[i - 1].tid) && b->ev[tt[i].idx].fault &&
		    !b->ev[tt[i].idx].done)
			(*out)[w++] = tt[i].idx;
	free(tt);
	return (ssize_t)w;
}

/*
 * Is the fault at ev over, by what was just read of its own page? (What
 * else changed in its window says nothing: another fault nearby, or
 * fault-around before the faulting page itself is mapped.) A fault maps
 * its page; a COW is over once the page is the process's own anonymous
 * copy. A COW in a shared mapping never shows: its retries run out.
 */
static bool fault_over(const struct spt_reader *r, const struct spt_event *ev)
{
	uint32_t f = spt_state_flags_at(&r->known, ev->start);

	if (!(f & SPT_F_MAPPED))
		return false;
	if (ev->cause != SHADOWPT__CAUSE__CAUSE_COW)
		return true;
	return (f & SPT_F_EXCLUSIVE) && !(f & SPT_F_FILE);
}

/* Each thread's latest fault, if what was read does not show it over, is read again. */
static int retry_unfinished_faults(struct spt_reader *r)
{
	const struct spt_batch *b = &r->batch;
	size_t *idx;
	ssize_t n = last_faults(b, &idx);

	if (n < 0)
		return (int)n;
	for (ssize_t i = 0; i < n; i++) {
		const struct spt_event *ev = &b->ev[idx[i]];

		if (ev->start < r->start || ev->start >= r->end ||
		    !spt_state_find_vma(&r->known, ev->start))
			continue;
		if (!fault_over(r, ev))
			retry_event(r, ev);
	}
	free(idx);
	return 0;
}

/*
 * After a full read: the faults that may have been in progress during
 * it are each thread's latest, pending or in b. They are read again; the
 * older retries are answered by the full read.
 */
void reader_keep_unfinished(struct spt_reader *r, const struct spt_batch *b)
{
	struct tid_time *tt = NULL;
	size_t *idx = NULL, w = 0;
	ssize_t n;

	if (r->nretries > 1 && (tt = malloc(r->nretries * sizeof(*tt)))) {
		for (size_t i = 0; i < r->nretries; i++)
			tt[i] = (struct tid_time){r->retries[i].tid, r->retries[i].time_ns, i};
		qsort(tt, r->nretries, sizeof(*tt), cmp_tid_time);
		for (size_t i = 0; i < r->nretries; i++)
			if (!i || tt[i].tid != tt[i - 1].tid)
				tt[w++] = tt[i];
		/* In their old order, so that moving each down overwrites nothing kept. */
		qsort(tt, w, sizeof(*tt), cmp_idx);
		for (size_t i = 0; i < w; i++)
			r->retries[i] = r->retries[tt[i].idx];
		r->nretries = w;
		free(tt);
	} else if (r->nretries > 1) {
		r->nretries = 0; /* out of memory: the next reconcile pass catches up */
	}
	n = last_faults(b, &idx);
	for (ssize_t i = 0; i < n; i++) {
		const struct spt_event *ev = &b->ev[idx[i]];
		size_t k = 0;

		while (k < r->nretries && r->retries[k].tid != ev->tid)
			k++;
		if (k < r->nretries) {
			if (r->retries[k].time_ns >= ev->time_ns)
				continue;
			r->retries[k] = r->retries[--r->nretries];
		}
		retry_event(r, ev);
	}
	free(idx);
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
int reader_take_due_retries(struct spt_reader *r, uint64_t now)
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

/*
 * A fault's end (spt_event.done) whose start is in the batch, or was
 * retried into it, adds nothing but the news that it is over: it stays
 * as an empty marker, the thread's latest event, so that the start is
 * read as finished and keeps its own cause (the end knows no access type).
 */
static int cmp_fault_key(const void *a, const void *b)
{
	const struct spt_event *x = *(const struct spt_event *const *)a;
	const struct spt_event *y = *(const struct spt_event *const *)b;

	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->time_ns < y->time_ns ? -1 : x->time_ns > y->time_ns;
}

static int pair_fault_ends(struct spt_batch *b)
{
	struct spt_event **starts;
	size_t n = 0, ndone = 0;

	for (size_t i = 0; i < b->nev; i++)
		ndone += b->ev[i].done;
	if (!ndone)
		return 0;
	starts = malloc(b->nev * sizeof(*starts));
	if (!starts)
		return -ENOMEM;
	for (size_t i = 0; i < b->nev; i++)
		if (b->ev[i].fault && !b->ev[i].done)
			starts[n++] = &b->ev[i];
	qsort(starts, n, sizeof(*starts), cmp_fault_key);
	for (size_t i = 0; i < b->nev; i++) {
		struct spt_event *d = &b->ev[i];
		size_t lo = 0, hi = n;

		if (!d->done)
			continue;
		/* The first start of this thread and page: any at or before d's time will do. */
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			const struct spt_event *f = starts[mid];

			if (f->tid < d->tid || (f->tid == d->tid && f->start < d->start))
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < n && starts[lo]->tid == d->tid && starts[lo]->start == d->start &&
		    starts[lo]->time_ns <= d->time_ns) {
			d->fault = d->done = false;
			d->start = d->end = 0;
		}
	}
	free(starts);
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
static int vmas_replaced(const struct spt_state *known, const struct spt_state *fresh, uint64_t a,
			 uint64_t b, struct spt_state *out)
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
static int update_vmas_range(struct spt_reader *r, uint64_t a, uint64_t b,
			     const struct segment *why)
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
		struct segment s = {
		    .time_ns = b->first_ns, .tid = b->first_tid, .cause = b->first_cause};

		ret = update_vmas_range(r, r->start, r->end, &s);
	}
	for (size_t i = 0; i < b->nev && !ret; i++) {
		const struct spt_event *ev = &b->ev[i];
		struct segment s = {.start = ev->start,
				    .end = ev->end,
				    .time_ns = ev->time_ns,
				    .tid = ev->tid,
				    .cause = ev->cause,
				    .fault = ev->fault,
				    .attempts = ev->attempts,
				    .fault_page = ev->start};

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
				r->ops->fault_window(r->handle, v, ev->start, ev->attempts,
						     &s.start, &s.end);
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
 * Pages that the read after a VMA event found mapped were, as a rule, not
 * mapped by that event: a thread faulted them meanwhile, in the time
 * between the drain and the read. Its fault was sampled before the page
 * was mapped, so a drain after the read has it. Those pages get the
 * fault's cause; the drained events stay for the next round.
 */
static int name_late_faults(struct spt_reader *r)
{
	int ret = r->ops->events_drain(r->handle, &r->late);

	if (ret < 0) {
		spt_batch_full(&r->late, spt_now_ns(), 0, SHADOWPT__CAUSE__CAUSE_RESYNC);
		return 0;
	}
	log_debug("reader pid %d: %zu ranges drained after the read", (int)r->pid, r->late.nev);
	for (size_t i = 0; i < r->late.nev; i++) {
		const struct spt_event *ev = &r->late.ev[i];
		const struct spt_vma *v;
		uint64_t a = ev->start, b = ev->end;

		if (!ev->fault || !(v = spt_state_find_vma(&r->known, a)))
			continue;
		if (r->ops->fault_window)
			r->ops->fault_window(r->handle, v, ev->start, ev->attempts, &a, &b);
		for (size_t k = 0; k < r->nsegs; k++) {
			const struct segment *s = &r->segs[k];
			uint64_t sa = a > s->start ? a : s->start, sb = b < s->end ? b : s->end;

			if (s->fault || sa >= sb)
				continue;
			ret = spt_delta_relabel_present(&r->delta, sa, sb, ev->cause);
			if (ret)
				return ret;
			if (!r->first_change.fault && r->first_change.vaddr >= s->start &&
			    r->first_change.vaddr < s->end)
				r->first_change = (typeof(r->first_change)){.set = true,
									     .fault = true,
									     .cause = ev->cause,
									     .tid = ev->tid,
									     .time_ns = ev->time_ns,
									     .vaddr = ev->start};
		}
	}
	return 0;
}

/*
 * A batch that failed half way has already changed known (VMAs re-read
 * and applied, pages updated): those changes go out first, as the delta
 * they make, so that known and the loop's copy never part (a later delta
 * computed against known would not apply to the loop's). The full read
 * that follows publishes the rest.
 */
static void publish_applied(struct spt_reader *r, const struct spt_batch *b, bool vmas_touched,
			    bool vmas_diffed, uint64_t t0)
{
	int ret = 0;

	if (vmas_diffed) {
		/* The VMA diff itself failed (out of memory): the delta is not whole. */
		log_rl(SPT_LOG_ERR, "reader pid %d: a failed batch could not be published "
		       "(out of memory)", (int)r->pid);
		spt_delta_clear(&r->delta);
		return;
	}
	if (vmas_touched)
		ret = spt_state_diff_vmas(&r->vbefore, &r->known, &r->delta);
	if (!ret)
		ret = reader_publish(r, b, SHADOWPT__CAUSE__CAUSE_RESYNC, false, t0);
	if (ret < 0) {
		log_rl(SPT_LOG_ERR, "reader pid %d: a failed batch could not be published: %s",
		       (int)r->pid, strerror(-ret));
		spt_delta_clear(&r->delta);
	}
}

/*
 * A zap (MADV_DONTNEED) that the target faults back in would vanish in
 * one read of the result, the same frames often coming back: so the zap
 * goes out first, as its own delta, its range emptied without a read
 * (that is what it did). Always, not only when the batch holds a later
 * fault: the target may already have faulted the pages back before this
 * read, with the faults' samples still to come in the next batch.
 * Returns 0 or -errno.
 */
static int publish_zaps(struct spt_reader *r)
{
	struct spt_batch *b = &r->batch;
	int ret = 0;

	for (size_t i = 0; i < b->nev && ret >= 0; i++) {
		const struct spt_event *z = &b->ev[i];
		uint64_t a = z->start < r->start ? r->start : z->start;
		uint64_t e = z->end > r->end ? r->end : z->end;

		if (!z->zap || a >= e)
			continue;
		spt_delta_clear(&r->delta);
		spt_state_clear(&r->fresh);
		ret = spt_state_update_pages(&r->known, a, e, &r->fresh, z->cause, &r->delta);
		if (ret < 0)
			break;
		r->first_change = (typeof(r->first_change)){.set = true,
							    .cause = z->cause,
							    .tid = z->tid,
							    .time_ns = z->time_ns,
							    .vaddr = z->start};
		ret = reader_publish(r, b, z->cause, false, spt_now_ns());
	}
	r->first_change.set = false;
	return ret < 0 ? ret : 0;
}

/*
 * One batch of events: VMAs first (they decide what pages mean), then
 * every touched range's pages, each diffed against known and applied.
 * Returns 1 if a delta was published, 0 if nothing changed, -errno.
 */
int reader_process_batch(struct spt_reader *r)
{
	struct spt_batch *b = &r->batch;
	uint64_t t0 = spt_now_ns();
	bool vmas_touched = false, syscall_changed = false, vmas_diffed = false;
	uint8_t cause;
	int ret;

	stat_add(&r->stats.events, b->nevents);
	stat_add(&r->stats.lost, b->lost);
	if (b->full) {
		r->nsegs = 0;
		return reader_full_read_publish(r, b, b->full_cause);
	}
	/* Over the caps, known is not the truth: only the reconcile pass reads it again. */
	if (r->failing == -E2BIG)
		return 0;
	ret = pair_fault_ends(b);
	if (!ret)
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
		if (!ret && !s->fault && delta_mark(&r->delta) != before)
			syscall_changed = true;
		if (!ret && !r->first_change.set && delta_mark(&r->delta) != before)
			r->first_change =
			    (typeof(r->first_change)){.set = true,
						      .fault = s->fault,
						      .cause = s->cause,
						      .tid = s->tid,
						      .time_ns = s->time_ns,
						      .vaddr = s->fault ? s->fault_page : s->start};
		/* (Faults still in progress: retry_unfinished_faults.) */
		if (!ret && s->fault && huge)
			add_retry(r, s, true);
		else if (!ret && s->fault && change_at_edge(r, s, before))
			add_retry(r, s, true); /* it may reach beyond: look wider at once */
	}
	if (!ret)
		ret = retry_unfinished_faults(r);
	log_debug("reader pid %d: %u events, %zu segments, %zu runs changed%s", (int)r->pid,
		  b->nevents, r->nsegs, r->delta.nruns, vmas_touched ? ", VMAs re-read" : "");
	if (!ret && syscall_changed)
		ret = name_late_faults(r);
	r->nsegs = 0;
	if (!ret && vmas_touched) {
		vmas_diffed = true;
		ret = spt_state_diff_vmas(&r->vbefore, &r->known, &r->delta);
	}
	if (ret < 0 && ret != -ESRCH)
		publish_applied(r, b, vmas_touched, vmas_diffed, t0);
	if (ret == -ESRCH) {
		reader_post_gone(r);
		return ret;
	}
	if (ret < 0) {
		/* A targeted read failed or raced: a full read decides what is true. */
		log_debug("reader pid %d: targeted read: %s; reading all", (int)r->pid,
			  strerror(-ret));
		return reader_full_read_publish(r, b, SHADOWPT__CAUSE__CAUSE_RESYNC);
	}
	stat_add(&r->stats.reads, 1);
	stat_add(&r->stats.read_ns, spt_now_ns() - t0);
	cause = spt_delta_common_cause(&r->delta);
	if (!cause)
		cause = b->first_cause;
	return reader_publish(r, b, cause, false, t0);
}
