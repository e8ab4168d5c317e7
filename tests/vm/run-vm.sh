#!/usr/bin/env bash
# Run test programs inside a QEMU VM on the shadowpt test kernel.
#
# Usage: run-vm.sh [-o OUTDIR] [-k BZIMAGE] [-T SECONDS] [-P SECONDS]
#                  [-b BIN[:DEST]]... [-f SRC:DEST]...
#                  [-t 'NAME CMD']... [-s 'NAME CMD']... [-a 'KERNEL ARGS']
#   -o  output directory for initramfs.cpio.gz and vm-serial.log
#       (default ./vm-out)
#   -k  use this bzImage instead of building with kernel/build-kernel.sh
#   -T  overall QEMU timeout (default 2700 s); -P per-test timeout (1500 s)
#   -b/-f  binaries/files for the initramfs (see mkinitramfs.sh; dynamic
#       binaries bring their shared libraries)
#   -t  a test that always runs; -s a test that needs the shadowpt syscalls:
#       it runs only when the kernel config has CONFIG_SHADOWPT=y, otherwise
#       it is reported as skipped (e.g. before the patch series exists)
#   -a  extra kernel command line arguments (e.g. spt_only=NAME)
#   -I  count instructions: one vCPU thread, guest time = 1 ns per guest
#       instruction (QEMU -icount shift=0,sleep=off), so that timings inside
#       the guest measure work done, whatever the host is doing
#
# Fails (exit 1) when a test exits non-zero, when the DONE marker is
# missing (timeout, crash, panic), or when the kernel log has a warning,
# BUG, KASAN or lockdep report, RCU stall, oops or panic. Prints the
# programs' output (TAP) and a summary. SHADOWPT_VM_VERBOSE=1 streams the
# whole serial console to stderr.
#
# Needs: qemu-system-x86 (qemu-system-x86_64), busybox-static, cpio, gzip,
# coreutils timeout; plus kernel/build-kernel.sh's needs unless -k.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
outdir=$PWD/vm-out
bzimage=
timeout_s=2700
per_test_s=1500
append_extra=
accel=(-accel "tcg,thread=multi")
initrd_args=()
tests=()
spt_tests=()

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}
log() { printf '[run-vm %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

while getopts "o:k:T:P:b:f:t:s:a:Ih" opt; do
	case $opt in
	o) outdir=$OPTARG ;;
	k) bzimage=$OPTARG ;;
	T) timeout_s=$OPTARG ;;
	P) per_test_s=$OPTARG ;;
	b) initrd_args+=(-b "$OPTARG") ;;
	f) initrd_args+=(-f "$OPTARG") ;;
	t) tests+=("$OPTARG") ;;
	s) spt_tests+=("$OPTARG") ;;
	a) append_extra=$OPTARG ;;
	I) accel=(-accel tcg -icount shift=0,sleep=off,align=off) ;;
	*) usage ;;
	esac
done
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
t_all=$SECONDS

# --- kernel -----------------------------------------------------------------
if [[ -z $bzimage ]]; then
	t0=$SECONDS
	bzimage=$("$top/kernel/build-kernel.sh" | tail -n 1) || die "kernel build failed"
	log "kernel ready in $((SECONDS - t0)) s: $bzimage"
fi
[[ -f $bzimage ]] || die "no kernel image: $bzimage"
kconfig=$(dirname "$bzimage")/config
has_spt=0
if [[ -f $kconfig ]] && grep -qx 'CONFIG_SHADOWPT=y' "$kconfig"; then
	has_spt=1
fi

# --- initramfs --------------------------------------------------------------
skipped=()
for t in ${spt_tests[@]+"${spt_tests[@]}"}; do
	if ((has_spt)); then
		tests+=("$t")
	else
		skipped+=("${t%% *}")
	fi
