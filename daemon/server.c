// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The event loop: listening sockets (systemd's or our own), accept with
 * SO_PEERCRED, signals, sd_notify and watchdog, the deadline scan, and
 * orderly shutdown. The top of the daemon's modules (README.md): it sets
 * up the layers below and wires their reports up (conn.h, session.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "backend.h"
#include "clock.h"
#include "conn.h"
#include "globals.h"
#include "log.h"
#include "reader.h"
#include "request.h"
#include "rlimits.h"
#include "server.h"
#include "session.h"
#include "user.h"

#define SERVER_MAX_LISTENERS   8
#define SERVER_MAX_PEER_GROUPS 256

static int listen_fds[SERVER_MAX_LISTENERS];
static struct event *listen_evs[SERVER_MAX_LISTENERS];
static int nlisten;
static bool bound_path; /* we created the socket file: unlink at exit */
static char created_dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct event *ev_deadlines, *ev_watchdog, *ev_sigterm, *ev_sigint;
static struct event *ev_shutdown_tick, *ev_accept_resume;
static uint64_t shutdown_started_ms;

/* The daemon's status line in systemd: connections and sessions. */
static void server_update_status(void)
{
	unsigned nc = conns_live(), ns = sessions_count();

	sd_notifyf(0, "STATUS=%u viewer connection%s, %u session%s%s", nc, nc == 1 ? "" : "s", ns,
		   ns == 1 ? "" : "s", spt_shutting_down ? ", shutting down" : "");
}

/* ---- listening ---- */

/*
 * A socket file at path: if something accepts connections there another
 * daemon is live and we refuse; if connect() says ECONNREFUSED nobody
 * listens and the file is stale.
 */
static int server_check_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("%s exists and is not a socket; refusing to replace it", sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	if (r == 0) {
		close(fd);
		log_err("another shadowptd is listening on %s", sa->sun_path);
		return -EADDRINUSE;
	}
	r = errno;
	close(fd);
	if (r != ECONNREFUSED) {
		log_err("cannot tell whether %s is in use: %s", sa->sun_path, strerror(r));
		return -r;
	}
	log_info("removing stale socket %s", sa->sun_path);
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int server_bind_path(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	/* Our runtime directory: create it (not its parents) if missing. */
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == 0) {
			/* Viewers must reach the socket whatever our umask is. */
			chmod(dir, 0755);
			strcpy(created_dir, dir);
		} else if (errno != EEXIST) {
			r = -errno;
			log_err("cannot create %s: %s", dir, strerror(-r));
			return r;
		}
	}
	r = server_check_stale(&sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		log_err("cannot bind %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	bound_path = true;
	/* Anyone may connect: authorization is by SO_PEERCRED per request. */
	if (chmod(path, 0666) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		log_err("cannot listen on %s: %s", path, strerror(-r));
		close(fd);
		return r;
	}
	listen_fds[nlisten++] = fd;
	log_info("listening on %s", path);
	return 0;
}

/* SIGTERM and SIGINT: held from listen until the loop can handle them. */
static void server_block_stop_signals(int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(how, &set, NULL);
}

void server_unlisten(void)
{
	for (int i = 0; i < nlisten; i++)
		close(listen_fds[i]);
	nlisten = 0;
	/* EACCES: a runtime dir we may not write (see server_chown_socket). */
	if (bound_path && unlink(spt_opts.socket_path) < 0 && errno != ENOENT)
		log_msg(errno == EACCES ? SPT_LOG_NOTICE : SPT_LOG_WARNING, "cannot remove %s: %s",
			spt_opts.socket_path, strerror(errno));
	bound_path = false;
}

int server_listen(void)
{
	int n;

	/*
	 * A stop signal from now on must not kill the daemon with its socket
	 * still bound: it waits until server_run() can shut down cleanly.
	 */
	server_block_stop_signals(SIG_BLOCK);
	n = sd_listen_fds(1);

	if (n < 0) {
		log_err("sd_listen_fds: %s", strerror(-n));
		return n;
	}
	if (n > 0) {
		if (n > SERVER_MAX_LISTENERS) {
			log_err("systemd passed %d sockets; at most %d supported", n,
				SERVER_MAX_LISTENERS);
			return -EINVAL;
		}
		for (int i = 0; i < n; i++) {
			int fd = SD_LISTEN_FDS_START + i;

			if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
				log_err("socket-activation fd %d is not a listening unix stream "
					"socket",
					fd);
				return -EINVAL;
			}
			fcntl(fd, F_SETFD, FD_CLOEXEC);
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
			listen_fds[nlisten++] = fd;
		}
		log_info("using %d socket%s from systemd", n, n == 1 ? "" : "s");
		return 0;
	}
	return server_bind_path(spt_opts.socket_path);
}

/* Whether uid:gid (no capabilities) may unlink entries of dir. */
static bool dir_writable_by(const char *dir, uid_t uid, gid_t gid)
{
	struct stat st;

	if (stat(dir, &st) < 0)
		return false;
	if (st.st_uid == uid)
		return st.st_mode & S_IWUSR;
	if (st.st_gid == gid)
		return st.st_mode & S_IWGRP;
	return st.st_mode & S_IWOTH;
}

int server_chown_socket(uid_t uid, gid_t gid)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	if (!bound_path)
		return 0;
	snprintf(dir, sizeof(dir), "%s", spt_opts.socket_path);
	slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	/* So that the daemon, once it is that user, can remove its socket. */
	if ((created_dir[0] && chown(created_dir, uid, gid) < 0) ||
	    chown(spt_opts.socket_path, uid, gid) < 0) {
		int r = -errno;

		log_err("cannot give the socket to uid %u: %s", (unsigned)uid, strerror(-r));
		return r;
	}
	if (!created_dir[0] && !dir_writable_by(dir, uid, gid))
		log_notice("%s is not writable by uid %u: %s will stay behind at exit "
			   "(the next start replaces it)",
			   dir, (unsigned)uid, spt_opts.socket_path);
	return 0;
}

