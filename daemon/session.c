// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sessions: one per watched (pid, range), shared by all its viewers.
 * A timer samples the backend into a fresh state, diffs it against the
 * current one and publishes a non-empty delta, encoded once per pfn
 * visibility class and queued to every viewer. A pidfd reports the
 * target's exit: one last sample, a final delta to the empty state, then
 * TargetExited to every viewer and the session ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "convert.h"
#include "log.h"
#include "shadowptd.h"

static uint32_t session_next_id = 1;

bool session_target_alive(const struct session *s)
{
	return !spt_pidfd_exited(s->pidfd);
}

unsigned sessions_viewers(void)
{
	struct session *s;
	unsigned n = 0;

	TAILQ_FOREACH(s, &spt_sessions, entry)
		n += s->nwatches;
	return n;
}

static void session_read_comm(struct session *s)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)s->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	s->comm[0] = '\0';
	if (fd < 0)
		return;
	n = read(fd, s->comm, sizeof(s->comm) - 1);
	close(fd);
	if (n <= 0)
		n = 0;
	s->comm[n] = '\0';
	s->comm[strcspn(s->comm, "\n")] = '\0';
}

static void session_free(struct session *s)
{
	TAILQ_REMOVE(&spt_sessions, s, entry);
	if (s->ev_timer)
		event_free(s->ev_timer);
	if (s->ev_exit)
		event_free(s->ev_exit);
	if (s->ev_wakeup)
		event_free(s->ev_wakeup);
	if (s->handle)
		s->ops->close(s->handle);
	if (s->pidfd >= 0)
		close(s->pidfd);
	spt_state_free(&s->cur);
	spt_state_free(&s->next);
	spt_delta_free(&s->delta);
	tokenmap_free(&s->tokens);
	log_info("session %u (pid %d [%#llx,%#llx) %s) closed after %llu samples", s->id,
		 (int)s->pid, (unsigned long long)s->start, (unsigned long long)s->end,
		 s->ops ? s->ops->name : "no backend", (unsigned long long)s->samples);
	free(s);
	server_update_status();
}

/* Sample as fast as the most demanding viewer asked, no faster. */
static void session_update_bounds(struct session *s)
{
	uint32_t min_ms = UINT32_MAX, max_ms = UINT32_MAX;
	struct watch *w;

	LIST_FOREACH(w, &s->watches, session_entry) {
		min_ms = w->min_ms < min_ms ? w->min_ms : min_ms;
		max_ms = w->max_ms < max_ms ? w->max_ms : max_ms;
	}
	if (min_ms != UINT32_MAX) /* nobody left: keep what there was */
		interval_set_bounds(&s->iv, min_ms, max_ms);
}

/* Frees one subscription; the session stays (callers decide). */
static void watch_free(struct watch *w)
{
	struct client *c = w->c;

	LIST_REMOVE(w, client_entry);
	LIST_REMOVE(w, session_entry);
	c->nwatches--;
	w->s->nwatches--;
	if (c->usage)
		c->usage->watches--;
	outq_drop_watch(&c->outq, w->id);
	session_update_bounds(w->s);
	free(w);
}

void session_release_if_idle(struct session *s)
{
	if (s->nwatches == 0)
		session_free(s);
}

void session_remove_watch(struct watch *w)
{
	struct session *s = w->s;

	watch_free(w);
	if (s->nwatches == 0)
		session_free(s);
}

/* A delta encoded for one class of viewers: its frames (protocol 2 chunks). */
struct class_delta {
	struct spt_buf **bufs;
	size_t n;
	bool tried, failed;
};

static void class_delta_encode(struct session *s, const struct spt_delta *d,
			       const struct spt_delta_meta *meta, bool tokens, struct class_delta *cd)
{
	struct spt_encoded *frames = NULL;
	size_t n = 0;
	int r = spt_delta_encode(d, meta, tokens ? tokenmap_map_fn : NULL,
				 tokens ? &s->tokens : NULL, &frames, &n);

	cd->tried = true;
	cd->bufs = r ? NULL : calloc(n ? n : 1, sizeof(*cd->bufs));
	for (size_t i = 0; cd->bufs && i < n; i++) {
		cd->bufs[i] = spt_buf_from_encoded(&frames[i]);
		if (cd->bufs[i])
			cd->n++;
		else
			r = -ENOMEM;
	}
	spt_encoded_free_array(frames, n);
	if (r || !cd->bufs) {
		cd->failed = true;
		/* Too big for one protocol 1 frame: a snapshot replaces it. */
		if (r != -EMSGSIZE)
			log_warn("session %u: cannot encode delta: %s", s->id,
				 strerror(r ? -r : ENOMEM));
	}
}

