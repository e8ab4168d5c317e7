/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadowptd core objects and the functions the event-loop modules call on
 * each other (the role tmux.h plays for tmux):
 *   server.c        listener, signals, systemd, shutdown, global counters
 *   server-client.c one viewer connection: handshake, requests, output
 *   session.c       one watched (pid, range): its reader's deltas, fan-out
 * Everything here runs on one libevent thread; objects are freed only from
 * places that are not inside their own iteration (see client_close). The
 * only other threads are the sessions' readers (reader.h), which share
 * nothing with these objects but their message queues.
 */
#ifndef SHADOWPTD_H
#define SHADOWPTD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "auth.h"
#include "backend.h"
#include "clock.h"
#include "conn.h"
#include "globals.h"
#include "interval.h"
#include "outq.h"
#include "reader.h"
#include "rlimits.h"
#include "state.h"
#include "tokenmap.h"
#include "user.h"
#include "wire.h"

struct client;
struct session;

/* One viewer's subscription to one session. */
struct watch {
	uint32_t id; /* == session id: shared delta bytes carry it */
	struct client *c;
	struct session *s;
	bool raw_pfns;	   /* admin viewer: raw pfns, else tokens */
	uint32_t min_ms, max_ms; /* sampling bounds asked for, made valid */
	bool needs_resync; /* deltas were dropped: snapshot when drained */
	bool pending;	   /* session still opening: WatchStarted not sent yet */
	uint32_t request_id; /* of the Watch request, echoed by WatchStarted */
	struct spt_charge charge; /* one of its uid's SPT_SLOT_WATCHES */
	LIST_ENTRY(watch) client_entry;
	LIST_ENTRY(watch) session_entry;
};

/* One viewer: its connection and its subscriptions. */
struct client {
	struct conn conn; /* conn.c reports with &conn (client_of) */
	LIST_HEAD(, watch) watches;
	unsigned nwatches;
};

/* Session health, the values of Shadowpt__WatchState. */
enum {
	SPT_SESSION_LIVE = 1,
	SPT_SESSION_STALLED = 2,
	SPT_SESSION_FAILING = 3,
};

/* A peek waiting for the session's reader. */
struct session_peek {
	LIST_ENTRY(session_peek) entry;
	uint64_t cookie, client_id;
	uint32_t request_id, watch_id;
};

struct session {
	TAILQ_ENTRY(session) entry;
	uint32_t id;
	pid_t pid;
	int pidfd;
	struct event *ev_exit, *ev_reader;
	uint64_t start, end;
	int requested; /* Shadowpt__Backend the first viewer asked for */
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
	LIST_HEAD(, watch) watches;
	unsigned nwatches;
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

/* server.c */
TAILQ_HEAD(session_list, session);
extern struct session_list spt_sessions;
void server_update_status(void);

/* server-client.c */
/* How c's charges are checked: admins are exempt from per-uid quotas. */
enum spt_charge_mode client_charge_mode(const struct client *c);
void client_accept(int fd, const struct spt_peer *peer, const gid_t *groups, int ngroups);
/* Queues an encoded frame; kind and watch_id drive the budget policy. */
int client_queue(struct client *c, struct spt_buf *b, enum outq_kind kind, uint32_t watch_id);
/* Encodes and queues one frame. */
int client_send_frame(struct client *c, const SptFrame *f, enum outq_kind kind, uint32_t watch_id);
int client_send_error(struct client *c, uint32_t request_id, int code, uint32_t watch_id,
		      bool fatal, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* Budget policy for one delta of watch w (drop + resync when over). */
void client_queue_delta(struct watch *w, struct spt_buf *b);
/* Drops every unsent frame of a watch that ends. */
void client_drop_watch_output(struct client *c, uint32_t watch_id);
/* Drops w's queued deltas and resyncs it once the output drains. */
void client_request_resync(struct watch *w);
/* The reply to a peek the session's reader finished (err 0: page is valid), if that connection is still there. */
void client_peek_reply(uint64_t client_id, uint32_t request_id, uint32_t watch_id, uint64_t vaddr,
		       int err, const char *why, const uint8_t *page);
/* Marks c dead and schedules it to be freed; safe from any callback. */
void client_close(struct client *c, const char *why);

/* session.c */
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
 * client_charge_mode). Returns 0, or -errno (for spt_error_code_of) and
 * why.
 */
int session_get(pid_t pid, int pidfd, uint64_t start, uint64_t end, int backend,
		struct spt_user *payer, enum spt_charge_mode mode, struct session **out, char *why,
		size_t whylen);
/* Closes s if nobody watches it (after a failed subscription). */
void session_release_if_idle(struct session *s);
/*
 * Subscribes c to s. WatchStarted (echoing request_id) and the snapshot
 * go out now if the session is open, else once its reader's first state
 * arrives. A polling session samples within the tightest bounds any of
 * its viewers asked for (min_ms/max_ms, 0: daemon default). The watch
 * takes over charge (its uid's SPT_SLOT_WATCHES). 0, or -ENOMEM (nothing
 * subscribed, charge left as it was).
 */
int session_add_watch(struct session *s, struct client *c, bool raw_pfns, uint32_t min_ms,
		      uint32_t max_ms, uint32_t request_id, struct spt_charge *charge);
/* Queues a (possibly chunked) snapshot of the current state to w's viewer. */
int session_send_snapshot(struct watch *w, bool resync);
/* Ends one subscription (frees w); closes the session if it was the last. */
void session_remove_watch(struct watch *w);
/* Asks the reader for a page; the reply goes out through client_peek_reply. */
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

#endif
