#!/usr/bin/env bash
# Builds shadowpt, starts shadowptd and a demo target, and shows a live
# watch of the target's pages. Run as root on Debian 12; installs what it
# needs. Quit the view with q or Ctrl-C; everything started is stopped.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh" build

build=${SHADOWPT_BUILD_DIR:-$top/build}
[ -d "$build" ] || meson setup "$build" >/dev/null
meson compile -C "$build" >/dev/null

shadowptd=$build/daemon/shadowptd
shadowctl=$build/client/shadowctl
target=$build/tests/workloads/target
sock=${SHADOWPT_SOCKET:-/run/shadowptd/shadowptd.sock}
export SHADOWPT_SOCKET=$sock

daemon_pid= target_pid=
cleanup() {
	[ -n "$target_pid" ] && kill "$target_pid" 2>/dev/null || true
	rm -f "${target_log:-}"
	[ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" -eq 0 ]; then
	# The daemon drops to its own user; create it like the package does.
	getent passwd shadowpt >/dev/null || systemd-sysusers "$top/packaging/sysusers.d/shadowpt.conf"
fi

if "$shadowctl" status >/dev/null 2>&1; then
	echo "demo: using the shadowptd already listening on $sock" >&2
else
	"$shadowptd" --socket "$sock" &
	daemon_pid=$!
	for _ in $(seq 100); do
		"$shadowctl" status >/dev/null 2>&1 && break
		kill -0 "$daemon_pid" 2>/dev/null || { echo "demo: shadowptd failed to start" >&2; exit 1; }
		sleep 0.1
	done
fi

# The target prints "ready PID" first, then loops through visible changes.
target_log=$(mktemp)
"$target" --demo >"$target_log" &
target_pid=$!
for _ in $(seq 100); do
	grep -q '^ready ' "$target_log" && break
	sleep 0.1
done
ready_pid=$(awk '/^ready /{print $2; exit}' "$target_log")
[ -n "$ready_pid" ] || { echo "demo: the demo target did not start" >&2; exit 1; }
echo "demo: watching target pid $ready_pid (from another terminal: $shadowctl watch $ready_pid)" >&2

if [ -t 1 ]; then
	"$shadowctl" watch "$ready_pid"
else
	"$shadowctl" watch "$ready_pid" --count "${SHADOWPT_DEMO_COUNT:-20}"
fi
