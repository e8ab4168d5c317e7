/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Sessions: one per watched (pid, range), shared by all its viewers. A
 * session owns its reader (reader.h), its copy of the state and its
 * encoded snapshots, and reaches its viewers only through their watches
 * (watch.h): it knows nothing of connections. What the layer above must
 * hear it reports through struct session_hooks.
 */
#ifndef SHADOWPTD_SESSION_H
#define SHADOWPTD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "backend.h"
#include "reader.h"
#include "state.h"
#include "tokenmap.h"
#include "user.h"
#include "watch.h"

struct event;

/* Session health, the values of Shadowpt__WatchState. */
enum {
	SPT_SESSION_LIVE = 1,
	SPT_SESSION_STALLED = 2,
	SPT_SESSION_FAILING = 3,
};

/* A peek waiting for the session's reader. */
struct session_peek {
	LIST_ENTRY(session_peek) entry;
	uint64_t cookie, viewer_id; /* viewer_id: watch_viewer_id of the asker */
	uint32_t request_id, watch_id;
};

struct session {
	TAILQ_ENTRY(session) entry;
	uint32_t id;
	pid_t pid;
	int pidfd;
	struct event *ev_exit, *ev_reader;
	uint64_t start, end;
	int requested;			   /* Shadowpt__Backend the first viewer asked for */
	const struct spt_backend_ops *ops; /* chosen; final once opened */
	struct spt_reader *rd;
	bool opened; /* the reader's first state arrived */
	char backend_reason[160];
	char comm[32];
	int mode; /* enum spt_reader_mode */
	char mode_reason[160];
	int state; /* SPT_SESSION_* */
	uint64_t state_since_ns;
	char state_why[224];
	struct spt_state cur;
	uint64_t seq;	 /* seq of cur */
	uint64_t cur_ns; /* CLOCK_MONOTONIC time cur was last changed */
	uint64_t revoke_checked_ms;
	struct spt_tokenmap tokens;
	struct watch_set watches; /* its viewers */
	LIST_HEAD(, session_peek) peeks;
	/*
	 * Its viewer who pays for it (the first; when that one leaves, the
	 * next): SPT_SESSION_FDS, and the memory reserved for the state
	 * caps granted to the reader (see spt_reader_answer_room).
	 */
	struct watch *owner;
	struct spt_charge fd_charge, mem_charge;
	size_t cap_runs, cap_vmas;
	char limit_why[160]; /* why the last request for room was refused */
	/*
	 * cur's snapshot, encoded once per [raw, token][protocol 1, 2]
	 * [initial, resync] and the same buffers queued to every viewer that
	 * needs it (each charged for them as its own). Dropped when cur
	 * changes, and once no viewer has held them for a periodic check.
	 */
	struct session_snapshot {
		uint64_t seq;
		struct spt_buf **bufs;
		size_t n;
		bool idle; /* nobody held them at the last periodic check */
	} snaps[2][2][2];
};

struct spt_peer;

TAILQ_HEAD(session_list, session);

struct session_hooks {
	/* A session opened, closed, or gained a viewer (the status line). */
	void (*changed)(void);
	/*
	 * A peek the reader finished, for the viewer viewer_id (who may be
	 * gone by now). err 0: page holds the page; else why says why not.
	 */
	void (*peek_done)(uint64_t viewer_id, uint32_t request_id, uint32_t watch_id,
			  uint64_t vaddr, int err, const char *why, const uint8_t *page);
};

/* Before the first session opens. */
void sessions_init(const struct session_hooks *hooks);
/* Sessions, open or opening. */
unsigned sessions_count(void);
/* The caps of one session's state: SPT_MAX_*_PER_SESSION, or lower by --max-session-*. */
size_t session_max_runs(void);
size_t session_max_vmas(void);
size_t session_initial_runs(void);
size_t session_initial_vmas(void);
/*
 * Finds the live session for (pid, range) or opens one. pidfd (owned by
 * the call from now on) was opened before authorization was checked; the
 * session verifies it is still alive after opening the backend, so every
 * /proc/PID read so far was about the process the pidfd names. A new
 * session's fds and first reservation are charged to payer (mode as
 * conn_charge_mode). Returns 0, or -errno (for spt_error_code_of) and
 * why.
 */
int session_get(pid_t pid, int pidfd, uint64_t start, uint64_t end, int backend,
		struct spt_user *payer, enum spt_charge_mode mode, struct session **out, char *why,
		size_t whylen);
/* Closes s if nobody watches it (after a failed subscription). */
void session_release_if_idle(struct session *s);
/*
 * Subscribes w (new from watch_new) to s. WatchStarted (echoing its
 * request_id) and the snapshot go out now if the session is open, else
 * once its reader's first state arrives. A polling session samples
 * within the tightest bounds any of its viewers asked for. If the
 * viewer could not be served (told why), w is gone and s may be too.
 */
void session_add_watch(struct session *s, struct watch *w);
/* Queues a (possibly chunked) snapshot of the current state to w's viewer. */
int session_send_snapshot(struct watch *w, bool resync);
/* Ends one subscription (frees w); closes the session if it was the last. */
void session_remove_watch(struct watch *w);
/* Asks the reader for a page; the reply goes out through session_hooks.peek_done. */
int session_peek(struct watch *w, uint32_t request_id, uint64_t vaddr);
/*
 * Periodic: sessions whose reader is stuck inside a read become stalled;
 * event-driven sessions re-check their viewers' rights.
 */
void sessions_check_periodic(void);
/* Closes every session (shutdown): releases backends, no frames sent. */
void sessions_close_all(void);
/* Is the session's target still the process it was opened on? */
bool session_target_alive(const struct session *s);
unsigned sessions_viewers(void);
/*
 * Fills ss[i], ssp[i] = &ss[i] and rg[i] (its range) for each session
 * peer may see, with room for sessions_count(); returns how many.
 */
size_t sessions_status(const struct spt_peer *peer, Shadowpt__SessionStatus *ss,
		       Shadowpt__SessionStatus **ssp, Shadowpt__Range *rg);
/* Whether a session holds the kernel's one table, and the uid paying for it. */
bool sessions_kernel_table_holder(uid_t *uid);

#endif
