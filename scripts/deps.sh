#!/usr/bin/env bash
# Installs what shadowpt needs from Debian 12's archive, only if missing.
# Usage: scripts/deps.sh build|test|fuzz
#   build: compile the userspace tools and run them (the demo)
#   test:  also what the test suites need (QEMU, kernel source and its
#          build dependencies, rsync for its headers_install, busybox for
#          the VM initramfs, debootstrap and systemd-nspawn for the systemd
#          and fresh suites, tmux for the live view tests, xmllint and
#          chromium for the plot tests, jq for the JSON examples, groff
#          for the man page check)
#   fuzz:  build, plus clang and its runtimes for the libFuzzer build of
#          tests/fuzz/run-fuzzers.sh
# Nothing else may be assumed beyond debootstrap --variant=minbase: the
# fresh suite (tests/fresh) runs every step in such a root, so a package
# missing here fails it.
set -euo pipefail

profile=${1:-build}
build_pkgs=(meson ninja-build pkg-config gcc libc6-dev
	libevent-dev libprotobuf-c-dev protobuf-c-compiler libseccomp-dev
	libsystemd-dev libcap-dev libncurses-dev zlib1g-dev libcairo2-dev fonts-dejavu-core
	systemd python3 util-linux)
test_pkgs=(qemu-system-x86 busybox-static linux-source-6.12 bc bison flex
	libelf-dev libssl-dev cpio kmod xz-utils make perl patch git tmux rsync
	debootstrap systemd-container libxml2-utils chromium jq groff-base passwd)
fuzz_pkgs=(clang libclang-rt-14-dev)

case "$profile" in
build) pkgs=("${build_pkgs[@]}") ;;
test) pkgs=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
fuzz) pkgs=("${build_pkgs[@]}" "${fuzz_pkgs[@]}") ;;
*) echo "usage: $0 build|test|fuzz" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "shadowpt: missing packages: ${missing[*]}" >&2
	echo "shadowpt: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "shadowpt: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
