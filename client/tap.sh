# SPDX-License-Identifier: GPL-2.0-or-later
# TAP helpers shared by the client's shell tests; sourced with $TMP set.
# Every helper counts one case in n, and failures in failed.
n=0 failed=0

ok() { # description
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() { # description, files to show...
	local what=$1
	shift
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $what"
	[ $# -gt 0 ] && sed 's/^/# /' "$@"
	return 0
}

# A command's exit status against the expected one; a sanitizer report on
# stderr ($TMP/err) fails the case whatever the status.
status_is() { # description, expected, got, files to show on failure...
	local what=$1 want=$2 got=$3
	shift 3
	if grep -Eq 'Sanitizer|runtime error' "$TMP/err"; then
		not_ok "$what: sanitizer report" "$TMP/err"
	elif [ "$got" = "$want" ]; then
		ok "$what"
	else
		not_ok "$what: status $got, expected $want" "$@"
	fi
}

has() { # description, file in $TMP, extended regexp
	if grep -Eq -- "$3" "$TMP/$2"; then
		ok "$1"
	else
		n=$((n + 1))
		failed=$((failed + 1))
		echo "not ok $n - $1: no /$3/ in $2"
		head -c 2000 "$TMP/$2" | sed 's/^/# /'
	fi
}

lines() { # description, file in $TMP, expected line count
	local got
	got=$(wc -l <"$TMP/$2")
	if [ "$got" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1: $got lines in $2, expected $3"
	fi
}

# Serves one shadowctl run from client/fake-daemon (needs $FAKE, $SOCK):
# the scenario, the expected status, then shadowctl's arguments; output
# in $TMP/out and $TMP/err.
fake_run() {
	local sc=$1 want=$2 got
	shift 2
	rm -f "$TMP/ready"
	"$FAKE" "$SOCK" "$sc" >"$TMP/ready" 2>"$TMP/fake.err" &
	local fake=$!
	for _ in $(seq 100); do grep -q ready "$TMP/ready" 2>/dev/null && break; sleep 0.05; done
	timeout 60 "$SCTL" --socket "$SOCK" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	got=$?
	wait "$fake"
	status_is "$sc: shadowctl $*" "$want" "$got" "$TMP/err" "$TMP/fake.err"
}

tap_done() {
	echo "1..$n"
	[ "$failed" = 0 ]
}
