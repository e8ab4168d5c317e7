// SPDX-License-Identifier: GPL-2.0-or-later
/* shadowptd: options, startup order (listen, drop privileges, serve). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "globals.h"
#include "log.h"
#include "privs.h"
#include "server.h"
#include "wire.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: shadowptd [OPTION]...\n"
		"Serve live page-state streams of processes to shadowctl viewers.\n"
		"\n"
		"  -s, --socket PATH         listen on PATH (default $SHADOWPT_SOCKET, else\n"
		"                            " SPT_DEFAULT_SOCKET ");\n"
		"                            ignored when socket-activated by systemd\n"
		"  -b, --backend NAME        default backend: auto, kernel or procfs (auto)\n"
		"      --min-interval-ms N   fastest sampling interval (default %u, >= %u)\n"
		"      --max-interval-ms N   idle sampling interval (default %u, <= %u)\n"
		"      --no-events           poll targets on the interval above instead of\n"
		"                            following their own events (perf, the kernel\n"
		"                            table's notification)\n"
		"      --max-session-runs N  page runs one watched range may hold (default\n"
		"                            and most %u)\n"
		"      --max-session-vmas N  VMAs one watched range may hold (default and\n"
		"                            most %u)\n"
		"      --memory-per-uid SIZE memory charged to one uid (default and most\n"
		"                            %llu MiB; K, M, G suffixes)\n"
		"      --memory-total SIZE   memory charged to all uids together (default\n"
		"                            and most %llu MiB)\n"
		"  -u, --user NAME           user to run as after startup (default %s)\n"
		"      --keep-root           if that user does not exist, stay uid 0 instead\n"
		"                            of refusing to start; every capability except\n"
		"                            CAP_SYS_ADMIN, CAP_SYS_PTRACE and\n"
		"                            CAP_DAC_READ_SEARCH is still dropped and\n"
		"                            no_new_privs is set\n"
		"  -f, --foreground          accepted for compatibility; shadowptd never\n"
		"                            forks (systemd Type=notify)\n"
		"  -v, --verbose             debug logging\n"
		"  -h, --help                this help\n"
		"  -V, --version             print the version\n"
		"\n"
		"Started as root, shadowptd binds its socket, then becomes --user keeping\n"
		"only CAP_SYS_ADMIN, CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH (to open other\n"
		"users' /proc/PID/pagemap). Started as another user it runs as is: viewers\n"
		"can then watch only that user's processes, without pfns.\n",
		SPT_SAMPLE_MIN_MS_DEFAULT, SPT_SAMPLE_MIN_MS_FLOOR, SPT_SAMPLE_MAX_MS_DEFAULT,
		SPT_SAMPLE_MAX_MS_CEIL, SPT_MAX_RUNS_PER_SESSION, SPT_MAX_VMAS_PER_SESSION,
		(unsigned long long)(SPT_MEMORY_PER_UID >> 20),
		(unsigned long long)(SPT_MEMORY_TOTAL >> 20), SPT_DEFAULT_USER);
}

/* A positive count or size (K, M, G suffixes), at most max: lowers a built-in limit. */
static int parse_limit(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (!errno && end != s) {
		unsigned shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;

		if (shift)
			end++;
		if (!*end && v && v <= (max >> shift)) {
			*out = (uint64_t)v << shift;
			return 0;
		}
	}
	fprintf(stderr, "shadowptd: %s: expected 1..%llu, got '%s'\n", opt, (unsigned long long)max,
		s);
	return -EINVAL;
}

