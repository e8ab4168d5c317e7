// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Sessions: one per watched (pid, range), shared by all its viewers. The
 * session's reader thread (reader.h) does every read of the target and
 * posts deltas; the session applies each to its copy of the state (for
 * the snapshots of viewers who join later) and publishes it, encoded
 * once per pfn visibility class, to every viewer through its watch
 * (watch.h: connections are not known here). Viewers who ask while
 * the reader is still opening wait for its first state. A pidfd reports
 * the target's exit: a final delta to the empty state, TargetExited to
 * every viewer, and the session ends. A reader stuck inside a read of
 * its target marks the session stalled; nobody else waits for it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth.h"
#include "clock.h"
#include "convert.h"
#include "errcode.h"
#include "globals.h"
#include "log.h"
#include "session.h"
#include "spt-assert.h"

/*
 * Viewers' rights are re-checked before publishing: in a polling session
 * at most this often (and at every exec); an event-driven one is told of
 * every credential change, and re-checks on its own every
 * SESSION_REVOKE_PERIOD_MS besides.
 */
#define SESSION_REVOKE_CHECK_MS	 20u
#define SESSION_REVOKE_PERIOD_MS 1000u

static struct session_list spt_sessions = TAILQ_HEAD_INITIALIZER(spt_sessions);
static struct session_hooks session_hooks;
static uint32_t session_next_id = 1;

void sessions_init(const struct session_hooks *hooks)
{
	session_hooks = *hooks;
}

static void sessions_changed(void)
{
	if (session_hooks.changed)
		session_hooks.changed();
}

unsigned sessions_count(void)
{
	struct session *s;
	unsigned n = 0;

	TAILQ_FOREACH(s, &spt_sessions, entry)
		n++;
	return n;
}

size_t session_max_runs(void)
{
	return spt_opts.max_runs && spt_opts.max_runs < SPT_MAX_RUNS_PER_SESSION
		       ? (size_t)spt_opts.max_runs
		       : SPT_MAX_RUNS_PER_SESSION;
}

size_t session_max_vmas(void)
{
	return spt_opts.max_vmas && spt_opts.max_vmas < SPT_MAX_VMAS_PER_SESSION
		       ? (size_t)spt_opts.max_vmas
		       : SPT_MAX_VMAS_PER_SESSION;
}

/* Where a session's caps start (a reader's too: see server_run). */
size_t session_initial_runs(void)
{
	return SPT_SESSION_INITIAL_RUNS < session_max_runs() ? SPT_SESSION_INITIAL_RUNS
							      : session_max_runs();
}

size_t session_initial_vmas(void)
{
	return SPT_SESSION_INITIAL_VMAS < session_max_vmas() ? SPT_SESSION_INITIAL_VMAS
							      : session_max_vmas();
}

/* What a session whose reader may hold runs and vmas is charged. */
static uint64_t session_cost(size_t runs, size_t vmas)
{
	return SPT_SESSION_BASE_COST + (uint64_t)SPT_SESSION_STATE_COPIES *
					   ((uint64_t)runs * SPT_STATE_RUN_COST +
					    (uint64_t)vmas * SPT_STATE_VMA_COST);
}

/* The same from what the daemon's copy holds (long VMA names, sparse blocks). */
static uint64_t session_cost_measured(const struct session *s)
{
	return SPT_SESSION_BASE_COST +
	       (uint64_t)SPT_SESSION_STATE_COPIES * spt_state_memory(&s->cur);
}

/* Sets the session's memory charge on its payer's account. 0 or -EDQUOT. */
static int session_charge(struct session *s, uint64_t bytes)
{
	if (!s->owner)
		return -EDQUOT;
	return spt_charge_set(&s->mem_charge, s->mem_charge.user, SPT_SLOT_MEMORY, bytes,
			      watch_charge_mode(s->owner));
}
static uint64_t session_next_cookie = 1;

bool session_target_alive(const struct session *s)
{
	return !spt_pidfd_exited(s->pidfd);
}

unsigned sessions_viewers(void)
{
	struct session *s;
	unsigned n = 0;

	TAILQ_FOREACH(s, &spt_sessions, entry)
		n += s->watches.n;
	return n;
}

/* Does any connection of uid watch s? (Its own shadowctl watch, in another process.) */
static bool watched_by_uid(const struct session *s, uid_t uid)
{
	const struct watch *w;

	LIST_FOREACH(w, &s->watches.list, session_entry)
		if (watch_peer(w)->uid == uid)
			return true;
	return false;
}