static void server_pause_accept(void)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};

	for (int i = 0; i < nlisten; i++)
		event_del(listen_evs[i]);
	evtimer_add(ev_accept_resume, &tv);
}

static void server_on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	if (spt_shutting_down)
		return;
	for (int i = 0; i < nlisten; i++)
		event_add(listen_evs[i], NULL);
}

static void server_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	gid_t groups[SERVER_MAX_PEER_GROUPS];
	struct ucred cred;
	socklen_t len;
	struct spt_peer peer;
	int fd, ngroups;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			/* Out of fds: back off instead of spinning on the listener. */
			log_warn("accept: %s", strerror(errno));
			server_pause_accept();
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("SO_PEERCRED: %s; dropping connection", strerror(errno));
			close(fd);
			continue;
		}
		len = sizeof(groups);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
			ngroups = (int)(len / sizeof(gid_t));
		else
			ngroups = -1; /* too many or unsupported: read /proc instead */
		peer = (struct spt_peer){.uid = cred.uid, .gid = cred.gid, .pid = cred.pid};
		client_accept(fd, &peer, groups, ngroups);
	}
}

/* ---- periodic work ---- */

static void server_on_deadlines(evutil_socket_t fd, short what, void *arg)
{
	conns_check_deadlines();
	sessions_check_periodic();
}

static void server_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

/* ---- shutdown ---- */

static void server_finish_if_flushed(evutil_socket_t fd, short what, void *arg)
{
	if (conns_all_flushed() || spt_now_ms() - shutdown_started_ms > SPT_SHUTDOWN_FLUSH_MS)
		event_base_loopbreak(spt_base);
}

static void server_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct timeval tick = {.tv_sec = 0, .tv_usec = 20000};

	if (spt_shutting_down)
		return;
	log_info("%s: shutting down", strsignal((int)sig));
	spt_shutting_down = true;
	shutdown_started_ms = spt_now_ms();
	sd_notify(0, "STOPPING=1");
	for (int i = 0; i < nlisten; i++)
		event_del(listen_evs[i]);
	event_del(ev_accept_resume);
	/* Release kernel tables and procfs handles now; viewers are told next. */
	sessions_close_all();
	conns_shutdown();
	server_update_status();
	event_add(ev_shutdown_tick, &tick);
}

