#!/usr/bin/env bash
# Build the kernel's own tools/testing/selftests/mm programs (static) from
# the same Debian linux-source-6.12 tarball the test kernel is built from,
# for tests/vm/thirdparty.sh. Cached: prints the directory holding the
# binaries on the last stdout line.
#
# Usage: tests/vm/build-mm-selftests.sh
# Environment: SHADOWPT_KERNEL_CACHE (as kernel/build-kernel.sh),
#   SHADOWPT_KERNEL_TARBALL.
# Needs: build-essential (static glibc), rsync (headers_install).
set -euo pipefail

tarball=${SHADOWPT_KERNEL_TARBALL:-/usr/src/linux-source-6.12.tar.xz}
cache=${SHADOWPT_KERNEL_CACHE:-/var/cache/shadowpt/kernel}
[[ -f $tarball ]] || { echo "no $tarball (apt-get install linux-source-6.12)" >&2; exit 1; }
key=$(printf '%s %s\n%s\n%s\n' "$(basename "$tarball")" "$(stat -c '%s %Y' "$tarball")" \
	"$(gcc --version | head -n1)" "$(sha256sum <"${BASH_SOURCE[0]}")" | sha256sum | cut -c1-16)
out=$cache/mm-selftests-$key
if [[ -f $out/complete ]]; then
	echo "$out/bin"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/.mm-selftests.lock"
flock 9
if [[ -f $out/complete ]]; then
	echo "$out/bin"
	exit 0
fi
rm -rf "$out"
mkdir -p "$out/src" "$out/bin"
echo "[mm-selftests] extracting $tarball" >&2
tar -C "$out/src" --strip-components=1 -xf "$tarball"
echo "[mm-selftests] make headers_install" >&2
make -s -C "$out/src" ARCH=x86_64 headers_install INSTALL_HDR_PATH="$out/usr" >&2
echo "[mm-selftests] make -C tools/testing/selftests/mm (static)" >&2
# -k: programs that need libraries we do not have (libnuma) are left out.
make -C "$out/src/tools/testing/selftests/mm" -k -j"$(nproc)" OUTPUT="$out/bin" \
	KHDR_INCLUDES="-isystem $out/usr/include" EXTRA_CFLAGS="-static -DKSFT_SKIP=4" \
	LDFLAGS=-static >"$out/build.log" 2>&1 || true
ls "$out/bin" >&2
rm -rf "$out/src" "$out/usr"
touch "$out/complete"
echo "$out/bin"
