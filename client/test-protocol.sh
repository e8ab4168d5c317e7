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

for v in "" -v1; do
fake_run normal$v 0 watch 42 --no-tui
has "started line$v" out '^started pid=42 watch=7 comm=fake\\x09target backend=procfs pfn=token'
has "snapshot line after all chunks$v" out '^snapshot pid=42 seq=100 vmas=2 pages=100000 runs=100000 '
has "delta line$v" out '^delta pid=42 seq=101 base=100 -vmas=1 \+vmas=1 pages=2 runs=2$'
has "changed page line$v" out '^  7f0000000000 allocated,anonymous,mapped 0x5$'
has "removed page line$v" out '^  7f0000003000 - - \(entry removed\)$'
has "exit line$v" out '^exit pid=42 seq=101$'
done

# Runs: 1 TiB of the zero page is one line, one JSON entry.
fake_run zero-tib 0 snapshot 42
has "a 1 TiB run is one line" out '^page 100000000000-110000000000 allocated,anonymous,mapped 0x3b34 \(268435456 pages, same frame\)$'
has "a THP is one line" out '^page 110000000000-110000200000 allocated,anonymous,mapped,thp 0x9a00-0x9bff \(512 pages, contiguous frames\)$'
lines "five lines: started, snapshot, the VMA, two runs" out 5
fake_run zero-tib 0 snapshot 42 --json
has "JSON: count and pfn_stride" out '"page_count":268435968,"pages":\[\{"vaddr":"0x100000000000","flags":\["allocated","anonymous","mapped"\],"pfn":15156,"count":268435456,"pfn_stride":0\},\{"vaddr":"0x110000000000",.*"pfn":39424,"count":512,"pfn_stride":1\}\]'
fake_run chunked-delta 0 watch 42 --no-tui
has "a chunked delta is one event" out '^delta pid=42 seq=101 base=100 -vmas=0 \+vmas=0 pages=100000 runs=100000$'
fake_run chunked-delta-v1 0 watch 42 --no-tui
has "protocol 1: a resync instead" out '^snapshot pid=42 seq=101 vmas=2 pages=100000 runs=100000 .* resync$'

fake_run normal 0 watch 42 --json
lines "one JSON object per event" out 5
has "hello event" out '^\{"event":"hello","pid":42,"seq":null,'
has "snapshot event with the weird name escaped" out \
	'"name":"/bin/we\\"ird\\\\name\\n\\u0001\\ufffd'$'\xc3\xa9''"'
has "delta event" out '^\{"event":"delta","pid":42,"seq":101,"base_seq":100,'
has "removed entry in JSON" out '\{"vaddr":"0x7f0000003000","flags":\[\],"pfn":null,"count":1,"pfn_stride":0,"cause":null\}'
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
has "status: snapshots encoded, zero as a number" out '"viewers_disconnected":0,"snapshots_encoded":0,"session_list"'

# Protocol 2 causes, event times and the watch's health.
fake_run causes 0 watch 42 --json
has "started: the watch mode" out '^\{"event":"started",.*"mode":"events","mode_reason":"perf page faults, mmap_lock tracepoints"\}$'
has "watch_status: stalled" out '^\{"event":"watch_status","pid":42,"seq":100,"watch_id":7,"state":"stalled","mode":"events","message":"a read of /proc/42/pagemap has not returned for 2.0 s","since_ns":5000000000\}$'
has "watch_status: live again" out '"event":"watch_status".*"state":"live"'
has "delta: its cause, address, event time, thread, events" out '"cause":"multiple","cause_vaddr":"0x7f0000000000","event_time_ns":5000100000,"cause_tid":43,"events":2,'
has "delta: when this viewer received it" out '"event":"delta".*"events":2,"received_ns":[1-9][0-9]*,'
has "delta: each run's own cause" out '\{"vaddr":"0x7f0000000000",.*"cause":"cow"\},\{"vaddr":"0x7f0000003000",.*"cause":"madvise"\}'
fake_run normal 0 watch 42 --json
has "protocol 1 deltas: causes null" out '"event":"delta".*"cause":null,"cause_vaddr":null,"event_time_ns":null,"cause_tid":null,"events":null'
fake_run causes 0 watch 42 --no-tui
has "text: the mode" out '^started .* mode=events mode_reason="perf page faults, mmap_lock tracepoints"$'
has "text: watch status" out '^watch-status pid=42 watch=7 state=stalled mode=events message="a read of /proc/42/pagemap has not returned for 2.0 s"$'
has "text: the delta's cause" out '^delta pid=42 seq=101 .* cause=multiple vaddr=0x7f0000000000 tid=43 events=2 event_ns=5000100000$'
has "text: a run's own cause" out '^  7f0000000000 allocated,anonymous,mapped 0x5 cause=cow$'

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
