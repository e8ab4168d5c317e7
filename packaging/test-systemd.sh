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
# runtime libraries) is built once from Debian's archive and kept in
# $SHADOWPT_NSPAWN_CACHE (default /var/cache/shadowpt/nspawn); each run
# works on a fresh copy (scripts/debian-root.sh). Needs root, debootstrap
# and systemd-container.
set -u
src=$1 shadowptd=$2 shadowctl=$3 target=$4
top=$(cd "$(dirname "$0")/.." && pwd)
cache=${SHADOWPT_NSPAWN_CACHE:-/var/cache/shadowpt/nspawn}
# The runtime libraries are those the binaries under test link, found
# by ldd and dpkg: a library a new feature brings along (shadowctl plot's
# cairo) cannot be forgotten here.
runtime_pkgs() {
	for bin; do ldd "$bin"; done | awk '/=> \//{print $3}' | sort -u | while read -r f; do
		dpkg -S "$(readlink -f "$f")" 2>/dev/null || dpkg -S "$f" 2>/dev/null
	done | cut -d: -f1 | sort -u | paste -sd, -
}
pkgs=systemd,dbus,util-linux,$(runtime_pkgs "$shadowptd" "$shadowctl" "$target")

log() { echo "[test-systemd $(date +%T)] $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root (debootstrap, systemd-nspawn)"
	exit 77
fi
command -v systemd-nspawn >/dev/null || die "systemd-nspawn missing (scripts/deps.sh test installs it)"

work=$(mktemp -d /var/tmp/shadowpt-nspawn.XXXXXX)
trap 'rm -rf --one-file-system "$work"' EXIT
trap 'exit 1' TERM INT
root=$work/root
"$top/scripts/debian-root.sh" "$cache" "$root" "$pkgs" || die "no root file system for the container"
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

"$top/scripts/nspawn-ready.sh" || die "this host cannot run systemd-nspawn"

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
