#!/usr/bin/env bash
# Makes this host able to run systemd-nspawn: nspawn keeps per-container
# state in /run/systemd/nspawn and refuses to clean it up unless it is a
# tmpfs, and a host without systemd as PID 1 has /run on disk. The tmpfs
# stays mounted: another container may be using it. Needs root.
set -euo pipefail

dir=/run/systemd/nspawn
mkdir -p "$dir"
exec 9>/run/shadowpt-nspawn-ready.lock
flock 9 # two mounts at once would stack, hiding the first one's state
[ "$(stat -f -c %T "$dir")" = tmpfs ] && exit 0
mount -t tmpfs tmpfs "$dir" || { echo "cannot mount a tmpfs on $dir" >&2; exit 1; }