static void status_of(const struct session *s, bool admin, Shadowpt__SessionStatus *ss,
		      Shadowpt__Range *rg)
{
	shadowpt__session_status__init(ss);
	shadowpt__range__init(rg);
	rg->has_start = rg->has_end = 1;
	rg->start = s->start;
	rg->end = s->end;
	ss->has_pid = ss->has_backend = ss->has_viewers = ss->has_seq = 1;
	ss->has_mapped_pages = ss->has_vmas = 1;
	ss->has_samples = ss->has_sample_ns_total = 1;
	ss->has_mode = ss->has_state = ss->has_events = 1;
	ss->has_events_lost = ss->has_reconciles = 1;
	ss->pid = s->pid;
	ss->range = rg;
	ss->backend = (Shadowpt__Backend)s->ops->id;
	ss->viewers = s->watches.n;
	ss->seq = s->seq;
	ss->mapped_pages = spt_state_npages(&s->cur);
	ss->has_runs = 1;
	ss->runs = spt_state_nruns(&s->cur);
	ss->vmas = s->cur.nvmas;
	ss->mode = (Shadowpt__WatchMode)s->mode;
	ss->state = (Shadowpt__WatchState)s->state;
	ss->has_memory_bytes = 1;
	ss->memory_bytes = s->mem_charge.amount;
	if (admin && s->owner) {
		ss->has_owner_uid = 1;
		ss->owner_uid = watch_peer(s->owner)->uid;
	}
	if (s->rd) {
		const struct spt_reader_stats *rs = spt_reader_stats(s->rd);

		ss->samples = __atomic_load_n(&rs->reads, __ATOMIC_RELAXED);
		ss->sample_ns_total = __atomic_load_n(&rs->read_ns, __ATOMIC_RELAXED);
		ss->events = __atomic_load_n(&rs->events, __ATOMIC_RELAXED);
		ss->events_lost = __atomic_load_n(&rs->lost, __ATOMIC_RELAXED);
		ss->reconciles = __atomic_load_n(&rs->reconciles, __ATOMIC_RELAXED);
		ss->has_interval_ms = s->mode == SPT_MODE_POLLING;
		ss->interval_ms = (uint32_t)__atomic_load_n(&rs->interval_ms, __ATOMIC_RELAXED);
	}
}

/*
 * Admins see every session; other viewers only those their uid watches:
 * another user's pid and range are that user's business.
 */
size_t sessions_status(const struct spt_peer *peer, Shadowpt__SessionStatus *ss,
		       Shadowpt__SessionStatus **ssp, Shadowpt__Range *rg)
{
	const struct session *s;
	size_t i = 0;

	TAILQ_FOREACH(s, &spt_sessions, entry) {
		if (!s->opened || (!peer->admin && !watched_by_uid(s, peer->uid)))
			continue;
		status_of(s, peer->admin, &ss[i], &rg[i]);
		ssp[i] = &ss[i];
		i++;
	}
	return i;
}

/*
 * Who holds the kernel's one table: the uid paying for the session on
 * the kernel backend, said to everyone, so that a user locked out of it
 * knows whom to ask. False if it is free.
 */
bool sessions_kernel_table_holder(uid_t *uid)
{
	const struct session *s;

	TAILQ_FOREACH(s, &spt_sessions, entry)
		if (s->ops && s->ops->id == SHADOWPT__BACKEND__BACKEND_KERNEL) {
			*uid = s->owner ? watch_peer(s->owner)->uid : 0;
			return true;
		}
	return false;
}

static void snapshot_drop(struct session_snapshot *sn)
{
	for (size_t i = 0; i < sn->n; i++)
		spt_buf_unref(sn->bufs[i]);
	free(sn->bufs);
	*sn = (struct session_snapshot){0};
}

/*
 * All of them (cur changed), or (idle_only) those no viewer's queue has
 * held at two periodic checks in a row: viewers who join together share
 * one, and an idle target's snapshot is not kept for nobody.
 */
static void session_drop_snapshots(struct session *s, bool idle_only)
{
	struct session_snapshot *sn = &s->snaps[0][0][0];

	for (size_t k = 0; k < sizeof(s->snaps) / sizeof(*sn); k++) {
		bool held = false;

		for (size_t i = 0; idle_only && i < sn[k].n; i++)
			held |= sn[k].bufs[i]->refs > 1;
		if (held || (idle_only && !sn[k].idle))
			sn[k].idle = !held;
		else
			snapshot_drop(&sn[k]);
	}
}

static void session_free(struct session *s)
{
	struct session_peek *p;

	/* Its last viewer took the payer's role with it. */
	spt_assert(LIST_EMPTY(&s->watches.list) && s->watches.n == 0 && !s->owner);
	TAILQ_REMOVE(&spt_sessions, s, entry);
	if (s->ev_exit)
		event_free(s->ev_exit);
	if (s->ev_reader)
		event_free(s->ev_reader);
	spt_reader_stop(s->rd);
	while ((p = LIST_FIRST(&s->peeks))) {
		LIST_REMOVE(p, entry);
		free(p);
	}
	if (s->pidfd >= 0)
		close(s->pidfd);
	spt_charge_release(&s->fd_charge);
	spt_charge_release(&s->mem_charge);
	session_drop_snapshots(s, false);
	spt_state_free(&s->cur);
	tokenmap_free(&s->tokens);
	log_rl(SPT_LOG_INFO, "session %u (pid %d [%#llx,%#llx) %s) closed", s->id, (int)s->pid,
	       (unsigned long long)s->start, (unsigned long long)s->end,
	       s->ops ? s->ops->name : "no backend");
	free(s);
	sessions_changed();
}

