#!/bin/sh
# In-VM check of the inspector tool (needs a kernel with shadowpt): watch the
# top of a sleeping target's stack, see it mapped, check the truncation
# message, check that SIGTERM leads to stop+close and exit 0, and that the
# inspector prints the kernel's events as a target changes. TAP.
fails=0
n=0
check() {
	desc=$1
	shift
	n=$((n + 1))
	if "$@"; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		fails=$((fails + 1))
	fi
}

echo "1..8"
sleep 600 &
target=$!
sleep 1
line=$(grep '\[stack\]$' "/proc/$target/maps")
if [ -z "$line" ]; then
	echo "Bail out! no [stack] line in /proc/$target/maps"
	exit 1
fi
hi=${line%% *}
hi=${hi#*-}
end=$((0x$hi))
start=$((end - 65536))

out=$(inspector -n 3 -i 200 "$target" "$start" "$end" 2>&1)
rc=$?
echo "$out" | tail -n 20 | sed 's/^/# /'
check "inspector -n 3 exits 0 (rc $rc)" [ "$rc" -eq 0 ]
check "three tables of 16 pages" grep -q '^summary 3: 16 pages' <<EOT
$out
EOT
check "a stack page is shown allocated+mapped with a pfn" \
	grep -q -E '^0x[0-9a-f]{16} A[N-]M pfn 0x[1-9a-f]' <<EOT
$out
EOT

# Below the stack: the stack may sit less than 32 MiB under the top of
# the address space, and a window beyond that is refused, not truncated.
bstart=$((start - 0x2000000))
big=$start
out=$(inspector -n 1 -q "$target" "$bstart" "$big" 2>&1)
rc=$?
echo "$out" | sed 's/^/# /'
want="end truncated from 0x$(printf %x "$big") to 0x$(printf %x $((bstart + 0x800000)))"
check "32 MiB window: rc 0 (rc $rc)" [ "$rc" -eq 0 ]
check "32 MiB window: '$want'" grep -q "^$want" <<EOT
$out
EOT

inspector -q "$target" "$start" "$end" >/tmp/insp.out 2>&1 &
insp=$!
sleep 2
kill -TERM "$insp"
wait "$insp"
rc=$?
tail -n 3 /tmp/insp.out | sed 's/^/# /'
# A second inspector can open right away only if the first one closed.
inspector -n 1 -q "$target" "$start" "$end" >/dev/null 2>&1
rc2=$?
check "SIGTERM: exit 0 and the table closed (rc $rc, next open rc $rc2)" \
	[ "$((rc + rc2))" -eq 0 ]
kill "$target"

# Events: a target that maps, touches and unmaps one page 20 times once
# told to; the inspector waits on the event file between its two tables.
mkfifo /tmp/tgo
spt_lossless --target 20 </tmp/tgo >/tmp/tready &
lt=$!
exec 3>/tmp/tgo
n=0
while ! grep -q '^ready' /tmp/tready && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
set -- $(cat /tmp/tready)
addr=$(($3))
region=$((addr & ~0x1fffff))
inspector -n 2 -i 3000 "$2" "$region" "$((region + 0x200000))" >/tmp/insp-ev.out 2>&1 &
insp=$!
sleep 1
echo go >&3
wait "$insp"
rc=$?
exec 3>&-
wait "$lt"
grep '^event' /tmp/insp-ev.out | head -n 6 | sed 's/^/# /'
evs=$(grep -c '^event [0-9]* \(mmap\|write-fault\|munmap\) ' /tmp/insp-ev.out)
check "inspector with events exits 0 (rc $rc)" [ "$rc" -eq 0 ]
check "60 transitions printed as events (got $evs)" [ "$evs" -eq 60 ]
[ "$fails" -eq 0 ]
