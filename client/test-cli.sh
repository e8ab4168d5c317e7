#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Command-line behaviour of shadowctl that needs no daemon: help, usage
# errors (exit 2, before connecting), connection failures (exit 6), the
# socket path precedence, and the sandbox selftest (SIGSYS) against a bare
# listening socket. Usage: test-cli.sh PATH/TO/shadowctl
set -u
SCTL=$1
TMP=$(mktemp -d)
trap 'kill $LISTENER 2>/dev/null; rm -rf "$TMP"' EXIT
. "$(dirname "$0")/tap.sh"

check() { # description, expected status, command...
	local what=$1 want=$2
	shift 2
	"$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	status_is "$what" "$want" $? "$TMP/err"
}

NOSOCK=$TMP/none.sock
export SHADOWPT_SOCKET=$NOSOCK

check "--help" 0 "$SCTL" --help
has "--help documents exit codes" out "6  cannot connect"
check "-h" 0 "$SCTL" -h
check "help watch" 0 "$SCTL" help watch
has "watch help lists --count" out "--count"
check "watch --help" 0 "$SCTL" watch --help
check "--version" 0 "$SCTL" --version
has "version" out "shadowctl "
check "no command" 2 "$SCTL"
check "unknown command" 2 "$SCTL" frobnicate
check "unknown option" 2 "$SCTL" --frob status
has "unknown option named" err "unknown option '--frob'"
check "unknown command option" 2 "$SCTL" snapshot -x 1
has "unknown short option named, once" err "^shadowctl: unknown option '-x'$"
check "option without its argument" 2 "$SCTL" snapshot 1 --range
has "missing argument named" err "option '--range' needs an argument"
check "negative pid, two digits, after an option" 2 "$SCTL" watch -i 50 -12
has "the whole negative pid named" err "invalid PID '-12'"
check "unknown option in a bundle" 2 "$SCTL" snapshot --json -xj 1
has "bundled unknown option named" err "unknown option '-x'"
check "negative pid" 2 "$SCTL" snapshot -1
has "negative pid is an invalid PID" err "invalid PID '-1'"
lines "negative pid: one error line and the --help hint" err 2
check "watch without pid" 2 "$SCTL" watch
check "watch bad pid" 2 "$SCTL" watch 12x
check "watch unaligned range" 2 "$SCTL" watch 1 --range 0x1001:0x2000
has "unaligned range says why" err "page aligned"
check "watch reversed range" 2 "$SCTL" watch 1 --range 0x3000:0x2000
check "watch range beyond user space" 2 "$SCTL" watch 1 --range 0x1000:0xffffffffffff000
check "watch bad backend" 2 "$SCTL" watch 1 --backend magic
check "watch bad interval" 2 "$SCTL" watch 1 --interval 1
check "watch zero count" 2 "$SCTL" watch 1 --count 0
check "snapshot extra argument" 2 "$SCTL" snapshot 1 2
check "peek without vaddr" 2 "$SCTL" peek 1
check "peek bad vaddr" 2 "$SCTL" peek 1 0xffffffffffffffff
check "status extra argument" 2 "$SCTL" status now
check "help record" 0 "$SCTL" help record
has "record help names the format doc" out "recording-format.md"
check "record without -o" 2 "$SCTL" record 1
has "record without -o says so" err "missing -o FILE"
check "record bad duration" 2 "$SCTL" record 1 -o /dev/null --duration 0
check "record bad duration unit" 2 "$SCTL" record 1 -o /dev/null --duration 10s
check "record without pid" 2 "$SCTL" record -o /dev/null
check "replay --help" 0 "$SCTL" replay --help
check "replay without file" 2 "$SCTL" replay
check "replay bad speed" 2 "$SCTL" replay x.rec --speed 0
check "replay two files" 2 "$SCTL" replay a.rec b.rec
check "help plot" 0 "$SCTL" help plot
check "plot without -o" 2 "$SCTL" plot x.rec
check "plot to an unknown format" 2 "$SCTL" plot x.rec -o x.gif
has "plot names the formats" err "svg, .png or .pdf"
check "plot of a missing file" 1 "$SCTL" plot "$TMP/missing.rec" -o "$TMP/x.png"
check "record into a directory that does not exist" 1 "$SCTL" record 1 -o "$TMP/no/such/dir/x.rec"
has "record: cannot create" err "cannot create"

check "no daemon" 6 "$SCTL" status
has "no daemon: path from SHADOWPT_SOCKET" err "$NOSOCK"
has "no daemon: hint" err "is shadowptd running"
check "--socket beats SHADOWPT_SOCKET" 6 "$SCTL" --socket "$TMP/opt.sock" status
has "--socket path used" err "$TMP/opt.sock"
check "no daemon, JSON" 6 "$SCTL" --json snapshot 1
has "JSON error event" out '"event":"error".*"exit_code":6'

# A bare listening socket: shadowctl connects, sandboxes itself, then the
# selftest tries openat() and must die of SIGSYS (128 + 31).
python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(8)
print("ready", flush=True)
conns = []
while True:
    c, _ = s.accept(); conns.append(c)
' "$TMP/listen.sock" >"$TMP/listener.out" &
LISTENER=$!
for _ in $(seq 50); do grep -q ready "$TMP/listener.out" 2>/dev/null && break; sleep 0.1; done
if [ -n "${SCTL_SANITIZER_BUILD:-}" ]; then
	# read-only opens are allowed in sanitizer builds (client/sandbox.c)
	n=$((n + 1))
	echo "ok $n - # SKIP sandbox openat selftest in a sanitizer build"
else
	SHADOWCTL_SANDBOX_SELFTEST=1 check "sandbox kills openat (SIGSYS)" 159 \
		"$SCTL" --socket "$TMP/listen.sock" status
fi
# A forbidden call that stays forbidden in every build: socket().
SHADOWCTL_SANDBOX_SELFTEST=socket check "sandbox kills socket (SIGSYS)" 159 \
	"$SCTL" --socket "$TMP/listen.sock" status

tap_done