/* Sample as fast as the most demanding viewer asked, no faster (polling mode). */
static void session_update_bounds(struct session *s, bool hurry)
{
	uint32_t min_ms = UINT32_MAX, max_ms = UINT32_MAX;
	struct watch *w;

	LIST_FOREACH(w, &s->watches.list, session_entry) {
		min_ms = w->min_ms < min_ms ? w->min_ms : min_ms;
		max_ms = w->max_ms < max_ms ? w->max_ms : max_ms;
	}
	if (min_ms != UINT32_MAX && s->rd) /* nobody left: keep what there was */
		spt_reader_set_bounds(s->rd, min_ms, max_ms, hurry);
}

/*
 * Unlinks one subscription and frees it. The session's charges pass to
 * its next viewer when the one paying leaves (forced: the memory is held
 * already); nobody left, they go with the session.
 */
static void session_unlink_watch(struct watch *w)
{
	struct session *s = w->s;
	bool paid = s->owner == w;

	spt_assert(s->watches.n > 0);
	watch_destroy(w);
	if (paid) {
		s->owner = LIST_FIRST(&s->watches.list);
		if (s->owner) {
			spt_charge_move(&s->fd_charge, watch_user(s->owner));
			spt_charge_move(&s->mem_charge, watch_user(s->owner));
		}
	}
}

/* Frees one subscription and its unsent frames; the session stays (callers decide). */
static void watch_free(struct watch *w)
{
	struct session *s = w->s;

	watch_drop_output(w);
	session_unlink_watch(w);
	session_update_bounds(s, false);
}

void session_release_if_idle(struct session *s)
{
	if (s->watches.n == 0)
		session_free(s);
}

void session_remove_watch(struct watch *w)
{
	struct session *s = w->s;

	watch_free(w);
	if (s->watches.n == 0)
		session_free(s);
}

/* WatchStatus to the protocol-2 viewers of s (older ones do not know it). */
static void session_send_status(struct session *s, const char *msg)
{
	struct watch *w;

	LIST_FOREACH(w, &s->watches.list, session_entry) {
		Shadowpt__WatchStatus st = SHADOWPT__WATCH_STATUS__INIT;
		Shadowpt__Frame f = SHADOWPT__FRAME__INIT;

		if (w->pending || watch_proto(w) < 2)
			continue;
		st.has_watch_id = st.has_state = st.has_mode = st.has_since_ns = 1;
		st.watch_id = w->id;
		st.state = (Shadowpt__WatchState)s->state;
		st.mode = (Shadowpt__WatchMode)s->mode;
		st.since_ns = s->state_since_ns;
		st.message = (char *)msg;
		f.msg_case = SHADOWPT__FRAME__MSG_WATCH_STATUS;
		f.watch_status = &st;
		watch_send_frame(w, &f);
	}
}

static void session_set_state(struct session *s, int state, const char *msg)
{
	if (s->state == state)
		return;
	s->state = state;
	s->state_since_ns = spt_now_ns();
	session_send_status(s, msg);
}

/* A delta encoded for one class of viewers: its frames (protocol 2 chunks). */
struct class_delta {
	struct spt_buf **bufs;
	size_t n;
	bool tried, failed;
};