static void class_delta_free(struct class_delta *cd)
{
	for (size_t i = 0; i < cd->n; i++)
		spt_buf_unref(cd->bufs[i]);
	free(cd->bufs);
}

/*
 * Publishes the delta from seq to seq+1 (s->cur already holds the new
 * state). Encoded at most once per class: pfn visibility x protocol.
 */
static void session_publish(struct session *s, const struct spt_delta *d, bool exec)
{
	struct spt_delta_meta meta = {
	    .watch_id = s->id,
	    .base_seq = s->seq,
	    .seq = s->seq + 1,
	    .timestamp_ns = s->cur_ns,
	    .exec = exec,
	};
	struct class_delta cds[2][2] = {{{0}}}; /* [raw, token][protocol 1, 2] */
	bool tokens_used;
	struct watch *w;

	s->seq++;
	LIST_FOREACH(w, &s->watches, session_entry) {
		int cls = (w->raw_pfns || !spt_pfns_readable) ? 0 : 1, v2 = w->c->proto >= 2;
		struct class_delta *cd = &cds[cls][v2];

		if (!cd->tried) {
			meta.proto = v2 ? 2 : 1;
			class_delta_encode(s, d, &meta, cls, cd);
		}
		if (cd->failed) {
			spt_stats.deltas_dropped++;
			client_request_resync(w);
			continue;
		}
		for (size_t i = 0; i < cd->n; i++)
			client_queue_delta(w, cd->bufs[i]);
	}
	tokens_used = cds[1][0].tried || cds[1][1].tried;
	for (int i = 0; i < 2; i++)
		for (int j = 0; j < 2; j++)
			class_delta_free(&cds[i][j]);
	if (tokens_used) {
		size_t dropped = tokenmap_prune(&s->tokens, &s->cur);

		if (dropped)
			log_debug("session %u: dropped %zu pfn tokens of unmapped frames", s->id,
				  dropped);
	}
}

/*
 * Before anything new is published: viewers who were allowed by uid
 * match may have lost that right (the target exec'd a setuid program or
 * became non-dumpable). Their watch ends with a PERMISSION_DENIED error;
 * the session itself stays (the caller closes it if nobody is left).
 */
static void session_revoke_unauthorized(struct session *s)
{
	struct spt_target_creds tc;
	struct watch *w, *next;
	char why[256];
	bool read = false;

	for (w = LIST_FIRST(&s->watches); w; w = next) {
		next = LIST_NEXT(w, session_entry);
		if (w->c->peer.admin)
			continue;
		if (!read) {
			/* Gone or unreadable: exit handling decides, not this. */
			if (auth_read_target(s->pid, &tc, why, sizeof(why)) < 0)
				return;
			read = true;
		}
		if (auth_decide(&w->c->peer, s->pid, &tc, why, sizeof(why)) == 0)
			continue;
		log_info("session %u: uid %u may no longer watch pid %d: %s", s->id, w->c->peer.uid,
			 (int)s->pid, why);
		client_send_error(w->c, 0, SHADOWPT__ERROR_CODE__ERROR_PERMISSION_DENIED, w->id,
				  false, "watch %u ended: %s", w->id, why);
		watch_free(w);
	}
}

/*
 * Installs s->next as the current state and publishes the change. Returns
 * 1 if something changed, 0 if not, -errno. The old state becomes the
 * scratch for the next sample, so steady sampling does not reallocate.
 */
