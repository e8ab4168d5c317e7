#!/bin/sh
# Checks the packaging files: the units parse and verify (with ExecStart
# pointed at the built daemon), the sysusers snippet parses, the man page
# renders without warnings, the completion script is valid bash.
# A tool that is missing skips its check and makes the whole test SKIP
# (77), never a silent pass: scripts/deps.sh test installs them all.
# Usage: check-packaging.sh SRCDIR SHADOWPTD [MANPAGE]
set -eu
src=$1 daemon=$(readlink -f "$2") manpage=${3:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
missing=

if command -v systemd-analyze >/dev/null; then
	sed "s|^ExecStart=/usr/sbin/shadowptd|ExecStart=$daemon|" \
		"$src/systemd/shadowptd.service" >"$tmp/shadowptd.service"
	cp "$src/systemd/shadowptd.socket" "$tmp/"
	if ! out=$(systemd-analyze verify --man=no "$tmp/shadowptd.socket" \
		"$tmp/shadowptd.service" 2>&1) || [ -n "$out" ]; then
		echo "units: $out"
		fail=1
	fi
	grep -q '^ExecStart=/usr/sbin/shadowptd$' "$src/systemd/shadowptd.service" ||
		{ echo "service: ExecStart is not /usr/sbin/shadowptd"; fail=1; }
	grep -q '^ListenStream=/run/shadowptd/shadowptd.sock$' "$src/systemd/shadowptd.socket" ||
		{ echo "socket: unexpected ListenStream"; fail=1; }
else
	missing="$missing systemd-analyze"
fi

if command -v systemd-sysusers >/dev/null; then
	mkdir -p "$tmp/root/etc"
	if ! out=$(systemd-sysusers --root="$tmp/root" "$src/sysusers.d/shadowpt.conf" 2>&1); then
		echo "sysusers: $out"
		fail=1
	fi
	grep -q '^shadowpt:' "$tmp/root/etc/passwd" 2>/dev/null &&
		grep -q '^shadowpt:' "$tmp/root/etc/group" 2>/dev/null ||
		{ echo "sysusers: user or group shadowpt not created"; fail=1; }
else
	missing="$missing systemd-sysusers"
fi

if [ -n "$manpage" ]; then
	if command -v groff >/dev/null; then
		out=$(groff -man -ww -z "$manpage" 2>&1) || true
		[ -z "$out" ] || { echo "man page: $out"; fail=1; }
	else
		missing="$missing groff"
	fi
fi

bash -n "$src/completion/shadowctl.bash" || { echo "completion: syntax error"; fail=1; }

[ $fail -eq 0 ] || exit 1
if [ -n "$missing" ]; then
	echo "SKIP: not installed:$missing (scripts/deps.sh test installs them)"
	exit 77
fi
echo "packaging: ok"