static void class_delta_encode(struct session *s, const struct spt_delta *d,
			       const struct spt_delta_meta *meta, bool tokens,
			       struct class_delta *cd)
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
static void session_publish(struct session *s, const struct spt_delta *d,
			    const struct spt_delta_meta *m)
{
	struct spt_delta_meta meta = *m;
	struct class_delta cds[2][2] = {{{0}}}; /* [raw, token][protocol 1, 2] */
	bool tokens_used;
	struct watch *w;

	meta.watch_id = s->id;
	meta.base_seq = s->seq;
	meta.seq = s->seq + 1;
	s->seq++;
	LIST_FOREACH(w, &s->watches.list, session_entry) {
		int cls = (w->raw_pfns || !spt_pfns_readable) ? 0 : 1, v2 = watch_proto(w) >= 2;
		struct class_delta *cd = &cds[cls][v2];

		if (w->pending)
			continue;
		if (!cd->tried) {
			meta.proto = v2 ? 2 : 1;
			class_delta_encode(s, d, &meta, cls, cd);
		}
		if (cd->failed) {
			spt_stats.deltas_dropped++;
			watch_request_resync(w);
			continue;
		}
		for (size_t i = 0; i < cd->n; i++)
			watch_queue_delta(w, cd->bufs[i]);
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
 * /proc/PID/status does not take the target's mmap_lock: safe on the loop.
 */
static void session_revoke_unauthorized(struct session *s, bool force)
{
	struct spt_target_creds tc;
	struct watch *w, *next;
	uint64_t now = spt_now_ms();
	char why[256];
	bool read = false;

	if (!force &&
	    (s->mode == SPT_MODE_EVENTS || now - s->revoke_checked_ms < SESSION_REVOKE_CHECK_MS))
		return;
	s->revoke_checked_ms = now;
	for (w = LIST_FIRST(&s->watches.list); w; w = next) {
		next = LIST_NEXT(w, session_entry);
		if (watch_peer(w)->admin)
			continue;
		if (!read) {
			/* Gone or unreadable: exit handling decides, not this. */
			if (auth_read_target(s->pid, &tc, why, sizeof(why)) < 0)
				return;
			read = true;
		}
		if (auth_decide(watch_peer(w), s->pid, &tc, why, sizeof(why)) == 0)
			continue;
		log_rl(SPT_LOG_INFO, "session %u: uid %u may no longer watch pid %d: %s", s->id,
		       watch_peer(w)->uid, (int)s->pid, why);
		watch_send_error(w, 0, SHADOWPT__ERROR_CODE__ERROR_PERMISSION_DENIED, w->id,
				 "watch %u ended: %s", w->id, why);
		watch_free(w);
	}
}

/*
 * Sends WatchStarted and the first snapshot to a viewer whose session is
 * open. False if the watch had to end (the session may be idle now).
 */
static bool session_watch_started(struct watch *w)
{
	struct session *s = w->s;
	Shadowpt__WatchStarted ws = SHADOWPT__WATCH_STARTED__INIT;
	Shadowpt__Range rg = SHADOWPT__RANGE__INIT;
	Shadowpt__Frame out = SHADOWPT__FRAME__INIT;
	int r;

	w->pending = false;
	rg.has_start = rg.has_end = 1;
	rg.start = s->start;
	rg.end = s->end;
	ws.has_watch_id = ws.has_pid = ws.has_backend = ws.has_pfn_visibility = 1;
	ws.watch_id = w->id;
	ws.pid = s->pid;
	ws.range = &rg;
	ws.backend = (Shadowpt__Backend)s->ops->id;
	ws.pfn_visibility = !spt_pfns_readable ? SHADOWPT__PFN_VISIBILITY__PFN_HIDDEN
			    : w->raw_pfns      ? SHADOWPT__PFN_VISIBILITY__PFN_RAW
					       : SHADOWPT__PFN_VISIBILITY__PFN_TOKEN;
	ws.backend_reason = s->backend_reason;
	ws.comm = s->comm;
	ws.has_mode = 1;
	ws.mode = (Shadowpt__WatchMode)s->mode;
	ws.mode_reason = s->mode_reason;
	out.has_request_id = 1;
	out.request_id = w->request_id;
	out.msg_case = SHADOWPT__FRAME__MSG_WATCH_STARTED;
	out.watch_started = &ws;
	watch_send_frame(w, &out);
	r = session_send_snapshot(w, false);
	if (r == -EMSGSIZE) {
		watch_send_error(w, 0, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED, w->id,
				 "the target has %llu mapped pages; protocol 1 viewers get at most "
				 "%u (a newer shadowctl gets them as runs)",
				 (unsigned long long)spt_state_npages(&s->cur),
				 SPT_V1_MAX_SNAPSHOT_PAGES);
		watch_free(w); /* the caller frees the session if that was its last viewer */
		return false;
	}
	/* Out of memory: tried again as a resync once the output drains. */
	if (r < 0)
		w->needs_resync = true;
	/* A viewer joining a stalled or failing session hears why at once. */
	if (s->state != SPT_SESSION_LIVE && watch_proto(w) >= 2) {
		Shadowpt__WatchStatus st = SHADOWPT__WATCH_STATUS__INIT;
		Shadowpt__Frame f = SHADOWPT__FRAME__INIT;

		st.has_watch_id = st.has_state = st.has_mode = st.has_since_ns = 1;
		st.watch_id = w->id;
		st.state = (Shadowpt__WatchState)s->state;
		st.mode = (Shadowpt__WatchMode)s->mode;
		st.since_ns = s->state_since_ns;
		st.message = s->state_why;
		f.msg_case = SHADOWPT__FRAME__MSG_WATCH_STATUS;
		f.watch_status = &st;
		watch_send_frame(w, &f);
	}
	log_rl(SPT_LOG_INFO, "client %llu (uid %u '%s'): watch %u on pid %d",
	       (unsigned long long)watch_viewer_id(w), watch_peer(w)->uid, watch_viewer_name(w),
	       w->id, (int)s->pid);
	return true;
}

/*
 * The reader's state outgrew its caps: double them if the daemon's
 * limits and the payer's memory allow (reserved before the reader may
 * hold it), else refuse and say why (limit_why) when its read fails.
 */
static void session_on_room(struct session *s)
{
	size_t runs = s->cap_runs * 2, vmas = s->cap_vmas * 2;
	uint64_t cost;
	bool granted = false;

	runs = runs > session_max_runs() ? session_max_runs() : runs;
	vmas = vmas > session_max_vmas() ? session_max_vmas() : vmas;
	cost = session_cost(runs, vmas);
	if (runs == s->cap_runs && vmas == s->cap_vmas) {
		snprintf(s->limit_why, sizeof(s->limit_why),
			 "pid %d has more than %zu page runs or %zu VMAs in [%#llx,%#llx): the "
			 "limits of one watch",
			 (int)s->pid, runs, vmas, (unsigned long long)s->start,
			 (unsigned long long)s->end);
	} else if (session_charge(s, cost) < 0) {
		snprintf(s->limit_why, sizeof(s->limit_why),
			 "watching pid %d needs %llu MiB, more than uid %u may hold now (%llu MiB "
			 "per uid, %llu MiB for all)",
			 (int)s->pid, (unsigned long long)(cost >> 20),
			 s->owner ? (unsigned)watch_peer(s->owner)->uid : 0u,
			 (unsigned long long)(spt_bounds.memory_per_uid >> 20),
			 (unsigned long long)(spt_bounds.memory >> 20));
	} else {
		log_debug("session %u: room for %zu runs and %zu VMAs (%llu KiB reserved)", s->id,
			  runs, vmas, (unsigned long long)(cost >> 10));
		s->cap_runs = runs;
		s->cap_vmas = vmas;
		s->limit_why[0] = '\0';
		granted = true;
	}
	spt_reader_answer_room(s->rd, runs, vmas, granted);
}

/* Every viewer of s hears (once per episode) that it is over a limit. */
static void session_tell_limit(struct session *s)
{
	struct watch *w;

	LIST_FOREACH(w, &s->watches.list, session_entry)
		if (!w->pending)
			watch_send_error(w, 0, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED, w->id,
					 "watch %u: %s; the last state stands", w->id,
					 s->limit_why);
}

/* Ends every watch of s with an error, then s itself. */
static void session_abandon(struct session *s, int code, const char *why)
{
	struct watch *w;

	log_rl(SPT_LOG_NOTICE, "session %u (pid %d): %s; ending it", s->id, (int)s->pid, why);
	while ((w = LIST_FIRST(&s->watches.list))) {
		watch_send_error(w, w->pending ? w->request_id : 0, code, w->pending ? 0 : w->id,
				 "watch %u ended: %s", w->id, why);
		watch_free(w);
	}
	session_free(s);
}

/*
 * The daemon's copy may hold more than the caps were charged for (long
 * VMA names): the payer pays for that too, or the session ends. False
 * if it ended.
 */
static bool session_check_memory(struct session *s)
{
	uint64_t measured = session_cost_measured(s);
	char why[192];

	if (measured <= s->mem_charge.amount || session_charge(s, measured) == 0)
		return true;
	snprintf(why, sizeof(why), "the state of pid %d takes %llu MiB, more than its uid may hold",
		 (int)s->pid, (unsigned long long)(measured >> 20));
	session_abandon(s, SHADOWPT__ERROR_CODE__ERROR_LIMIT_EXCEEDED, why);
	return false;
}

/* The reader's first state: every waiting viewer gets it. False if nobody is left. */
static bool session_on_opened(struct session *s, struct spt_reader_msg *m)
{
	struct watch *w, *next;

	s->ops = m->ops;
	s->opened = true;
	if (m->backend_reason[0]) /* the reader fell back to another backend */
		snprintf(s->backend_reason, sizeof(s->backend_reason), "%s", m->backend_reason);
	snprintf(s->comm, sizeof(s->comm), "%s", m->comm);
	s->mode = m->mode;
	snprintf(s->mode_reason, sizeof(s->mode_reason), "%s", m->mode_reason);
	spt_state_move(&s->cur, &m->state);
	/* The reader's copy is within its caps; this one must take whatever that holds. */
	spt_state_set_limits(&s->cur, session_max_runs(), session_max_vmas());
	if (!session_check_memory(s))
		return false;
	s->seq = 0;
	s->cur_ns = spt_now_ns();
	s->state = SPT_SESSION_LIVE;
	s->state_since_ns = s->cur_ns;
	log_rl(SPT_LOG_INFO,
	       "session %u: pid %d (%s) [%#llx,%#llx) via %s, %s (%s): %zu vmas, %zu pages", s->id,
	       (int)s->pid, s->comm, (unsigned long long)s->start, (unsigned long long)s->end,
	       s->ops->name, s->mode == SPT_MODE_EVENTS ? "event-driven" : "polling",
	       s->mode_reason, s->cur.nvmas, (size_t)spt_state_npages(&s->cur));
	for (w = LIST_FIRST(&s->watches.list); w; w = next) {
		next = LIST_NEXT(w, session_entry);
		if (w->pending)
			session_watch_started(w);
	}
	if (!s->watches.n) {
		session_free(s);
		return false;
	}
	sessions_changed();
	return true;
}

/* The reader could not open or read the target: every waiting viewer hears why. */
static void session_on_open_failed(struct session *s, struct spt_reader_msg *m)
{
	int code = spt_error_code_of(m->err);
	const char *why = m->err == -E2BIG && s->limit_why[0] ? s->limit_why : m->why;
	struct watch *w;

	if (m->err != -ESRCH)
		log_rl(SPT_LOG_INFO, "pid %d: %s", (int)s->pid, why);
	while ((w = LIST_FIRST(&s->watches.list))) {
		watch_send_error(w, w->request_id, code, 0, "%s", why);
		watch_free(w);
	}
	session_free(s);
}

/* Applies the reader's delta and publishes it. False if the session had to end. */
static bool session_on_update(struct session *s, struct spt_reader_msg *m)
{
	struct spt_delta_meta meta = {
	    .timestamp_ns = spt_now_ns(),
	    .exec = m->exec,
	    .cause = m->cause,
	    .cause_vaddr = m->cause_vaddr,
	    .event_time_ns = m->event_time_ns,
	    .cause_tid = m->cause_tid,
	    .events = m->events,
	};
	int r;

	session_revoke_unauthorized(s, m->exec);
	session_drop_snapshots(s, false);
	r = spt_state_apply(&s->cur, &m->delta);
	if (r == -EINVAL) {
		/* The reader and we disagree: a broken invariant, not bad input. */
		log_err("session %u: reader delta does not apply: %s", s->id, strerror(-r));
		abort();
	}
	if (r < 0) {
		/* Out of memory or over the hard caps: the copy is half updated. */
		session_abandon(s, spt_error_code_of(r), r == -ENOMEM ? "out of memory"
							      : "the target outgrew the limits");
		return false;
	}
	if (m->delta.nvmas_added && !session_check_memory(s))
		return false;
	s->cur_ns = meta.timestamp_ns;
	if (s->watches.n)
		session_publish(s, &m->delta, &meta);
	return true;
}

static void session_on_peek_done(struct session *s, struct spt_reader_msg *m)
{
	struct session_peek *p;

	LIST_FOREACH(p, &s->peeks, entry)
		if (p->cookie == m->cookie)
			break;
	if (!p)
		return;
	LIST_REMOVE(p, entry);
	if (session_hooks.peek_done)
		session_hooks.peek_done(p->viewer_id, p->request_id, p->watch_id, m->vaddr, m->err,
					m->why, m->page);
	free(p);
}

static void session_end(struct session *s);

/* Drains the reader's queue. Returns false if the session is gone. */
static bool session_take_messages(struct session *s)
{
	struct spt_reader_msg *m = spt_reader_take(s->rd), *next;
	bool alive = true, gone = false;

	for (; m; m = next) {
		next = m->next;
		if (!alive) {
			spt_reader_msg_free(m);
			continue;
		}
		switch (m->type) {
		case SPT_RMSG_OPENED:
			alive = session_on_opened(s, m);
			break;
		case SPT_RMSG_OPEN_FAILED:
			session_on_open_failed(s, m);
			alive = false;
			break;
		case SPT_RMSG_UPDATE:
			alive = session_on_update(s, m);
			break;
		case SPT_RMSG_ROOM:
			session_on_room(s);
			break;
		case SPT_RMSG_FAILING:
			snprintf(s->state_why, sizeof(s->state_why), "%s (keeping the last state)",
				 m->err == -E2BIG && s->limit_why[0] ? s->limit_why : m->why);
			log_rl(SPT_LOG_WARNING, "session %u: %s", s->id, s->state_why);
			if (s->state != SPT_SESSION_FAILING && m->err == -E2BIG && s->limit_why[0])
				session_tell_limit(s);
			session_set_state(s, SPT_SESSION_FAILING, s->state_why);
			break;
		case SPT_RMSG_RECOVERED:
			s->state_why[0] = '\0';
			session_set_state(s, SPT_SESSION_LIVE, "reads work again");
			break;
		case SPT_RMSG_GONE:
			gone = true;
			break;
		case SPT_RMSG_PEEK:
			session_on_peek_done(s, m);
			break;
		case SPT_RMSG_CREDS:
			session_revoke_unauthorized(s, true);
			if (s->watches.n == 0) {
				session_free(s); /* every viewer lost the right */
				alive = false;
			}
			break;
		}
		spt_reader_msg_free(m);
	}
	if (alive && s->state == SPT_SESSION_STALLED && !spt_reader_busy_since(s->rd))
		session_set_state(s, SPT_SESSION_LIVE, "the target's memory map can be read again");
	if (alive && gone && s->opened) {
		session_end(s);
		alive = false;
	}
	return alive;
}

static void session_on_reader(evutil_socket_t fd, short what, void *arg)
{
	session_take_messages(arg);
}

/* The target is gone: pending changes, a final delta to nothing, TargetExited, end. */
static void session_end(struct session *s)
{
	struct spt_delta_meta meta = {.exec = false, .cause = SHADOWPT__CAUSE__CAUSE_EXIT};
	struct spt_state empty;
	struct spt_delta d;
	struct watch *w;

	if (!s->opened) {
		/* Still opening: the reader reports the exit as a failed open. */
		return;
	}
	spt_state_init(&empty);
	spt_delta_init(&d);
	if (spt_state_diff(&s->cur, &empty, &d) == 0 && !spt_delta_empty(&d)) {
		spt_delta_set_cause(&d, SHADOWPT__CAUSE__CAUSE_EXIT);
		meta.timestamp_ns = meta.event_time_ns = spt_now_ns();
		session_drop_snapshots(s, false);
		spt_state_clear(&s->cur);
		session_publish(s, &d, &meta);
	}
	spt_delta_free(&d);
	log_rl(SPT_LOG_INFO, "session %u: target %d exited", s->id, (int)s->pid);
	while ((w = LIST_FIRST(&s->watches.list))) {
		Shadowpt__TargetExited te = SHADOWPT__TARGET_EXITED__INIT;
		Shadowpt__Frame f = SHADOWPT__FRAME__INIT;

		te.has_watch_id = te.has_pid = 1;
		te.watch_id = w->id;
		te.pid = s->pid;
		f.msg_case = SHADOWPT__FRAME__MSG_TARGET_EXITED;
		f.target_exited = &te;
		/* Frames of this watch already queued stay; TargetExited follows. */
		watch_send_frame(w, &f);
		session_unlink_watch(w);
	}
	session_free(s);
}

static void session_on_exit(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;

	/* What the reader saw before the exit goes out first. */
	if (session_take_messages(s))
		session_end(s);
}

void sessions_check_periodic(void)
{
	uint64_t now = spt_now_ns();
	struct session *s, *next;

	for (s = TAILQ_FIRST(&spt_sessions); s; s = next) {
		uint64_t busy = s->rd ? spt_reader_busy_since(s->rd) : 0;

		next = TAILQ_NEXT(s, entry);
		session_drop_snapshots(s, true);
		if (s->opened && s->mode == SPT_MODE_EVENTS &&
		    now / 1000000u - s->revoke_checked_ms >= SESSION_REVOKE_PERIOD_MS) {
			session_revoke_unauthorized(s, true);
			if (s->watches.n == 0) {
				session_free(s);
				continue;
			}
		}
		/*
		 * A reader that came back and went quiet posts nothing more:
		 * the last message may have found it busy again, so look here too.
		 */
		if (s->opened && s->state == SPT_SESSION_STALLED && !busy) {
			session_set_state(s, SPT_SESSION_LIVE,
					  "the target's memory map can be read again");
			continue;
		}
		if (!s->opened || s->state == SPT_SESSION_STALLED || !busy ||
		    now - busy < SPT_STALL_TIMEOUT_MS * 1000000ull)
			continue;
		snprintf(s->state_why, sizeof(s->state_why),
			 "reading pid %d has not returned for %llu ms (is its mmap_lock held?)",
			 (int)s->pid, (unsigned long long)((now - busy) / 1000000u));
		log_rl(SPT_LOG_NOTICE, "session %u: %s", s->id, s->state_why);
		session_set_state(s, SPT_SESSION_STALLED, s->state_why);
	}
}

static int session_open(pid_t pid, int pidfd, uint64_t start, uint64_t end, int backend,
			struct spt_user *payer, enum spt_charge_mode mode, struct session **out,
			char *why, size_t whylen)
{
	struct session *s = calloc(1, sizeof(*s));
	int r;

	if (!s) {
		snprintf(why, whylen, "out of memory");
		close(pidfd);
		return -ENOMEM;
	}
	s->pid = pid;
	s->pidfd = pidfd;
	s->start = start;
	s->end = end;
	spt_state_init(&s->cur);
	tokenmap_init(&s->tokens);
	watch_set_init(&s->watches);
	LIST_INIT(&s->peeks);
	TAILQ_INSERT_TAIL(&spt_sessions, s, entry);
	s->id = session_next_id++;
	if (session_next_id == 0)
		session_next_id = 1;
	s->cap_runs = session_initial_runs();
	s->cap_vmas = session_initial_vmas();
	if (spt_charge_set(&s->fd_charge, payer, SPT_SLOT_FDS, SPT_SESSION_FDS, mode) < 0) {
		snprintf(why, whylen, "shadowptd has no file descriptors to spare for uid %u "
			 "(%llu of %llu in use)", (unsigned)payer->uid,
			 (unsigned long long)spt_pool_used(SPT_SLOT_FDS),
			 (unsigned long long)spt_pool_size(SPT_SLOT_FDS));
		r = -EDQUOT;
		goto fail;
	}
	if (spt_charge_set(&s->mem_charge, payer, SPT_SLOT_MEMORY,
			   session_cost(s->cap_runs, s->cap_vmas), mode) < 0) {
		snprintf(why, whylen, "uid %u holds all the memory it may now (%llu MiB)",
			 (unsigned)payer->uid, (unsigned long long)(payer->used[SPT_SLOT_MEMORY] >> 20));
		r = -EDQUOT;
		goto fail;
	}

	r = spt_backend_select(backend, start, end, &s->ops, s->backend_reason,
			       sizeof(s->backend_reason));
	if (r < 0) {
		snprintf(why, whylen, "%s", s->backend_reason);
		goto fail;
	}
	s->rd = spt_reader_start(s->ops, backend, pid, pidfd, start, end, !spt_opts.no_events);
	if (!s->rd) {
		r = -errno;
		snprintf(why, whylen, "cannot start a reader thread: %s", strerror(errno));
		log_err("session for pid %d: %s", (int)pid, why);
		goto fail;
	}
	s->ev_reader =
	    event_new(spt_base, spt_reader_fd(s->rd), EV_READ | EV_PERSIST, session_on_reader, s);
	s->ev_exit = event_new(spt_base, pidfd, EV_READ, session_on_exit, s);
	if (!s->ev_reader || !s->ev_exit || event_add(s->ev_reader, NULL) < 0 ||
	    event_add(s->ev_exit, NULL) < 0) {
		snprintf(why, whylen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	*out = s;
	sessions_changed();
	return 0;
fail:
	session_free(s);
	return r < 0 ? r : -EIO;
}

/*
 * A viewer that names a backend gets that backend: it must not be joined
 * to another backend's session of the same window (the VM suite compares
 * kernel and procfs viewers of one window). auto joins whatever serves it;
 * a session still opening serves only what was asked of it.
 */
static bool session_serves_backend(const struct session *s, int backend)
{
	if (backend == SHADOWPT__BACKEND__BACKEND_UNSPECIFIED ||
	    backend == SHADOWPT__BACKEND__BACKEND_AUTO)
		return true;
	return s->opened ? s->ops->id == backend : s->requested == backend;
}

int session_get(pid_t pid, int pidfd, uint64_t start, uint64_t end, int backend,
		struct spt_user *payer, enum spt_charge_mode mode, struct session **out, char *why,
		size_t whylen)
{
	struct session *s;
	int r;

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
	r = session_open(pid, pidfd, start, end, backend, payer, mode, out, why, whylen);
	if (r == 0)
		(*out)->requested = backend;
	return r;
}

void session_add_watch(struct session *s, struct watch *w)
{
	watch_attach(w, s, &s->watches, s->id);
	if (!s->owner)
		s->owner = w; /* it opened the session: its charges are on its uid already */
	/* A new viewer wants to see changes promptly: not after the old wait. */
	session_update_bounds(s, true);
	sessions_changed();
	if (s->opened && !session_watch_started(w))
		session_release_if_idle(s); /* the viewer was told why */
}

/* Encodes cur's snapshot for one class into sn. 0 or -errno. */
static int session_encode_snapshot(struct session *s, const struct spt_snapshot_meta *meta,
				   bool raw, struct session_snapshot *sn)
{
	struct spt_encoded *frames = NULL;
	size_t n = 0;
	int r;

	r = spt_snapshot_encode(&s->cur, meta, raw ? NULL : tokenmap_map_fn,
				raw ? NULL : &s->tokens, &frames, &n);
	if (r < 0) {
		if (r != -EMSGSIZE)
			log_err("session %u: cannot encode snapshot: %s", s->id, strerror(-r));
		return r;
	}
	sn->bufs = calloc(n ? n : 1, sizeof(*sn->bufs));
	for (size_t i = 0; sn->bufs && i < n; i++) {
		sn->bufs[i] = spt_buf_from_encoded(&frames[i]);
		if (!sn->bufs[i])
			break;
		sn->n++;
	}
	spt_encoded_free_array(frames, n);
	if (!sn->bufs || sn->n != n) {
		snapshot_drop(sn);
		return -ENOMEM;
	}
	sn->seq = s->seq;
	spt_stats.snapshots_encoded++;
	return 0;
}

int session_send_snapshot(struct watch *w, bool resync)
{
	struct session *s = w->s;
	struct spt_snapshot_meta meta = {
	    .watch_id = w->id,
	    .seq = s->seq,
	    .timestamp_ns = s->cur_ns,
	    .resync = resync,
	    .proto = watch_proto(w),
	};
	bool raw = w->raw_pfns || !spt_pfns_readable;
	struct session_snapshot *sn = &s->snaps[!raw][watch_proto(w) >= 2][resync];
	int r = 0;

	/* The frames name the watch: shared only because every watch of s has its id. */
	spt_assert(w->id == s->id);
	if (sn->bufs && sn->seq != s->seq)
		snapshot_drop(sn);
	if (!sn->bufs) {
		r = session_encode_snapshot(s, &meta, raw, sn);
		if (r < 0)
			return r;
	}
	sn->idle = false;
	for (size_t i = 0; i < sn->n && r == 0; i++)
		r = watch_queue_snapshot(w, sn->bufs[i]);
	if (r == 0 && resync)
		spt_stats.resyncs++;
	return r;
}

int session_peek(struct watch *w, uint32_t request_id, uint64_t vaddr)
{
	struct session *s = w->s;
	struct session_peek *p;
	int r;

	if (!s->opened)
		return -EAGAIN;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cookie = session_next_cookie++;
	p->viewer_id = watch_viewer_id(w);
	p->request_id = request_id;
	p->watch_id = w->id;
	r = spt_reader_peek(s->rd, p->cookie, vaddr, watch_peer(w));
	if (r < 0) {
		free(p);
		return r;
	}
	LIST_INSERT_HEAD(&s->peeks, p, entry);
	return 0;
}

void sessions_close_all(void)
{
	struct session *s;

	while ((s = TAILQ_FIRST(&spt_sessions))) {
		struct watch *w;

		while ((w = LIST_FIRST(&s->watches.list)))
			watch_free(w);
		session_free(s);
	}
}
