#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs inside the systemd-nspawn container that test-systemd.sh boots, as
# spt-test.service: checks the installed units under the real systemd
# (PID 1) and writes TAP to /results/tap; the unit powers the container
# off when this ends, however it ends.
set -u
exec >/results/tap 2>&1
n=0

tap() { # status, description
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi
}

diag() { sed 's/^/# /'; }

unit_prop() { systemctl show -p "$2" --value "$1"; }

wait_for() { # seconds, command...: polls every 0.1 s
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		"${@:2}" && return 0
		sleep 0.1
	done
	return 1
}

sctl() { timeout 30 shadowctl "$@"; }

sock=/run/shadowptd/shadowptd.sock
export SHADOWPT_SOCKET=$sock

getent passwd shadowpt >/dev/null
tap $? "systemd-sysusers created the user shadowpt"

[ "$(systemctl is-active shadowptd.socket)" = active ] && [ -S $sock ]
tap $? "shadowptd.socket listens on $sock"
[ "$(systemctl is-active shadowptd.service)" = inactive ]
tap $? "shadowptd.service is not running before the first connection"

sctl status >/tmp/status 2>&1
tap $? "shadowctl status activates the daemon through the socket"
diag </tmp/status
[ "$(systemctl is-active shadowptd.service)" = active ]
tap $? "shadowptd.service is active after the first connection"
status_text=$(unit_prop shadowptd.service StatusText)
[ -n "$status_text" ]
tap $? "sd_notify STATUS reached systemd: '$status_text'"

pid=$(unit_prop shadowptd.service MainPID)
uid=$(awk '/^Uid:/ { print $2 }' /proc/"$pid"/status)
[ "$uid" = "$(id -u shadowpt)" ]
tap $? "the daemon dropped to user shadowpt (uid $uid)"
# CAP_DAC_READ_SEARCH (2), CAP_SYS_PTRACE (19), CAP_SYS_ADMIN (21).
capeff=$(awk '/^CapEff:/ { print $2 }' /proc/"$pid"/status)
[ "$capeff" = 0000000000280004 ]
tap $? "it keeps exactly CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH (CapEff $capeff)"
[ "$(awk '/^NoNewPrivs:/ { print $2 }' /proc/"$pid"/status)" = 1 ]
tap $? "no_new_privs is set"
capbnd=$(awk '/^CapBnd:/ { print $2 }' /proc/"$pid"/status)
[ "$capbnd" = 0000000000280004 ]
tap $? "the bounding set holds those three only (CapBnd $capbnd)"

# Another user's process, read through every hardening option of the unit.
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/local/bin/target --demo \
	</dev/null >/dev/null 2>&1 &
victim=$!
# setpriv until it execs: wait for the target itself, running as nobody.
is_victim() {
	[ "$(readlink /proc/$victim/exe)" = /usr/local/bin/target ] &&
		[ "$(awk '/^Uid:/ { print $2 }' /proc/$victim/status)" = 65534 ]
}
wait_for 10 is_victim
tap $? "the demo target runs as user nobody (pid $victim)"
sctl snapshot "$victim" --json >/tmp/snap 2>&1
tap $? "snapshot of a process of user nobody"
grep -q '"event":"snapshot".*"comm":"target"' /tmp/snap &&
	grep -q '"pfn_visibility":"raw"' /tmp/snap && grep -q '"pfn":[1-9]' /tmp/snap
tap $? "the snapshot has pages with raw pfns (root viewer, CAP_SYS_ADMIN kept)"
grep -q '"backend":"procfs"' /tmp/snap
tap $? "served by the procfs backend on a stock kernel"
sctl watch "$victim" --count 3 --json >/tmp/watch 2>&1
tap $? "watch of the running demo target gets 3 deltas"
[ "$(grep -c '"event":"delta"' /tmp/watch)" -ge 3 ]
tap $? "three delta events printed"
kill "$victim"

systemctl stop shadowptd.service
[ "$(unit_prop shadowptd.service Result)" = success ] &&
	[ "$(unit_prop shadowptd.service ExecMainStatus)" = 0 ]
tap $? "systemctl stop: the daemon exits 0 (Result=$(unit_prop shadowptd.service Result))"
# stderr reaches the journal asynchronously.
clean_exit_logged() {
	journalctl -b -u shadowptd.service -o cat >/tmp/journal 2>&1
	grep -q "exited cleanly" /tmp/journal
}
wait_for 10 clean_exit_logged
tap $? "the journal has the daemon's clean exit"
[ -S $sock ] && [ "$(systemctl is-active shadowptd.socket)" = active ]
tap $? "the socket survives the service stop"
sctl status >/dev/null 2>&1 && [ "$(systemctl is-active shadowptd.service)" = active ]
tap $? "the next connection activates the daemon again"
[ "$(unit_prop shadowptd.service NRestarts)" = 0 ]
tap $? "no restarts (watchdog pings arrive, nothing crashed)"

echo "1..$n"
grep -q '^not ok' /results/tap && diag </tmp/journal
exit 0
