#!/usr/bin/env bash
# The `fresh` suite: the project's set-up from nothing, as a new user on a
# freshly installed Debian 12 meets it. A new copy of a pristine root
# (debootstrap --variant=minbase plus git and ca-certificates, built once
# and kept as a read-only tarball in $SHADOWPT_FRESH_CACHE, default
# /var/cache/shadowpt/fresh) gets a git bundle of the commit under test,
# and fresh-inner.sh runs there in a systemd-nspawn container: clone,
# scripts/deps.sh test, the -Dwerror=true build, the unit and integration
# suites, the kernel build from an empty cache (headers_install included),
# the vm suite, and scripts/demo.sh without a terminal. A package a step
# needs and deps.sh does not install fails that step. TAP on stdout.
#
# Usage: test-fresh.sh SRCDIR LOGDIR
#   SRCDIR's HEAD is tested (uncommitted edits are not); LOGDIR receives
#   every step's log (emptied first). Needs root and systemd-nspawn.
set -euo pipefail

src=$1 logs=$2
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${SHADOWPT_FRESH_CACHE:-/var/cache/shadowpt/fresh}
limit=3300 # s; under the meson timeout, so a hang still shows its logs

if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP needs root (debootstrap, systemd-nspawn)"
	exit 0
fi
bail() { echo "Bail out! $*"; exit 1; }
note() { echo "# $(date +%T) $*"; }
command -v systemd-nspawn >/dev/null || bail "systemd-nspawn missing (scripts/deps.sh test installs it)"

git() { command git -C "$src" -c safe.directory='*' "$@"; }
note "testing $(git log -1 --format='%h %s')"
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
	note "uncommitted changes in $src are not tested"

work=$(mktemp -d /var/tmp/shadowpt-fresh.XXXXXX)
cleanup() {
	mountpoint -q "$work/fs" && { umount "$work/fs" || umount -l "$work/fs"; }
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
trap 'exit 1' TERM INT
# The container's files get a file system image of their own: a kernel
# tree is ~250k files, and rm -rf of those takes minutes on a busy disk
# where deleting one image is instant.
mkdir "$work/fs"
truncate -s 40G "$work/fs.img"
mkfs.ext4 -q -F -E nodiscard "$work/fs.img" || bail "mkfs.ext4 failed"
mount -o loop "$work/fs.img" "$work/fs" || bail "cannot loop-mount $work/fs.img"
mkdir "$work/in"
git bundle create -q "$work/in/src.bundle" HEAD || bail "git bundle failed"
install -m 0755 "$here/fresh-inner.sh" "$work/in/fresh-inner.sh"
rm -rf "$logs"
mkdir -p "$logs"

t0=$SECONDS
if ! "$top/scripts/debian-root.sh" "$cache" "$work/fs/root" git,ca-certificates 2>&1 |
	sed 's/^/# /'; then
	bail "no pristine Debian 12 root"
fi
note "fresh copy of the pristine root in $((SECONDS - t0)) s"
"$top/scripts/nspawn-ready.sh" || bail "this host cannot run systemd-nspawn"

# The host's name resolution is machine network config, not package
# state: the container sees it read-only.
# --foreground: timeout stays in this process group, so a meson timeout
# signal reaches nspawn too (and nspawn takes the container down).
# What the kernel offers is the host's, not package state: the container
# sees it. The stuck-target test holds a lock through FUSE (/dev/fuse);
# event-driven watches take page faults from perf tracepoints (nspawn's
# seccomp filter refuses perf_event_open unless allowed; their ids are in
# the host's tracefs, which nspawn's read-only /sys does not mount). A
# fault that waits is made with userfaultfd, which the filter may refuse.
host=("--system-call-filter=perf_event_open userfaultfd")
[ ! -c /dev/fuse ] || host+=(--bind=/dev/fuse)
tracing=$(awk '$3 == "tracefs" { print $2; exit }' /proc/self/mounts)
[ -z "$tracing" ] || host+=(--bind-ro="$tracing:/sys/kernel/tracing")
rc=0
timeout --foreground -k 30 $limit systemd-nspawn -D "$work/fs/root" \
	--machine="shadowpt-fresh-$$" --register=no --keep-unit -q --as-pid2 \
	--console=pipe --resolv-conf=off \
	--bind-ro=/etc/hosts --bind-ro=/etc/resolv.conf \
	"${host[@]}" \
	--bind-ro="$work/in:/fresh" --bind="$logs:/results" \
	/fresh/fresh-inner.sh /fresh/src.bundle </dev/null || rc=$?
note "container exited with $rc after $((SECONDS - t0)) s in all; logs in $logs"
exit $rc
