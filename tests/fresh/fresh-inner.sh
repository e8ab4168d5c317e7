#!/usr/bin/env bash
# Inside the fresh Debian 12 container (tests/fresh/test-fresh.sh): what a
# new user does with a clean clone, step by step, nothing installed by
# hand. TAP on stdout, with each step's time; each step's output goes to
# /results/NN-name.log, and its tail is shown on stderr when it fails (what
# meson test --print-errorlogs shows). A failed step ends the run: the
# later ones depend on it.
#
# Usage: fresh-inner.sh BUNDLE   (a git bundle of the commit under test)
set -euo pipefail

bundle=$1
src=/src
results=/results
kcache=/var/cache/shadowpt/kernel # build-kernel.sh's default: empty here
export LC_ALL=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

steps=(clone deps build unit integration kernel vm demo)
echo "1..${#steps[@]}"
n=0
step() { # name, command...
	local name=$1 log rc t0=$SECONDS
	shift
	n=$((n + 1))
	log=$results/$(printf %02d $n)-$name.log
	# In the background so that set -e holds inside the step (a function
	# called as "f && ..." would run with -e ignored).
	"$@" >"$log" 2>&1 </dev/null &
	wait $! && rc=0 || rc=$?
	if [ $rc -eq 0 ]; then
		echo "ok $n - $name ($((SECONDS - t0)) s)"
		return
	fi
	echo "not ok $n - $name: exit $rc after $((SECONDS - t0)) s (log: $(basename "$log"))"
	echo "=== $name failed; the end of $(basename "$log"):" >&2
	tail -n 40 "$log" >&2
	echo "Bail out! $name failed"
	exit 1
}

clone() {
	git -c advice.detachedHead=false clone "$bundle" "$src"
	git -C "$src" log -1 --format='commit %H %s'
}

# A suite must really run: a skipped test hides a missing tool.
suite() { # name
	local rc=0
	meson test -C "$src/build-test" --print-errorlogs --suite "$1" || rc=$?
	cp "$src/build-test/meson-logs/testlog.txt" "$results/$1-testlog.txt"
	[ $rc = 0 ]
	python3 - "$src/build-test/meson-logs/testlog.json" <<'PY'
import json, sys
bad = [(t["name"], t["result"]) for t in map(json.loads, open(sys.argv[1]))
       if t["result"] != "OK"]
print("not OK:", bad) if bad else print("all OK, none skipped")
sys.exit(1 if bad else 0)
PY
}

# From scratch: nothing cached, so every tool of the build and of
# headers_install runs.
kernel() {
	[ ! -e "$kcache" ] || { echo "$kcache exists before the first build"; return 1; }
	local bz
	bz=$("$src/kernel/build-kernel.sh" | tail -n1)
	ls -l "$bz"
	test -f "$(dirname "$bz")/headers/include/linux/shadowpt.h"
}

# Without a terminal the demo prints its events and stops by itself; it
# must leave no daemon or target behind.
demo() {
	"$src/scripts/demo.sh" >"$results/demo.out"
	cat "$results/demo.out"
	grep -q '^snapshot pid=' "$results/demo.out" || { echo "no snapshot"; return 1; }
	local deltas
	deltas=$(grep -c '^delta pid=' "$results/demo.out" || true)
	echo "$deltas deltas"
	[ "$deltas" -ge 5 ] || { echo "too few deltas"; return 1; }
	local left
	left=$(grep -l -x -e shadowptd -e target /proc/[0-9]*/comm 2>/dev/null || true)
	[ -z "$left" ] || { echo "left running: $left"; return 1; }
}

step clone clone
cd "$src"
step deps scripts/deps.sh test
step build bash -c 'meson setup build-test -Dwerror=true && meson compile -C build-test'
step unit suite unit
step integration suite integration
step kernel kernel
step vm suite vm
step demo demo
