#!/bin/sh
# In the VM: the kernel's own mm selftests (tests/vm/build-mm-selftests.sh,
# installed under /mmst) under spt_compare, one after the other. Prints each
# "compare ..." line and the totals; exit 0 iff every comparison agreed.
# Usage: thirdparty.sh [SECONDS_PER_PROGRAM]
secs=${1:-40}
fails=0
total=0
agreed=0
nmapped=0
# Programs with arguments that keep them inside this VM's config (no
# hugetlbfs, KSM, NUMA or test modules): each runs (again and again, -r)
# until the time is up, stopped at random points.
for w in \
	"cow" \
	"transhuge-stress -s 64" \
	"khugepaged all:anon" \
	"mremap_test" \
	"mremap_dontunmap" \
	"madv_populate" \
	"mkdirty" \
	"mlock2-tests" \
	"map_fixed_noreplace" \
	"pagemap_ioctl" \
	"soft-dirty" \
	"uffd-unit-tests" \
	"uffd-stress anon 32 8" \
	"split_huge_page_test" \
	"mseal_test" \
	"droppable"; do
	set -- $w
	p=/mmst/$1
	shift
	[ -x "$p" ] || { echo "# skip $w: not built"; continue; }
	echo 1 >/proc/sys/vm/overcommit_memory
	out=$(spt_compare -r -s "$(date +%s)" -t "$secs" -- "$p" "$@" 2>&1 | grep -a -e '^compare ' -e '^# ')
	echo "$out" | grep -a -v '^compare ' | grep -a -e 'disagree' -e 'seed' | head -n 12
	line=$(echo "$out" | grep -a '^compare ' | tail -n 1)
	echo "${line:-compare $w: no result}"
	c=$(echo "$line" | sed -n 's/.*compared=\([0-9]*\).*/\1/p')
	a=$(echo "$line" | sed -n 's/.* agreed=\([0-9]*\).*/\1/p')
	d=$(echo "$line" | sed -n 's/.*disagreed=\([0-9]*\).*/\1/p')
	m=$(echo "$line" | sed -n 's/.* mapped=\([0-9]*\).*/\1/p')
	total=$((total + ${c:-0}))
	nmapped=$((nmapped + ${m:-0}))
	agreed=$((agreed + ${a:-0}))
	[ "${d:-1}" -eq 0 ] || fails=$((fails + 1))
done
echo "thirdparty: $agreed of $total entries agreed ($nmapped of them mapped); $fails programs with disagreements"
[ "$fails" -eq 0 ]