static int session_commit(struct session *s, bool exec)
{
	int r = spt_state_diff(&s->cur, &s->next, &s->delta);

	if (r == 0 && !spt_delta_empty(&s->delta)) {
		struct spt_state old = s->cur;

		session_revoke_unauthorized(s);
		s->cur = s->next;
		s->next = old;
		s->cur_ns = spt_now_ns();
		session_publish(s, &s->delta, exec);
		r = 1;
	}
	return r;
}

/* One sample: 1 changed, 0 unchanged, -ESRCH target gone, -errno. */
static int session_sample(struct session *s)
{
	uint64_t t0 = spt_now_ns();
	int r;

	spt_state_clear(&s->next);
	r = s->ops->sample(s->handle, &s->next);
	s->last_sample_ns = spt_now_ns() - t0;
	s->samples++;
	s->sample_ns += s->last_sample_ns;
	if (r == 0)
		r = session_commit(s, s->ops->exec_seen && s->ops->exec_seen(s->handle));
	return r;
}

static void session_schedule(struct session *s, uint32_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	s->due_ns = spt_now_ns() + (uint64_t)ms * 1000000u;
	evtimer_add(s->ev_timer, &tv);
}

/* The target is gone: final delta to nothing, TargetExited, end. */
static void session_end(struct session *s)
{
	struct watch *w;
	int r;

	/* One last look; it normally fails with ESRCH (the mm is gone). */
	r = session_sample(s);
	if (r < 0 && r != -ESRCH)
		log_debug("session %u: final sample: %s", s->id, strerror(-r));
	spt_state_clear(&s->next);
	session_commit(s, false);
	log_info("session %u: target %d exited", s->id, (int)s->pid);
	while ((w = LIST_FIRST(&s->watches))) {
		Shadowpt__TargetExited te = SHADOWPT__TARGET_EXITED__INIT;
		Shadowpt__Frame f = SHADOWPT__FRAME__INIT;

		te.has_watch_id = te.has_pid = 1;
		te.watch_id = w->id;
		te.pid = s->pid;
		f.msg_case = SHADOWPT__FRAME__MSG_TARGET_EXITED;
		f.target_exited = &te;
		/* Frames of this watch already queued stay; TargetExited follows. */
		client_send_frame(w->c, &f, OUTQ_CONTROL, 0);
		LIST_REMOVE(w, client_entry);
		LIST_REMOVE(w, session_entry);
		w->c->nwatches--;
		s->nwatches--;
		if (w->c->usage)
			w->c->usage->watches--;
		free(w);
	}
	session_free(s);
}

static void session_tick(struct session *s)
{
	int r = session_sample(s);

	if (r == -ESRCH) {
		session_end(s);
		return;
	}
	if (s->nwatches == 0) {
		/* Every viewer lost the right to watch. */
		session_free(s);
		return;
	}
	if (r < 0 && r != s->last_err)
		log_warn("session %u: sampling pid %d failed: %s (keeping the last state)", s->id,
			 (int)s->pid, strerror(-r));
	if (r >= 0)
		s->last_err = 0;
	else
		s->last_err = r;
	session_schedule(s, interval_with_cost(interval_next(&s->iv, r > 0), s->last_sample_ns));
}

static void session_on_timer(evutil_socket_t fd, short what, void *arg)
{
	session_tick(arg);
}

static void session_on_wakeup(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	evtimer_del(s->ev_timer);
	session_tick(s);
}

static void session_on_exit(evutil_socket_t fd, short what, void *arg)
{
	session_end(arg);
}

static int session_open(pid_t pid, int pidfd, uint64_t start, uint64_t end, int backend,
			struct session **out, int *code, char *why, size_t whylen)
{
	struct session *s = calloc(1, sizeof(*s));
	char bwhy[160] = "";
	int r, wfd;

	if (!s) {
		*code = SHADOWPT__ERROR_CODE__ERROR_INTERNAL;
		snprintf(why, whylen, "out of memory");
		close(pidfd);
		return -ENOMEM;
	}
	s->pid = pid;
	s->pidfd = pidfd;
	s->start = start;
	s->end = end;
	spt_state_init(&s->cur);
	spt_state_init(&s->next);
	spt_delta_init(&s->delta);
	tokenmap_init(&s->tokens);
	LIST_INIT(&s->watches);
	/* The viewers' bounds apply once they subscribe (session_add_watch). */
	interval_init(&s->iv, 0, 0, spt_opts.min_ms, spt_opts.max_ms);
	TAILQ_INSERT_TAIL(&spt_sessions, s, entry);
	s->id = session_next_id++;
	if (session_next_id == 0)
		session_next_id = 1;

