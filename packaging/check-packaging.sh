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

# LimitNOFILE: what the daemon may take (SPT_MAX_FDS), and enough for the
# per-uid limits of 8 uids besides its reserve and the perf rings.
limit() { awk -v n="$2" '$1 == "#define" && $2 == n { v = $3; sub(/u$/, "", v); print v }' "$1"; }
lim=$src/../proto/shadowpt-limits.h perf=$src/../daemon/procfs/perf-events.h
nofile=$(sed -n 's/^LimitNOFILE=//p' "$src/systemd/shadowptd.service")
max_fds=$(limit "$lim" SPT_MAX_FDS)
per_uid=$(($(limit "$lim" SPT_MAX_CONNECTIONS_PER_UID) + \
	$(limit "$lim" SPT_MAX_WATCHES_PER_UID) * $(limit "$lim" SPT_SESSION_FDS)))
need=$(($(limit "$lim" SPT_FD_RESERVE) + \
	$(limit "$lim" SPT_MAX_PERF_RINGS) * $(limit "$perf" SPT_PERF_FDS_PER_RING) + 8 * per_uid))
if [ "$nofile" != "$max_fds" ] || [ "$nofile" -lt "$need" ]; then
	echo "service: LimitNOFILE=$nofile, want SPT_MAX_FDS ($max_fds) and at least $need (8 uids of $per_uid fds)"
	fail=1
fi

bash -n "$src/completion/shadowctl.bash" || { echo "completion: syntax error"; fail=1; }

[ $fail -eq 0 ] || exit 1
if [ -n "$missing" ]; then
	echo "SKIP: not installed:$missing (scripts/deps.sh test installs them)"
	exit 77
fi
echo "packaging: ok"
