// SPDX-License-Identifier: GPL-2.0-or-later
/* Tracepoint ids and field offsets from tracefs, mounting it if needed. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "tracefs.h"

#ifndef TRACEFS_MAGIC
#define TRACEFS_MAGIC 0x74726163
#endif

static struct spt_tracefs tracefs;
static pthread_once_t tracefs_once = PTHREAD_ONCE_INIT;

static bool is_tracefs(const char *path)
{
	struct statfs sf;
	char probe[96];
	int fd;

	snprintf(probe, sizeof(probe), "%s/events", path);
	if (statfs(path, &sf) < 0 || sf.f_type != TRACEFS_MAGIC)
		return false;
	/* open, not access(): access() ignores capabilities for a non-root uid. */
	fd = open(probe, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int find_or_mount(char *why, size_t whylen)
{
	static const char *const paths[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		if (is_tracefs(paths[i])) {
			snprintf(tracefs.path, sizeof(tracefs.path), "%s", paths[i]);
			return 0;
		}
	}
	if (mount("tracefs", paths[0], "tracefs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
		snprintf(why, whylen, "tracefs not mounted and mounting it at %s failed: %s",
			 paths[0], strerror(errno));
		return -errno;
	}
	if (!is_tracefs(paths[0])) {
		snprintf(why, whylen, "tracefs mounted at %s has no events", paths[0]);
		return -ENOENT;
	}
	snprintf(tracefs.path, sizeof(tracefs.path), "%s", paths[0]);
	return 0;
}

static ssize_t read_small(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	while (got + 1 < len) {
		ssize_t n = read(fd, buf + got, len - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* The offset of field name on one "field:TYPE NAME;\toffset:N;..." line, or -1. */
static long field_offset(const char *line, const char *eol, const char *name)
{
	const char *semi = memchr(line, ';', (size_t)(eol - line)), *n, *o;
	size_t nl = strlen(name);

	if (!semi)
		return -1;
	n = semi;
	while (n > line && n[-1] != ' ' && n[-1] != '\t' && n[-1] != ':')
		n--;
	/* "args[6]" is field "args". */
	if ((size_t)(semi - n) < nl || strncmp(n, name, nl) || (n[nl] != ';' && n[nl] != '['))
		return -1;
	o = strstr(semi, "offset:");
	if (!o || o >= eol)
		return -1;
	return strtol(o + 7, NULL, 10);
}

int spt_tracefs_parse_format(const char *text, const char *const names[], size_t n, uint16_t off[])
{
	for (size_t i = 0; i < n; i++) {
		const char *p = text;
		long v = -1;

		while (v < 0 && (p = strstr(p, "field:"))) {
			const char *eol = strchr(p, '\n');

			if (!eol)
				eol = p + strlen(p);
			v = field_offset(p + 6, eol, names[i]);
			p = eol;
		}
		if (v < 0 || v > 0xffff)
			return -ENOENT;
		off[i] = (uint16_t)v;
	}
	return 0;
}

static int read_tracepoint(const char *event, const char *const fields[], size_t n,
			   struct spt_tracepoint *tp)
{
	char path[160], buf[4096];
	long id;

	tp->id = -1;
	snprintf(path, sizeof(path), "%s/events/%s/id", tracefs.path, event);
	if (read_small(path, buf, sizeof(buf)) <= 0)
		return -ENOENT;
	id = strtol(buf, NULL, 10);
	if (id <= 0)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/events/%s/format", tracefs.path, event);
	if (read_small(path, buf, sizeof(buf)) <= 0 ||
	    spt_tracefs_parse_format(buf, fields, n, tp->off) < 0)
		return -EINVAL;
	tp->id = id;
	return 0;
}

static void probe(void)
{
	static const char *const fault_fields[] = {"address", "error_code"};
	static const char *const enter_fields[] = {"id", "args"};
	static const char *const exit_fields[] = {"id", "ret"};
	static const char *const newtask_fields[] = {"clone_flags"};
	const struct {
		const char *name;
		const char *const *fields;
		size_t n;
		struct spt_tracepoint *tp;
	} tps[] = {
	    {"exceptions/page_fault_user", fault_fields, 2, &tracefs.fault_user},
	    {"exceptions/page_fault_kernel", fault_fields, 2, &tracefs.fault_kernel},
	    {"raw_syscalls/sys_enter", enter_fields, 2, &tracefs.sys_enter},
	    {"raw_syscalls/sys_exit", exit_fields, 2, &tracefs.sys_exit},
	    {"task/task_newtask", newtask_fields, 1, &tracefs.new_task},
	};
	size_t len = 0;

	tracefs.probed = true;
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++)
		tps[i].tp->id = -1;
	if (find_or_mount(tracefs.why, sizeof(tracefs.why)) < 0)
		return;
	for (size_t i = 0; i < sizeof(tps) / sizeof(tps[0]); i++) {
		if (read_tracepoint(tps[i].name, tps[i].fields, tps[i].n, tps[i].tp) == 0 ||
		    tps[i].tp == &tracefs.new_task) /* optional: forks are guessed without it */
			continue;
		len += (size_t)snprintf(tracefs.why + len,
					len < sizeof(tracefs.why) ? sizeof(tracefs.why) - len : 0,
					"%s%s", len ? ", " : "no tracepoint ", tps[i].name);
		if (len >= sizeof(tracefs.why))
			len = sizeof(tracefs.why) - 1;
	}
}

const struct spt_tracefs *spt_tracefs_probe(void)
{
	pthread_once(&tracefs_once, probe);
	return &tracefs;
}