	r = spt_backend_select(backend, start, end, &s->ops, s->backend_reason,
			       sizeof(s->backend_reason));
	if (r < 0) {
		*code = r == -ENODEV ? SHADOWPT__ERROR_CODE__ERROR_BACKEND_UNAVAILABLE
				     : SHADOWPT__ERROR_CODE__ERROR_INVALID_ARGUMENT;
		snprintf(why, whylen, "%s", s->backend_reason);
		goto fail;
	}
	r = s->ops->open(pid, pidfd, start, end, &s->handle, bwhy, sizeof(bwhy));
	if (r < 0) {
		const struct spt_backend_ops *alt;

		alt = spt_backend_fallback(backend, s->ops, r, bwhy[0] ? bwhy : strerror(-r),
					   s->backend_reason, sizeof(s->backend_reason));
		if (alt) {
			log_info("pid %d: %s backend: %s; falling back to %s", (int)pid,
				 s->ops->name, bwhy[0] ? bwhy : strerror(-r), alt->name);
			s->ops = alt;
			bwhy[0] = '\0';
			r = s->ops->open(pid, pidfd, start, end, &s->handle, bwhy, sizeof(bwhy));
		}
	}
	if (r < 0) {
		s->handle = NULL;
		switch (r) {
		case -ESRCH:
			*code = SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS;
			break;
		case -EPERM:
		case -EACCES:
			*code = SHADOWPT__ERROR_CODE__ERROR_PERMISSION_DENIED;
			break;
		case -EINVAL:
			*code = SHADOWPT__ERROR_CODE__ERROR_INVALID_RANGE;
			break;
		default:
			*code = SHADOWPT__ERROR_CODE__ERROR_BACKEND_UNAVAILABLE;
		}
		snprintf(why, whylen, "%s backend: %s", s->ops->name,
			 bwhy[0] ? bwhy : strerror(-r));
		log_info("pid %d: %s backend open failed: %s", (int)pid, s->ops->name,
			 bwhy[0] ? bwhy : strerror(-r));
		goto fail;
	}
	session_read_comm(s);
	r = session_sample(s);
	/* Everything read so far must be about the process the pidfd names. */
	if (r == -ESRCH || !session_target_alive(s)) {
		*code = SHADOWPT__ERROR_CODE__ERROR_NO_SUCH_PROCESS;
		snprintf(why, whylen, "process %d exited", (int)pid);
		r = -ESRCH;
		goto fail;
	}
	if (r < 0) {
		*code = SHADOWPT__ERROR_CODE__ERROR_INTERNAL;
		snprintf(why, whylen, "first sample of pid %d failed: %s", (int)pid, strerror(-r));
		log_warn("session for pid %d: %s", (int)pid, why);
		goto fail;
	}
	s->seq = 0; /* the initial state is seq 0, whatever the first diff said */
	s->ev_timer = evtimer_new(spt_base, session_on_timer, s);
	s->ev_exit = event_new(spt_base, pidfd, EV_READ, session_on_exit, s);
	if (!s->ev_timer || !s->ev_exit || event_add(s->ev_exit, NULL) < 0) {
		*code = SHADOWPT__ERROR_CODE__ERROR_INTERNAL;
		snprintf(why, whylen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	wfd = s->ops->wakeup_fd ? s->ops->wakeup_fd(s->handle) : -1;
	if (wfd >= 0) {
		s->ev_wakeup = event_new(spt_base, wfd, EV_READ | EV_PERSIST, session_on_wakeup, s);
		if (s->ev_wakeup)
			event_add(s->ev_wakeup, NULL);
	}
	session_schedule(s, interval_with_cost(s->iv.cur_ms, s->last_sample_ns));
	log_info("session %u: pid %d (%s) [%#llx,%#llx) via %s: %zu vmas, %zu pages", s->id,
		 (int)pid, s->comm, (unsigned long long)start, (unsigned long long)end,
		 s->ops->name, s->cur.nvmas, (size_t)spt_state_npages(&s->cur));
	*out = s;
	server_update_status();
	return 0;
fail:
	session_free(s);
	return r < 0 ? r : -EIO;
}

/*
 * A viewer that names a backend gets that backend: it must not be joined
 * to another backend's session of the same window (the VM suite compares
 * kernel and procfs viewers of one window). auto joins whatever serves it.
 */
static bool session_serves_backend(const struct session *s, int backend)
{
	return backend == SHADOWPT__BACKEND__BACKEND_UNSPECIFIED ||
	       backend == SHADOWPT__BACKEND__BACKEND_AUTO || s->ops->id == backend;
}

int session_get(pid_t pid, int pidfd, uint64_t start, uint64_t end, int backend,
		struct session **out, int *code, char *why, size_t whylen)
{
	struct session *s;

	TAILQ_FOREACH(s, &spt_sessions, entry) {
		/*
		 * Both pidfds alive means both name the live process with this
		 * pid: the same one. A dying session is not joined.
		 */
		if (s->pid == pid && s->start == start && s->end == end &&
		    session_serves_backend(s, backend) && session_target_alive(s)) {
			close(pidfd);
			*out = s;
			return 0;
		}
	}
	return session_open(pid, pidfd, start, end, backend, out, code, why, whylen);
}

struct watch *session_add_watch(struct session *s, struct client *c, bool raw_pfns, uint32_t min_ms,
				uint32_t max_ms)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct spt_interval want;
	uint32_t ms;

	if (!w)
		return NULL;
	w->id = s->id;
	w->c = c;
	w->s = s;
	w->raw_pfns = raw_pfns;
	interval_init(&want, min_ms, max_ms, spt_opts.min_ms, spt_opts.max_ms);
	w->min_ms = want.min_ms;
	w->max_ms = want.max_ms;
	LIST_INSERT_HEAD(&c->watches, w, client_entry);
	LIST_INSERT_HEAD(&s->watches, w, session_entry);
	c->nwatches++;
	s->nwatches++;
	if (c->usage)
		c->usage->watches++;
	session_update_bounds(s);
	/* A new viewer wants to see changes promptly: not after the old wait. */
	s->iv.cur_ms = s->iv.min_ms;
	ms = interval_with_cost(s->iv.cur_ms, s->last_sample_ns);
	if (evtimer_pending(s->ev_timer, NULL) &&
	    s->due_ns > spt_now_ns() + (uint64_t)ms * 1000000u)
		session_schedule(s, ms);
	server_update_status();
	return w;
}

int session_send_snapshot(struct watch *w, bool resync)
{
	struct session *s = w->s;
	struct spt_snapshot_meta meta = {
	    .watch_id = w->id,
	    .seq = s->seq,
	    .timestamp_ns = s->cur_ns,
	    .resync = resync,
	    .proto = w->c->proto,
	};
	bool raw = w->raw_pfns || !spt_pfns_readable;
	struct spt_encoded *frames = NULL;
	size_t n = 0;
	int r;

	r = spt_snapshot_encode(&s->cur, &meta, raw ? NULL : tokenmap_map_fn,
				raw ? NULL : &s->tokens, &frames, &n);
	if (r < 0) {
		log_err("session %u: cannot encode snapshot: %s", s->id, strerror(-r));
		return r;
	}
	for (size_t i = 0; i < n && r == 0; i++) {
		struct spt_buf *b = spt_buf_from_encoded(&frames[i]);

		if (!b) {
			r = -ENOMEM;
			break;
		}
		r = client_queue(w->c, b, OUTQ_SNAPSHOT, w->id);
		spt_buf_unref(b);
	}
	spt_encoded_free_array(frames, n);
	if (r == 0 && resync)
		spt_stats.resyncs++;
	return r;
}

void sessions_close_all(void)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&spt_sessions))) {
		struct watch *w;

		while ((w = LIST_FIRST(&s->watches)))
			watch_free(w);
		session_free(s);
	}
}
