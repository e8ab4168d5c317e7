#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The packaging under a real systemd: boots Debian 12's systemd as PID 1 in
# a systemd-nspawn container with shadowptd.socket, shadowptd.service and
# the sysusers snippet installed, and runs systemd-test-inner.sh there as a
# unit (socket activation, the privilege drop under the unit's hardening,
# a watch of another user's process, clean stop and re-activation).
#
# Usage: test-systemd.sh SRCDIR SHADOWPTD SHADOWCTL TARGET
#
# The container's root file system (debootstrap --variant=minbase plus the
# runtime libraries, ~240 MB) is built once from Debian's archive and kept
# in $SHADOWPT_NSPAWN_CACHE (default /var/cache/shadowpt/nspawn); each run
# works on a copy. Needs root, debootstrap and systemd-container.
set -u
src=$1 shadowptd=$2 shadowctl=$3 target=$4
# The mirror apt itself uses for bookworm's main suite, if it says.
apt_mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Codename: bookworm' \
	'Label: Debian' 'Component: main' 2>/dev/null | head -n1)
mirror=${SHADOWPT_DEBIAN_MIRROR:-${apt_mirror:-http://deb.debian.org/debian}}
cache=${SHADOWPT_NSPAWN_CACHE:-/var/cache/shadowpt/nspawn}
pkgs=systemd,dbus,util-linux,libevent-core-2.1-7,libprotobuf-c1,libseccomp2,libcap2,libsystemd0,libncursesw6,libtinfo6

log() { echo "[test-systemd $(date +%T)] $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (debootstrap, systemd-nspawn)"
	exit 77
fi
for tool in debootstrap systemd-nspawn; do
	command -v $tool >/dev/null || die "$tool missing (scripts/deps.sh test installs it)"
done

key=$(echo "bookworm $pkgs" | sha256sum | cut -c1-16)
rootfs=$cache/bookworm-$key
mkdir -p "$cache"
# One builder at a time (several build dirs or CI jobs may start at once).
exec 9>"$cache/.lock"
flock 9
if [ ! -x "$rootfs/lib/systemd/systemd" ]; then
	log "building the container's root file system from $mirror (one-time)"
	tmp=$(mktemp -d "$rootfs.XXXXXX")
	chmod 0755 "$tmp" # it becomes /: mktemp's 0700 would lock every other user out
	if ! debootstrap --variant=minbase --include=$pkgs bookworm "$tmp" "$mirror" \
		>"$cache/debootstrap-$key.log" 2>&1; then
		rm -rf --one-file-system "$tmp"
		die "debootstrap failed, see $cache/debootstrap-$key.log"
	fi
	mv -T "$tmp" "$rootfs" || die "cannot move the new root file system into place"
fi

work=$(mktemp -d /var/tmp/shadowpt-nspawn.XXXXXX)
mounted=
cleanup() {
	rm -rf --one-file-system "$work"
	[ -n "$mounted" ] && umount /run/systemd/nspawn 2>/dev/null
}
trap cleanup EXIT
trap 'exit 1' TERM INT
root=$work/root
cp -a "$rootfs" "$root" || die "cannot copy $rootfs"
flock -u 9
mkdir -p "$work/results"

# Installed the way a package would install them.
install -m 0755 "$shadowptd" "$root/usr/sbin/shadowptd"
install -m 0755 "$shadowctl" "$root/usr/bin/shadowctl"
install -m 0755 "$target" "$root/usr/local/bin/target"
install -m 0644 "$src/systemd/shadowptd.service" "$src/systemd/shadowptd.socket" \
	"$root/lib/systemd/system/"
install -m 0644 "$src/sysusers.d/shadowpt.conf" "$root/usr/lib/sysusers.d/shadowpt.conf"
mkdir -p "$root/etc/systemd/system/sockets.target.wants"
ln -sf /lib/systemd/system/shadowptd.socket \
	"$root/etc/systemd/system/sockets.target.wants/shadowptd.socket"

install -m 0755 "$src/systemd-test-inner.sh" "$root/usr/local/bin/spt-systemd-test"
cat >"$root/etc/systemd/system/spt-systemd-test.service" <<'EOF'
[Unit]
Description=shadowpt packaging test
After=sockets.target basic.target systemd-sysusers.service systemd-journald.service
# However it ends, the container goes down with it.
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
ExecStart=/usr/local/bin/spt-systemd-test
TimeoutStartSec=180
EOF
mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
ln -sf /etc/systemd/system/spt-systemd-test.service \
	"$root/etc/systemd/system/multi-user.target.wants/spt-systemd-test.service"
# No login prompt on the console: the test is all there is.
ln -sf /dev/null "$root/etc/systemd/system/console-getty.service"

# nspawn keeps per-container state in /run/systemd/nspawn and refuses to
# clean it up unless it is a tmpfs; a host without systemd has /run on disk.
mkdir -p /run/systemd/nspawn
if [ "$(stat -f -c %T /run/systemd/nspawn)" != tmpfs ]; then
	mount -t tmpfs tmpfs /run/systemd/nspawn || die "cannot mount a tmpfs on /run/systemd/nspawn"
	mounted=1
fi

log "booting systemd in the container"
t0=$(date +%s)
# --foreground: timeout stays in this process group, so a meson timeout
# signal reaches nspawn too (and nspawn takes the container down).
timeout --foreground -k 30 300 systemd-nspawn -D "$root" --machine="shadowpt-test-$$" \
	--register=no --keep-unit -q --bind="$work/results:/results" -b \
	>"$work/console.log" 2>&1 </dev/null
rc=$?
log "container exited with $rc after $(($(date +%s) - t0)) s"

if [ ! -s "$work/results/tap" ]; then
	tail -40 "$work/console.log"
	die "no TAP from the container (exit $rc)"
fi
cat "$work/results/tap"
grep -q '^1\.\.[0-9]' "$work/results/tap" || die "the test in the container did not finish"
if grep -q '^not ok' "$work/results/tap"; then
	tail -20 "$work/console.log"
	die "$(grep -c '^not ok' "$work/results/tap") case(s) failed"
fi
[ "$rc" = 0 ] || die "systemd-nspawn exited with $rc"
log "PASS"
