#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# shadowctl against a scripted fake daemon (fake-daemon.c): reconstruction
# across chunks, deltas and resyncs, and the exit status and messages for
# each way a daemon can misbehave or refuse.
# Usage: test-protocol.sh PATH/TO/shadowctl PATH/TO/fake-daemon
set -u
SCTL=$1
FAKE=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
SOCK=$TMP/fake.sock
. "$(dirname "$0")/tap.sh"

fake_run normal 0 watch 42 --no-tui
has "started line" out '^started pid=42 watch=7 comm=fake\\x09target backend=procfs pfn=token'
has "snapshot line after all chunks" out '^snapshot pid=42 seq=100 vmas=2 pages=100000 '
has "delta line" out '^delta pid=42 seq=101 base=100 -vmas=1 \+vmas=1 pages=2$'
has "changed page line" out '^  7f0000000000 allocated,anonymous,mapped 0x5$'
has "removed page line" out '^  7f0000003000 - - \(entry removed\)$'
has "exit line" out '^exit pid=42 seq=101$'

fake_run normal 0 watch 42 --json
lines "one JSON object per event" out 5
has "hello event" out '^\{"event":"hello","pid":42,"seq":null,'
has "snapshot event with the weird name escaped" out \
	'"name":"/bin/we\\"ird\\\\name\\n\\u0001\\ufffd'$'\xc3\xa9''"'
has "delta event" out '^\{"event":"delta","pid":42,"seq":101,"base_seq":100,'
has "removed entry in JSON" out '\{"vaddr":"0x7f0000003000","flags":\[\],"pfn":null\}'
has "exit event" out '^\{"event":"exit","pid":42,"seq":101\}$'

fake_run normal 0 snapshot 42
has "snapshot prints every page" out '^page 7f0000030000 allocated,anonymous,mapped 0x3f8$'
fake_run hidden 0 snapshot 42 --json
has "hidden pfns are null" out '"pfn_visibility":"hidden".*"pfn":null'
fake_run resync 0 watch 42 --no-tui
has "resync snapshot replaces the table" out '^snapshot pid=42 seq=200 .* resync$'
has "delta on top of the resync" out '^delta pid=42 seq=201 base=200 '
fake_run normal 0 status --json
has "status event, escaped version" out '^\{"event":"status","pid":null,"seq":null,"server_version":"fake\\"\\u0001\\ufffd"'

fake_run bad-base 3 watch 42 --json
has "base_seq mismatch is reported" err 'protocol violation by shadowptd: delta seq 101 is based on seq 99'
has "... and as a JSON error event" out '"event":"error".*"exit_code":3'
fake_run chunk-order 3 snapshot 42
has "out-of-order chunk is reported" err 'chunk [0-9]+ without chunk 0'
fake_run huge-frame 3 watch 42 --no-tui
has "oversized frame is reported" err 'frame over the 1048576 byte limit'
fake_run huge-welcome 3 status
fake_run garbage 3 snapshot 42
has "undecodable frame is reported" err 'undecodable frame'
fake_run bad-version 1 status
has "daemon error: one line with the code name" err '^shadowctl: protocol version 1 not supported \(unsupported protocol version\)$'
fake_run permission 4 snapshot 1
has "permission denied" err '\(permission denied\)$'
fake_run no-process 5 watch 42 --no-tui
fake_run exit-early 5 snapshot 42
has "exit before the snapshot" err 'exited before'

tap_done