int server_loop_init(void)
{
	struct timeval dl = {.tv_sec = SPT_DEADLINE_CHECK_MS / 1000,
			     .tv_usec = (SPT_DEADLINE_CHECK_MS % 1000) * 1000};

	spt_start_ms = spt_now_ms();
	spt_bounds_setup(spt_opts.memory, spt_opts.memory_per_uid, &spt_bounds);
	spt_reader_set_initial_caps(session_initial_runs(), session_initial_vmas());
	spt_base = event_base_new();
	if (!spt_base)
		return -ENOMEM;
	/* The layers below report up only through these. */
	sessions_init(&(struct session_hooks){
	    .changed = server_update_status,
	    .peek_done = client_peek_reply,
	});
	if (conns_init(spt_base, server_update_status) < 0)
		return -ENOMEM;
	ev_deadlines = event_new(spt_base, -1, EV_PERSIST, server_on_deadlines, NULL);
	ev_shutdown_tick = event_new(spt_base, -1, EV_PERSIST, server_finish_if_flushed, NULL);
	ev_accept_resume = evtimer_new(spt_base, server_on_accept_resume, NULL);
	if (!ev_deadlines || !ev_shutdown_tick || !ev_accept_resume)
		return -ENOMEM;
	event_add(ev_deadlines, &dl);
	return 0;
}

/* Signals, listeners and the watchdog: the daemon's own, not a harness's. */
static int server_setup_events(void)
{
	uint64_t wd_usec = 0;

	ev_sigterm = evsignal_new(spt_base, SIGTERM, server_on_signal, NULL);
	ev_sigint = evsignal_new(spt_base, SIGINT, server_on_signal, NULL);
	if (!ev_sigterm || !ev_sigint)
		return -ENOMEM;
	event_add(ev_sigterm, NULL);
	event_add(ev_sigint, NULL);
	for (int i = 0; i < nlisten; i++) {
		listen_evs[i] = event_new(spt_base, listen_fds[i], EV_READ | EV_PERSIST,
					  server_on_accept, NULL);
		if (!listen_evs[i])
			return -ENOMEM;
		event_add(listen_evs[i], NULL);
	}
	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec > 0) {
		struct timeval tv = {.tv_sec = (time_t)(wd_usec / 2 / 1000000),
				     .tv_usec = (suseconds_t)(wd_usec / 2 % 1000000)};

		ev_watchdog = event_new(spt_base, -1, EV_PERSIST, server_on_watchdog, NULL);
		if (!ev_watchdog)
			return -ENOMEM;
		event_add(ev_watchdog, &tv);
		log_info("systemd watchdog: pinging every %llu ms",
			 (unsigned long long)(wd_usec / 2000));
	}
	return 0;
}

static void server_free_events(void)
{
	struct event **evs[] = {&ev_deadlines, &ev_watchdog,	    &ev_sigterm,
				&ev_sigint,    &ev_shutdown_tick, &ev_accept_resume};

	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		if (*evs[i])
			event_free(*evs[i]);
		*evs[i] = NULL;
	}
	for (int i = 0; i < nlisten; i++) {
		if (listen_evs[i])
			event_free(listen_evs[i]);
		listen_evs[i] = NULL;
	}
}

void server_loop_free(void)
{
	sessions_close_all();
	conns_close_all("daemon exiting");
	/* Everything charged went with what held it (user.h). */
	spt_users_check_empty();
	conns_free();
	server_free_events();
	if (spt_base)
		event_base_free(spt_base);
	spt_base = NULL;
}

int server_run(void)
{
	int r;

	signal(SIGPIPE, SIG_IGN);
	r = server_loop_init();
	if (r == 0)
		r = server_setup_events();
	if (r < 0) {
		log_err("cannot set up events: %s", strerror(-r));
		server_loop_free();
		server_unlisten();
		return 1;
	}
	server_block_stop_signals(SIG_UNBLOCK); /* one already pending is handled now */
	sd_notify(0, "READY=1");
	server_update_status();
	log_info("ready (default backend %s, sampling %u..%u ms)",
		 spt_backend_name(spt_opts.backend), spt_opts.min_ms, spt_opts.max_ms);
	event_base_dispatch(spt_base);

	/* Shut down: whatever is left is closed without further ado. */
	server_loop_free();
	server_unlisten();
	log_ratelimit_flush();
	log_info("exited cleanly");
	return 0;
}