static int parse_ms(const char *opt, const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || !*s || *end || v < SPT_SAMPLE_MIN_MS_FLOOR || v > SPT_SAMPLE_MAX_MS_CEIL) {
		fprintf(stderr, "shadowptd: %s: expected %u..%u milliseconds, got '%s'\n", opt,
			SPT_SAMPLE_MIN_MS_FLOOR, SPT_SAMPLE_MAX_MS_CEIL, s);
		return -EINVAL;
	}
	*out = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_MIN = 256,
		OPT_MAX,
		OPT_KEEP_ROOT,
		OPT_NO_EVENTS,
		OPT_MAX_RUNS,
		OPT_MAX_VMAS,
		OPT_MEM_UID,
		OPT_MEM_TOTAL,
	};
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"backend", required_argument, NULL, 'b'},
	    {"min-interval-ms", required_argument, NULL, OPT_MIN},
	    {"max-interval-ms", required_argument, NULL, OPT_MAX},
	    {"user", required_argument, NULL, 'u'},
	    {"keep-root", no_argument, NULL, OPT_KEEP_ROOT},
	    {"no-events", no_argument, NULL, OPT_NO_EVENTS},
	    {"max-session-runs", required_argument, NULL, OPT_MAX_RUNS},
	    {"max-session-vmas", required_argument, NULL, OPT_MAX_VMAS},
	    {"memory-per-uid", required_argument, NULL, OPT_MEM_UID},
	    {"memory-total", required_argument, NULL, OPT_MEM_TOTAL},
	    {"foreground", no_argument, NULL, 'f'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {0},
	};
	const char *user = SPT_DEFAULT_USER, *env;
	bool keep_root = false, verbose = false;
	char kernel_why[160];
	uid_t uid = 0;
	gid_t gid = 0;
	int opt, r;

	spt_opts.socket_path = SPT_DEFAULT_SOCKET;
	env = getenv("SHADOWPT_SOCKET");
	if (env && *env)
		spt_opts.socket_path = env;
	spt_opts.backend = SHADOWPT__BACKEND__BACKEND_AUTO;
	spt_opts.min_ms = SPT_SAMPLE_MIN_MS_DEFAULT;
	spt_opts.max_ms = SPT_SAMPLE_MAX_MS_DEFAULT;

	while ((opt = getopt_long(argc, argv, "s:b:u:fvhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 's':
			spt_opts.socket_path = optarg;
			break;
		case 'b':
			spt_opts.backend = spt_backend_parse(optarg);
			if (spt_opts.backend < 0) {
				fprintf(stderr,
					"shadowptd: --backend: expected auto, kernel or "
					"procfs, got '%s'\n",
					optarg);
				return 2;
			}
			break;
		case OPT_MIN:
			if (parse_ms("--min-interval-ms", optarg, &spt_opts.min_ms) < 0)
				return 2;
			break;
		case OPT_MAX:
			if (parse_ms("--max-interval-ms", optarg, &spt_opts.max_ms) < 0)
				return 2;
			break;
		case 'u':
			user = optarg;
			break;
		case OPT_KEEP_ROOT:
			keep_root = true;
			break;
		case OPT_NO_EVENTS:
			spt_opts.no_events = true;
			break;
		case OPT_MAX_RUNS:
			if (parse_limit("--max-session-runs", optarg, SPT_MAX_RUNS_PER_SESSION,
					&spt_opts.max_runs) < 0)
				return 2;
			break;
		case OPT_MAX_VMAS:
			if (parse_limit("--max-session-vmas", optarg, SPT_MAX_VMAS_PER_SESSION,
					&spt_opts.max_vmas) < 0)
				return 2;
			break;
		case OPT_MEM_UID:
			if (parse_limit("--memory-per-uid", optarg, SPT_MEMORY_PER_UID,
					&spt_opts.memory_per_uid) < 0)
				return 2;
			break;
		case OPT_MEM_TOTAL:
			if (parse_limit("--memory-total", optarg, SPT_MEMORY_TOTAL,
					&spt_opts.memory) < 0)
				return 2;
			break;
		case 'f':
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("shadowptd %s (protocol %u)\n", SHADOWPT_VERSION,
			       SPT_PROTOCOL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "shadowptd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (spt_opts.min_ms > spt_opts.max_ms) {
		fprintf(stderr, "shadowptd: --min-interval-ms %u exceeds --max-interval-ms %u\n",
			spt_opts.min_ms, spt_opts.max_ms);
		return 2;
	}
	log_init(verbose ? SPT_LOG_DEBUG : SPT_LOG_INFO);

	auth_init();
	spt_backend_probe(spt_opts.backend, kernel_why, sizeof(kernel_why));
	snprintf(spt_kernel_why, sizeof(spt_kernel_why), "%s", kernel_why);

	/* Fail on a bad --user before touching the socket. */
	if (geteuid() == 0) {
		r = privs_lookup_user(user, &uid, &gid);
		if (r == -ENOENT && !keep_root) {
			privs_drop(user, false); /* logs how to fix it */
			return 1;
		}
	}
	r = server_listen();
	if (r < 0) {
		server_unlisten(); /* a socket bound before listen() failed */
		return 1;
	}
	if ((geteuid() == 0 && privs_lookup_user(user, &uid, &gid) == 0 &&
	     server_chown_socket(uid, gid) < 0) ||
	    privs_drop(user, keep_root) < 0) {
		server_unlisten();
		return 1;
	}
	spt_pfns_readable = privs_have_sys_admin();
	if (!spt_pfns_readable)
		log_notice("no CAP_SYS_ADMIN: pagemap shows no pfns; viewers get "
			   "PFN_HIDDEN");
	return server_run();
}
