/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * shadowctl: the unprivileged viewer of shadowptd. This file holds main:
 * global options, signal setup, help texts and dispatch to cmd-*.c.
 */
#include <getopt.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "sandbox.h"
#include "shadowctl.h"

volatile sig_atomic_t sctl_interrupted;
sigset_t sctl_wait_sigmask;

/* While the TUI owns the terminal, messages wait here until it is gone. */
static bool err_deferred;
static char err_buf[4096];
static size_t err_len;

void sctl_err_defer(bool on)
{
	err_deferred = on;
	if (!on && err_len) {
		fwrite(err_buf, 1, err_len, stderr);
		err_len = 0;
	}
}

void sctl_err(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (!err_deferred) {
		fprintf(stderr, "shadowctl: %s\n", line);
		return;
	}
	n = snprintf(err_buf + err_len, sizeof(err_buf) - err_len, "shadowctl: %s\n", line);
	if (n > 0)
		err_len += (size_t)n < sizeof(err_buf) - err_len ? (size_t)n
								 : sizeof(err_buf) - err_len - 1;
}

int sctl_usage_error(const char *cmd, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "shadowctl: %s\n", line);
	if (cmd)
		fprintf(stderr, "Try 'shadowctl %s --help'.\n", cmd);
	else
		fprintf(stderr, "Try 'shadowctl --help'.\n");
	return SCTL_EXIT_USAGE;
}

int sctl_option_error(const char *cmd, int argc, char **argv, int c)
{
	/* A long option is always consumed whole; a short one may sit in a bundle. */
	const char *last = argv[optind - 1];
	bool long_opt = last[0] == '-' && last[1] == '-';

	if (c == ':') {
		if (long_opt)
			return sctl_usage_error(cmd, "option '%s' needs an argument", last);
		return sctl_usage_error(cmd, "option '-%c' needs an argument", optopt);
	}
	/* "-12" is a PID gone wrong for every command but status. */
	if (optopt >= '0' && optopt <= '9' && cmd && strcmp(cmd, "status")) {
		for (int i = 1; i < argc; i++) {
			const char *a = argv[i];

			if (a[0] == '-' && a[1] && strspn(a + 1, "0123456789") == strlen(a + 1))
				return sctl_usage_error(cmd, "invalid PID '%s': not a process id", a);
		}
	}
	if (optopt)
		return sctl_usage_error(cmd, "unknown option '-%c'", optopt);
	return sctl_usage_error(cmd, "unknown option '%s'", last);
}

int sctl_enter_sandbox(const struct sctl_global *g)
{
	int r = sctl_sandbox_install();

	if (r < 0) {
		sctl_err("cannot install the seccomp sandbox: %s", strerror(-r));
		return SCTL_EXIT_RUNTIME;
	}
	if (g->sandbox_selftest)
		sctl_sandbox_selftest(g->sandbox_selftest);
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	sctl_interrupted = 1;
}

/*
 * SIGINT/SIGTERM set a flag and stay blocked except inside ppoll, so the
 * loops notice them without races and exit cleanly (terminal restored).
 */
static void setup_signals(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	sigset_t block;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &sctl_wait_sigmask);
	sigdelset(&sctl_wait_sigmask, SIGINT);
	sigdelset(&sctl_wait_sigmask, SIGTERM);
}

static const char exit_codes_help[] =
    "Exit status:\n"
    "  0  success (also: Ctrl-C, the target exited while watched, --count reached)\n"
    "  1  runtime error, or an error reported by shadowptd\n"
    "  2  usage error (bad option, address or range; range refused by the daemon)\n"
    "  3  protocol violation by shadowptd (oversized or undecodable frame,\n"
    "     delta not based on the current sequence, bad snapshot chunk)\n"
    "  4  permission denied (you may not watch or peek that process)\n"
    "  5  no such process, or it exited before the watch started\n"
    "  6  cannot connect to shadowptd (is it running? check --socket)\n"
    "  7  recording unusable from some point: not a recording, a newer format,\n"
    "     damaged, or cut short (everything before that point was used)\n";

