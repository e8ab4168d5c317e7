#!/usr/bin/env bash
# Runs every test suite from a clean checkout on Debian 12, as root:
# installs dependencies, builds with -Werror (plus an ASan/UBSan build
# for the unit, fuzz and integration suites), runs unit, fuzz,
# integration, systemd and vm, then fresh (the set-up itself, from a clean
# clone of HEAD in a pristine Debian 12 root), and ends with one line
# "N passed, N failed, N skipped".
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/deps.sh" test

build=${SHADOWPT_BUILD_DIR:-$top/build-test}
asan=${SHADOWPT_ASAN_BUILD_DIR:-$top/build-test-asan}
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

setup() { # dir, extra meson args...
	local dir=$1
	shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	meson compile -C "$dir"
}

run_suites() { # dir, tag, suites... (-name: leave that suite out)
	local dir=$1 tag=$2
	shift 2
	local args=()
	for s in "$@"; do
		case $s in
		-*) args+=(--no-suite "${s#-}") ;;
		*) args+=(--suite "$s") ;;
		esac
	done
	meson test -C "$dir" --print-errorlogs --no-rebuild "${args[@]}" || true
	cp "$dir/meson-logs/testlog.json" "$results/$tag.json" 2>/dev/null || true
}

setup "$build" -Dwerror=true
setup "$asan" -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false -Dvm=false \
	-Dintegration=true
# The integration suite too: a daemon that trips ASan or UBSan aborts
# (UBSan only reports unless told to halt), and every test checks the
# daemon is still alive. Deadline-sensitive tests ("timing") run only in
# the normal build.
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	run_suites "$asan" asan unit fuzz integration -timing
run_suites "$build" main unit fuzz integration systemd vm
# Last and alone: it builds a kernel from scratch, and the machine may
# have only 2 cores.
run_suites "$build" fresh fresh

python3 - "$results" <<'PY'
import json, pathlib, sys
passed = failed = skipped = 0
for log in sorted(pathlib.Path(sys.argv[1]).glob("*.json")):
    for line in log.read_text().splitlines():
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
if passed + failed == 0:
    failed = 1  # nothing ran: that is a failure, not a pass
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
