#!/usr/bin/env bash
# The overhead figures of kernel/README.md: spt_fault_bench (map 64 MiB,
# touch every page, unmap; 20 rounds; medians) inside the VM on
#   debug    the test kernel (KASAN, lockdep, ...)      with and without the series
#   nodebug  the same config without KASAN and lockdep  with and without the series
# with one faulting thread and (-c wall) with a second one alongside.
# Within a boot the configurations take turns round by round, so their
# ratios (table/none, ring/none, events/none) are what to read. "idle"
# (the patched kernel's rounds with -n: no table ever opened, the static
# key never flipped) against the unpatched kernel's "none" compares two
# boots.
#
# Two clocks (-c):
#   icount  (default) QEMU counts instructions and the guest's clock runs at
#           1 ns per guest instruction (run-vm.sh -I). A round's time is the
#           work all vCPUs did meanwhile, so the figures repeat exactly,
#           whatever the host does, and TCG's own costs (translating code
#           again after a static-key flip) are not in them. Cache misses
#           and lock contention are not in them either. One boot per kernel,
#           one thread.
#   wall    real time under multi-threaded TCG: noisy (see none2/none);
#           each kernel is booted twice, alternately, and the lower median
#           is kept.
#
# Usage: tests/bench/spt-overhead.sh [-b BUILDDIR] [-r ROUNDS] [-o OUTDIR]
#                                    [-c icount|wall] [-t THREADS] [-k KERNELS]
#   -t  faulting threads: "1", "2" or "1 2" (default "1" with -c icount,
#       "1 2" with -c wall)
#   -k  kernels to boot (default "debug nodebug")
# Two threads under -c icount do not give figures: QEMU 7.2 runs both
# vCPUs on one host thread in turns, a vCPU spinning on a lock whose
# holder waits for its turn counts too, the debug kernel crawls, and on
# the nodebug kernel the guest reported an RCU stall (a halted vCPU's
# timer not served) within the first 2-thread rounds.
# Needs the meson build (spt_fault_bench) and what run-vm.sh needs; builds
# the kernels with kernel/build-kernel.sh (cached).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$top/build
rounds=20
outdir=${TMPDIR:-/tmp}/spt-overhead
clock=icount
threads=
flavors="debug nodebug"
while getopts "b:r:o:c:t:k:" opt; do
	case $opt in
	b) build=$OPTARG ;;
	r) rounds=$OPTARG ;;
	o) outdir=$OPTARG ;;
	c) clock=$OPTARG ;;
	t) threads=$OPTARG ;;
	k) flavors=$OPTARG ;;
	*) exit 2 ;;
	esac
done
case $clock in
icount) vmargs=(-I) boots=(1) threads=${threads:-1} ;;
wall) vmargs=() boots=(1 2) threads=${threads:-1 2} ;;
*) echo "-c: icount or wall, not $clock" >&2; exit 2 ;;
esac
bench=$build/tests/bench/spt_fault_bench
[[ -x $bench ]] || { echo "no $bench: meson compile -C $build first" >&2; exit 1; }
mkdir -p "$outdir"

declare -A kern
for flavor in $flavors; do
	for p in patched unpatched; do
		args=()
		[[ $flavor == nodebug ]] && args+=(--nodebug)
		[[ $p == unpatched ]] && args+=(--unpatched)
		kern[$flavor-$p]=$("$top/kernel/build-kernel.sh" ${args[@]+"${args[@]}"} | tail -n 1)
	done
done

# boot FLAVOR-P N: run the benchmarks, keep the "bench" lines. A patched
# kernel also runs them with -n (no table ever: "idle"), which is what
# compares with the unpatched kernel.
boot() {
	local k=$1 n=$2 out=$outdir/$1.$2 runs=() th
	for th in $threads; do
		runs+=(-t "t$th /bin/spt_fault_bench -r $rounds -t $th")
		[[ $k == *-unpatched ]] ||
			runs+=(-t "i$th /bin/spt_fault_bench -r $rounds -t $th -n")
	done
	"$top/tests/vm/run-vm.sh" "${vmargs[@]}" -k "${kern[$k]}" -o "$out" -b "$bench" \
		"${runs[@]}" >"$out.log" 2>&1 ||
		{ echo "VM run $k failed: $out.log" >&2; tail -n 30 "$out.log" >&2; exit 1; }
	grep -o 'bench .*' "$out.log" | sed "s/^/$k run$n /" >>"$outdir/results"
}
: >"$outdir/results"
for n in "${boots[@]}"; do
	for flavor in $flavors; do
		boot "$flavor-patched" "$n"
		boot "$flavor-unpatched" "$n"
	done
done

# The lower of the boots' medians, per kernel, config and threads.
med() { awk -v k="$1" -v c="$2" -v t="threads=$3" '
	$1 == k && $4 == c && $5 == t { split($6, a, "="); v = a[2] + 0
		if (!n++ || v < m) m = v }
	END { if (n) printf "%.1f", m; else printf "-" }' "$outdir/results"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-") print "-";
	else printf "%+.2f%%", (a / b - 1) * 100 }'; }
echo "spt_fault_bench: map 64 MiB, touch every page, unmap; $rounds rounds, median ms ($clock clock)"
printf '%-8s %-7s %9s %9s %9s %9s %11s %11s %11s %11s %14s\n' kernel threads none table ring events \
	none2/none table/none ring/none events/none idle/unpatched
for flavor in $flavors; do
	for th in $threads; do
		n=$(med "$flavor-patched" none "$th")
		n2=$(med "$flavor-patched" none2 "$th")
		tb=$(med "$flavor-patched" table "$th")
		rg=$(med "$flavor-patched" ring "$th")
		ev=$(med "$flavor-patched" events "$th")
		idle=$(med "$flavor-patched" idle "$th")
		base=$(med "$flavor-unpatched" none "$th")
		printf '%-8s %-7s %9s %9s %9s %9s %11s %11s %11s %11s %14s\n' "$flavor" "$th" "$n" "$tb" "$rg" \
			"$ev" "$(ratio "$n2" "$n")" "$(ratio "$tb" "$n")" "$(ratio "$rg" "$n")" \
			"$(ratio "$ev" "$n")" "$(ratio "$idle" "$base")"
	done
done
echo "per-boot ratios (same boot, rounds interleaved; none2/none is the noise floor):"
grep 'bench ratio' "$outdir/results" | sed 's/^/  /'
echo "raw: $outdir/results"