static void help_main(void)
{
	printf("Usage: shadowctl [--socket PATH] [--json] COMMAND [ARGS...]\n"
	       "\n"
	       "Show live how a process's virtual pages map to physical memory, as seen\n"
	       "by the shadowptd daemon.\n"
	       "\n"
	       "Commands:\n"
	       "  watch PID [--range START:END] [--backend B] [--interval MIN[:MAX]]\n"
	       "            [--count N] [--no-tui] [--json]\n"
	       "                          live page map (terminal) or one line per event\n"
	       "  snapshot PID [--range START:END] [--json]\n"
	       "                          print the current table and exit\n"
	       "  peek PID VADDR [--json] hexdump the 4096-byte page at VADDR\n"
	       "  status [--json]         daemon status and sessions\n"
	       "  record PID -o FILE [--range START:END] [--duration S]\n"
	       "                          write the watch to a recording file\n"
	       "  replay FILE [--speed X] [--no-tui] [--json]\n"
	       "                          play a recording back like a watch\n"
	       "  plot FILE -o OUT.svg|OUT.png|OUT.pdf [--all-regions] [--json]\n"
	       "                          draw a recording: pages over address and time,\n"
	       "                          resident pages, VMAs appearing and going\n"
	       "  help [COMMAND]          this help, or a command's\n"
	       "\n"
	       "Options:\n"
	       "  -s, --socket PATH  daemon socket (default $%s, else %s)\n"
	       "  -j, --json         JSON Lines output (schema: doc/json-schema.md)\n"
	       "  -h, --help         show help\n"
	       "  -V, --version      show the version\n"
	       "\n"
	       "Addresses are hex (0x...) or decimal; ranges are page aligned.\n"
	       "\n%s",
	       SCTL_SOCKET_ENV, SCTL_DEFAULT_SOCKET, exit_codes_help);
}

void sctl_help_watch(void)
{
	printf("Usage: shadowctl watch PID [options]\n"
	       "\n"
	       "Watch PID's page table live. On a terminal: a page map with a cursor and\n"
	       "a pane with the selected page's details (flags, frame or token and who\n"
	       "else maps it, its VMA, when and why it last changed); otherwise, or with\n"
	       "--no-tui, one line per event: snapshot, delta (with -vma/+vma and page\n"
	       "lines 'vaddr flags pfn', and its cause), watch-status, exit.\n"
	       "\n"
	       "  -r, --range START:END     only this page-aligned range\n"
	       "  -b, --backend B           auto, kernel or procfs\n"
	       "  -i, --interval MIN[:MAX]  sampling interval bounds in ms (5..10000)\n"
	       "  -c, --count N             stop after N deltas\n"
	       "  -T, --no-tui              line output even on a terminal\n"
	       "  -j, --json                JSON Lines output\n"
	       "\n"
	       "Keys: arrows (or h j k l) move the cursor, PgUp/PgDn a screen, Home/End;\n"
	       "+ - zoom (1, 8, 64 or 512 pages per cell); g go to an address; n N next\n"
	       "or previous VMA; c C next or previous changed page; x or Enter the page's\n"
	       "bytes (peek); p pause; ? help; q quit.\n"
	       "\n"
	       "Cells of one page: '.' allocated, not mapped; 'a' anonymous mapped; 'f'\n"
	       "file/shared memory mapped; 'H' huge page; 's' swapped; '0' the zero page;\n"
	       "'=' a frame another page maps too. Of several pages: '.' none mapped, ':'\n"
	       "some, '#' all. Highlighted: changed in the last 2 seconds. Long\n"
	       "unpopulated runs are folded.\n"
	       "\n%s",
	       exit_codes_help);
}

void sctl_help_snapshot(void)
{
	printf("Usage: shadowctl snapshot PID [--range START:END] [--backend B] [--json]\n"
	       "\n"
	       "Wait for the complete snapshot of PID's page table, print the VMAs and\n"
	       "every page entry (or one JSON object), stop watching and exit.\n"
	       "\n"
	       "  -r, --range START:END  only this page-aligned range\n"
	       "  -b, --backend B        auto, kernel or procfs\n"
	       "  -j, --json             one JSON object (doc/json-schema.md)\n"
	       "\n%s",
	       exit_codes_help);
}

void sctl_help_peek(void)
{
	printf("Usage: shadowctl peek PID VADDR [--json]\n"
	       "\n"
	       "Print a hexdump (like hexdump -C, offsets are virtual addresses) of the\n"
	       "4096-byte page of PID containing VADDR, if you may read it.\n"
	       "\n%s",
	       exit_codes_help);
}

void sctl_help_status(void)
{
	printf("Usage: shadowctl status [--json]\n"
	       "\n"
	       "Print the daemon's version, counters and active sessions.\n"
	       "\n%s",
	       exit_codes_help);
}

void sctl_help_record(void)
{
	printf("Usage: shadowctl record PID -o FILE [options]\n"
	       "\n"
	       "Watch PID and write everything the daemon sends, with the time it\n"
	       "arrived, to FILE (format: doc/recording-format.md) until Ctrl-C, the\n"
	       "end of --duration, or the target's exit. Memory stays bounded however\n"
	       "long it runs, and a file cut short (kill -9, a full disk) replays up to\n"
	       "its last complete frame. Prints a summary on stderr at the end.\n"
	       "\n"
	       "  -o, --output FILE         the recording (created or replaced)\n"
	       "  -d, --duration S          stop after S seconds (e.g. 10 or 2.5)\n"
	       "  -r, --range START:END     only this page-aligned range\n"
	       "  -b, --backend B           auto, kernel or procfs\n"
	       "  -i, --interval MIN[:MAX]  sampling interval bounds in ms (5..10000)\n"
	       "\n%s",
	       exit_codes_help);
}

