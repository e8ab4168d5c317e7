#!/usr/bin/env bash
# The fuzzing campaign: builds the libFuzzer configuration if needed
# (clang, every library instrumented, see meson.build), runs each fuzzer
# for a number of executions or seconds on a working copy of its corpus,
# and prints per fuzzer: executions, coverage (edges, features), corpus
# and crashes. A crash, leak or timeout fails the script and names the
# reproducer. --merge then minimizes what was found into the committed
# corpus, tests/fuzz/corpus/FUZZER/, which the `fuzz` suite replays.
#
# Usage: tests/fuzz/run-fuzzers.sh [-B BUILD] [-n RUNS | -t SECONDS]
#                                  [-m MAX_LEN] [-p PARALLEL] [--merge] [FUZZER...]
#   -m: longest input libFuzzer makes (default 4096; longer seeds are cut
#       to it, so that a 27 KB smaps seed does not slow every mutation)
set -euo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
build=$top/build-fuzz
runs=1000000
secs=
parallel=1
max_len=4096
merge=false
usage() {
	sed -n '/^# Usage/,/^set/p' "$0" | sed '$d; s/^# \{0,1\}//'
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	-B) build=$(realpath -m "$2"); shift 2 ;;
	-n) runs=$2; secs=; shift 2 ;;
	-t) secs=$2; shift 2 ;;
	-p) parallel=$2; shift 2 ;;
	-m) max_len=$2; shift 2 ;;
	--merge) merge=true; shift ;;
	-h | --help) usage ;;
	-*) usage ;;
	*) break ;;
	esac
done

if [ ! -f "$build/build.ninja" ]; then
	"$top/scripts/deps.sh" fuzz
	CC=clang meson setup "$build" "$top" -Dfuzzers=true -Dvm=false -Dintegration=false \
		-Dsystemd_tests=false -Dfresh_tests=false >/dev/null
fi
grep -q -- '-fsanitize=fuzzer' "$build/build.ninja" ||
	{ echo "run-fuzzers: $build is not a -Dfuzzers=true build" >&2; exit 1; }
ninja -C "$build" >/dev/null

# Every fuzz-* executable of the build is a libFuzzer target.
declare -A bin
while read -r f; do bin[$(basename "$f")]=$f; done < <(find "$build" -type f -perm -u+x -name 'fuzz-*' | sort)
names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(printf '%s\n' "${!bin[@]}" | sort))
for n in "${names[@]}"; do
	[ -n "${bin[$n]:-}" ] || { echo "run-fuzzers: no fuzzer $n in $build (have: ${!bin[*]})" >&2; exit 2; }
done

work=$build/fuzz-work
mkdir -p "$work"
limit=(-runs="$runs")
[ -z "$secs" ] || limit=(-max_total_time="$secs")

# One fuzzer: its output goes to work/NAME.log, its summary to work/NAME.sum.
run_one() {
	local n=$1 dir=$work/$1 seeds=$top/tests/fuzz/corpus/$1 rc=0
	mkdir -p "$dir/corpus" "$dir/crashes"
	local seed_dirs=()
	[ -d "$seeds" ] && seed_dirs=("$seeds")
	local start=$SECONDS
	"${bin[$n]}" "${limit[@]}" -max_len="$max_len" -print_final_stats=1 -timeout=25 -rss_limit_mb=4096 \
		-artifact_prefix="$dir/crashes/" "$dir/corpus" "${seed_dirs[@]}" >"$dir/log" 2>&1 || rc=$?
	local done_line execs crash
	done_line=$(grep -E '^#[0-9]+[[:space:]]+(DONE|INITED|NEW|REDUCE|pulse)' "$dir/log" | tail -1 || true)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
	[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$done_line")
	crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$dir/log" | tail -1)
	printf '%s|%s|%s|%s|%s|%s|%s|%s\n' "$n" "${execs:-0}" \
		"$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")" \
		"$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")" \
		"$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$done_line")" \
		"$((SECONDS - start))" "$rc" "${crash:--}" >"$dir/sum"
	if $merge && [ "$rc" -eq 0 ]; then
		# Smallest set with the same coverage, written over the seeds.
		rm -rf "$dir/merged" && mkdir "$dir/merged"
		"${bin[$n]}" -merge=1 "$dir/merged" "${seed_dirs[@]}" "$dir/corpus" >"$dir/merge.log" 2>&1
		rm -rf "$seeds" && mkdir -p "$seeds" && cp "$dir/merged"/* "$seeds"/ 2>/dev/null || true
	fi
}

echo "run-fuzzers: ${names[*]} (${limit[*]}, logs in $work/NAME/log)" >&2
active=0
for n in "${names[@]}"; do
	run_one "$n" &
	active=$((active + 1))
	if [ "$active" -ge "$parallel" ]; then
		wait -n || true
		active=$((active - 1))
	fi
done
wait

failed=0
printf '%-16s %12s %7s %8s %14s %6s  %s\n' fuzzer execs edges features corpus secs result
for n in "${names[@]}"; do
	IFS='|' read -r name execs cov ft corp t rc crash <"$work/$n/sum"
	result=ok
	if [ "$rc" -ne 0 ]; then
		result="FAILED (exit $rc): ${crash}"
		failed=1
	fi
	printf '%-16s %12s %7s %8s %14s %6s  %s\n' "$name" "$execs" "${cov:--}" "${ft:--}" \
		"${corp:--}" "$t" "$result"
done
exit $failed
