#!/usr/bin/env bash
# A fresh copy of a pristine Debian 12 (bookworm) root file system, for a
# systemd-nspawn container.
#
# Usage: scripts/debian-root.sh CACHE DEST [PACKAGE,...]
#
# The pristine root is debootstrap --variant=minbase plus PACKAGES, with
# the apt sources of a freshly installed Debian 12 (bookworm,
# bookworm-updates, bookworm-security) from the mirrors the host's apt
# uses (SHADOWPT_DEBIAN_MIRROR and SHADOWPT_DEBIAN_SECURITY_MIRROR
# override them). It is built once and kept in CACHE as a read-only
# tarball; every call extracts a new copy into DEST, which must not exist.
# The pristine copy is never modified in place. Needs root and debootstrap.
set -euo pipefail

[ $# -ge 2 ] || { echo "usage: $0 CACHE DEST [PACKAGE,...]" >&2; exit 2; }
cache=$1 dest=$2 pkgs=${3:-}

log() { echo "[debian-root $(date +%T)] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# The URI apt itself uses for a bookworm suite's main component, if any.
apt_uri() { # codename
	apt-get indextargets --format '$(REPO_URI)' "Codename: $1" 'Component: main' \
		2>/dev/null | head -n1
}
mirror=${SHADOWPT_DEBIAN_MIRROR:-$(apt_uri bookworm)}
mirror=${mirror:-http://deb.debian.org/debian/}
security=${SHADOWPT_DEBIAN_SECURITY_MIRROR:-$(apt_uri bookworm-security)}
security=${security:-http://security.debian.org/debian-security/}
sources="deb $mirror bookworm main
deb $mirror bookworm-updates main
deb $security bookworm-security main"

command -v debootstrap >/dev/null || die "debootstrap missing (scripts/deps.sh test installs it)"
[ ! -e "$dest" ] || die "$dest already exists"

key=$(printf 'bookworm minbase\n%s\n%s\n' "$pkgs" "$sources" | sha256sum | cut -c1-16)
tarball=$cache/bookworm-$key.tar
mkdir -p "$cache"
(
	# One builder at a time (several build dirs or CI jobs may start at once).
	flock 9
	[ -f "$tarball" ] && exit 0
	log "building the pristine root from $mirror (one-time, into $tarball)"
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	trap 'rm -rf --one-file-system "$tmp"' EXIT
	dlog=$cache/debootstrap-$key.log
	if ! debootstrap --variant=minbase ${pkgs:+--include="$pkgs"} bookworm "$tmp/root" \
		"$mirror" >"$dlog" 2>&1; then
		tail -n 20 "$dlog" >&2
		die "debootstrap failed, see $dlog"
	fi
	printf '%s\n' "$sources" >"$tmp/root/etc/apt/sources.list"
	# A fresh install holds no downloaded packages.
	rm -f "$tmp/root"/var/cache/apt/archives/*.deb
	# --numeric-owner: the container's uids, not the host's names for them.
	tar -C "$tmp/root" --numeric-owner --xattrs --xattrs-include='*' -cf "$tmp/root.tar" .
	chmod 0444 "$tmp/root.tar"
	mv "$tmp/root.tar" "$tarball"
	log "pristine root ready: $(du -m "$tarball" | cut -f1) MB"
) 9>"$cache/.lock"

# A complete tarball is only ever renamed into place: no lock needed to read it.
mkdir -m 0755 "$dest" # it becomes /: a stricter mode locks other users out
tar -C "$dest" --numeric-owner --xattrs --xattrs-include='*' -xpf "$tarball" ||
	die "cannot extract $tarball into $dest"