void sctl_help_replay(void)
{
	printf("Usage: shadowctl replay FILE [options]\n"
	       "\n"
	       "Play a recording made by 'shadowctl record' back through the same\n"
	       "output as 'watch': the live view on a terminal, otherwise one line per\n"
	       "event (--no-tui) or JSON Lines (--json, the same lines 'watch --json'\n"
	       "printed live). Frames come at their recorded times, scaled by --speed.\n"
	       "\n"
	       "  -S, --speed X   X times as fast (1/64 to 1024; default 1), or max\n"
	       "  -T, --no-tui    line output even on a terminal\n"
	       "  -j, --json      JSON Lines output\n"
	       "\n"
	       "Live view keys besides those of watch: p pause, . step one delta,\n"
	       "t seek to a time (seconds, +S, -S), < > half or double speed.\n"
	       "\n%s",
	       exit_codes_help);
}

void sctl_help_plot(void)
{
	printf("Usage: shadowctl plot FILE -o OUT [options]\n"
	       "\n"
	       "Draw a recording made by 'shadowctl record' as one picture, in the format\n"
	       "OUT's name says (.svg, .png or .pdf):\n"
	       "  - pages mapped and unmapped, by address (per region: the address ranges\n"
	       "    VMAs covered, hex) and time (s), coloured by what happened (faults by\n"
	       "    cause when the daemon sent causes), over grey for resident pages;\n"
	       "  - resident pages over time, stacked by VMA kind;\n"
	       "  - each VMA's life: when it appeared and when it went.\n"
	       "Only regions where something changed are drawn, unless --all-regions.\n"
	       "A damaged recording is drawn up to the damage (exit status 7).\n"
	       "\n"
	       "  -o, --output OUT     the picture (created or replaced)\n"
	       "  -a, --all-regions    also the regions where nothing changed\n"
	       "  -j, --json           print where each part was drawn (one JSON object)\n"
	       "\n%s",
	       exit_codes_help);
}

struct command {
	const char *name;
	int (*run)(const struct sctl_global *g, int argc, char **argv);
	void (*help)(void);
};

static const struct command commands[] = {
    {"watch", sctl_cmd_watch, sctl_help_watch},
    {"snapshot", sctl_cmd_snapshot, sctl_help_snapshot},
    {"peek", sctl_cmd_peek, sctl_help_peek},
    {"status", sctl_cmd_status, sctl_help_status},
    {"record", sctl_cmd_record, sctl_help_record},
    {"replay", sctl_cmd_replay, sctl_help_replay},
    {"plot", sctl_cmd_plot, sctl_help_plot},
};

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct sctl_global g = {0};
	const char *socket_opt = NULL, *selftest;
	const struct command *cmd;
	int c;

	/*
	 * Only the character type (UTF-8 cells in the TUI), loaded now, before
	 * the sandbox. Other categories stay "C": a translated strerror() would
	 * open message catalogs later, which the sandbox forbids.
	 */
	setlocale(LC_CTYPE, "");
	opterr = 0; /* sctl_option_error() says what was wrong, in one line */
	/* '+': stop at the command; its options are parsed by the command. */
	while ((c = getopt_long(argc, argv, "+:s:jhV", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_opt = optarg;
			break;
		case 'j':
			g.json = true;
			break;
		case 'h':
			help_main();
			return SCTL_EXIT_OK;
		case 'V':
			printf("shadowctl %s (protocol %u)\n", SHADOWPT_VERSION,
			       SPT_PROTOCOL_VERSION);
			return SCTL_EXIT_OK;
		default:
			return sctl_option_error(NULL, argc, argv, c);
		}
	}
	if (optind >= argc)
		return sctl_usage_error(NULL, "missing command");
	if (!strcmp(argv[optind], "help")) {
		if (optind + 1 < argc) {
			cmd = find_command(argv[optind + 1]);
			if (!cmd)
				return sctl_usage_error(NULL, "unknown command '%s'",
							argv[optind + 1]);
			cmd->help();
		} else {
			help_main();
		}
		return SCTL_EXIT_OK;
	}
	cmd = find_command(argv[optind]);
	if (!cmd)
		return sctl_usage_error(NULL, "unknown command '%s'", argv[optind]);

	g.socket_path = sctl_socket_path(socket_opt, getenv(SCTL_SOCKET_ENV));
	selftest = getenv(SCTL_SANDBOX_SELFTEST_ENV);
	if (selftest && *selftest && strcmp(selftest, "0"))
		g.sandbox_selftest = selftest;
	setup_signals();
	/* Commands parse from their own argv[0] == command name. */
	argc -= optind;
	argv += optind;
	optind = 0; /* glibc: full re-initialisation of getopt */
	return cmd->run(&g, argc, argv);
}
