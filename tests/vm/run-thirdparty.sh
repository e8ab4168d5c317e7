#!/usr/bin/env bash
# The `vm-thirdparty` suite: the kernel's own mm selftests under tracking in
# the VM (tests/vm/thirdparty.sh), compared with procfs by spt_compare.
#
# Usage: run-thirdparty.sh BUILDDIR [SECONDS_PER_PROGRAM] [-- run-vm.sh args]
# Builds (cached) the test kernel and the mm selftests from the same tarball.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$1
secs=${2:-40}
shift $(( $# >= 2 ? 2 : 1 ))
[[ ${1:-} == -- ]] && shift
mmst=$("$here/build-mm-selftests.sh" | tail -n 1)
args=(-o "$build/tests/vm/vm-thirdparty-out" -b "$build/tests/vm/spt_compare"
	-f "$here/thirdparty.sh:/bin/thirdparty.sh")
for b in "$mmst"/*; do
	[[ -f $b && -x $b ]] && args+=(-b "$b:/mmst/$(basename "$b")")
done
exec "$here/run-vm.sh" "${args[@]}" -s "thirdparty /bin/sh /bin/thirdparty.sh $secs" "$@"
