#!/bin/sh
# In-VM check of the inspector tool (needs a kernel with shadowpt): watch the
# top of a sleeping target's stack, see it mapped, check the truncation
# message, and check that SIGTERM leads to stop+close and exit 0. TAP.
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

echo "1..6"
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
[ "$fails" -eq 0 ]