done
((${#skipped[@]} == 0)) ||
	log "kernel has no CONFIG_SHADOWPT: skipping ${skipped[*]}"
((${#tests[@]})) || die "no tests to run"
initrd=$outdir/initramfs.cpio.gz
for t in "${tests[@]}"; do initrd_args+=(-t "$t"); done
"$here/mkinitramfs.sh" -o "$initrd" -T "$per_test_s" "${initrd_args[@]}" ||
	die "mkinitramfs failed"

# --- boot -------------------------------------------------------------------
serial=$outdir/vm-serial.log
append="console=ttyS0 panic=-1 oops=panic nokaslr rcupdate.rcu_cpu_stall_timeout=60 $append_extra"
qemu=(qemu-system-x86_64 "${accel[@]}" -m 2G -smp 2 -nographic -no-reboot
	-kernel "$bzimage" -initrd "$initrd" -append "$append")
log "booting: ${qemu[*]}"
log "serial log: $serial (timeout ${timeout_s} s)"
: >"$serial"
tailpid=
if [[ ${SHADOWPT_VM_VERBOSE:-0} == 1 ]]; then
	tail -n +1 -F "$serial" 2>/dev/null >&2 &
	tailpid=$!
else
	tail -n +1 -F "$serial" 2>/dev/null | grep --line-buffered -a 'SHADOWPT-VM:' >&2 &
	tailpid=$!
fi
t0=$SECONDS
qrc=0
timeout -k 10 "$timeout_s" "${qemu[@]}" </dev/null >"$serial" 2>&1 &
qpid=$!
# Normally the guest powers off after DONE; if it only halts, end QEMU.
done_at=
while kill -0 "$qpid" 2>/dev/null; do
	if [[ -z $done_at ]] && grep -aq '^SHADOWPT-VM: DONE' "$serial"; then
		done_at=$SECONDS
	fi
	if [[ -n $done_at ]] && ((SECONDS - done_at > 30)); then
		log "QEMU still running 30 s after DONE: stopping it"
		kill "$qpid" 2>/dev/null || true
		break
	fi
	sleep 1
done
wait "$qpid" || qrc=$?
t_vm=$((SECONDS - t0))
sleep 1
kill "$tailpid" 2>/dev/null || true
wait "$tailpid" 2>/dev/null || true

# --- verdict ----------------------------------------------------------------
clean=$outdir/vm-serial.clean.log
tr -d '\r' <"$serial" >"$clean"
fail=0
reasons=()
# Kernel messages carry a printk timestamp "[   12.345678] "; the pattern
# list is matched only against those, so test output cannot trigger it.
kpat='\[ *[0-9]+\.[0-9]{6}\] .*(WARNING:|BUG:|BUG |kernel BUG|KASAN|Oops|general protection fault|Kernel panic|Call Trace|RIP: |Tainted:|INFO: |possible circular locking|possible recursive locking|inconsistent lock state|possible irq lock inversion|suspicious RCU usage|lock held when returning|bad unlock balance|held lock freed|DEBUG_LOCKS_WARN_ON|lockdep is turned off|turning off the locking correctness validator|Disabling lock debugging|list_add corruption|list_del corruption|invoked oom-killer|Bad page|stack-protector|double fault|watchdog: |rcu_.*detected stall|self-detected stall)'

echo "===== shadowpt VM tests ($(basename "$bzimage") from $(dirname "$bzimage")) ====="
for t in "${tests[@]}"; do
	name=${t%% *}
	echo "----- $name: $t"
	# Program output between the markers, kernel messages left out.
	awk -v n="$name" '
		$0 ~ "^SHADOWPT-VM: BEGIN " n "$" { on = 1; next }
		$0 ~ "^SHADOWPT-VM: RESULT " n " " { on = 0 }
		on && $0 !~ /^\[ *[0-9]+\.[0-9]+\] / { print "    " $0 }
	' "$clean"
	res=$(grep -a -m1 "^SHADOWPT-VM: RESULT $name " "$clean" || true)
	if [[ -z $res ]]; then
		echo "----- $name: NO RESULT (did not run or did not finish)"
		reasons+=("$name: no result")
		fail=1
	else
		rc=$(awk '{ print $4 }' <<<"$res")
		echo "----- $name: exit $rc ${res#* * * * }"
		if [[ $rc != 0 ]]; then
			note=
			[[ $rc == 137 ]] && note=" (killed: per-test timeout)"
			reasons+=("$name: exit $rc$note")
			fail=1
		fi
	fi
done
for s in ${skipped[@]+"${skipped[@]}"}; do
	echo "----- $s: SKIPPED (kernel without CONFIG_SHADOWPT)"
done

if ! grep -aq '^SHADOWPT-VM: BOOTED' "$clean"; then
	reasons+=("the VM never reached /init")
	fail=1
fi
done_line=$(grep -a -m1 '^SHADOWPT-VM: DONE' "$clean" || true)
if [[ -z $done_line ]]; then
	if ((qrc == 124 || qrc == 137)); then
		reasons+=("DONE marker missing: QEMU timed out after $timeout_s s")
	else
		reasons+=("DONE marker missing: the VM stopped early (QEMU exit $qrc)")
	fi
	fail=1
	echo "===== last 60 lines of the serial log ====="
	tail -n 60 "$clean" | sed 's/^/    /'
elif ((qrc != 0)); then
	log "note: QEMU exit status $qrc after DONE"
fi

nk=$(grep -a -c -E "$kpat" "$clean" || true)
if ((nk > 0)); then
	reasons+=("kernel log has $nk suspicious lines (warnings/BUG/KASAN/lockdep/...)")
	fail=1
	echo "===== kernel problems ($nk matching lines; first report with context) ====="
	grep -a -E "$kpat" "$clean" | head -n 40 | sed 's/^/    /'
	first=$(grep -a -n -m1 -E "$kpat" "$clean" | cut -d: -f1)
	echo "----- context -----"
	sed -n "$((first > 10 ? first - 10 : 1)),$((first + 80))p" "$clean" | sed 's/^/    /'
fi

boot=$(sed -n 's/^SHADOWPT-VM: BOOTED \([0-9.]*\) s.*/\1/p' "$clean" | head -n1)
done_up=$(sed -n 's/^SHADOWPT-VM: DONE \([0-9.]*\) s.*/\1/p' "$clean" | head -n1)
echo "===== summary ====="
echo "kernel: $bzimage"
echo "serial log: $serial"
echo "VM wall time ${t_vm} s (guest uptime at /init ${boot:-?} s, at DONE ${done_up:-?} s); total $((SECONDS - t_all)) s"
echo "tests run: ${#tests[@]}, skipped: ${#skipped[@]}, kernel log: $( ((nk == 0)) && echo clean || echo "$nk bad lines")"
if ((fail)); then
	printf 'FAIL: %s\n' "${reasons[@]}"
	exit 1
fi
echo "PASS"
