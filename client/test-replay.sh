#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# record, replay and plot against the scripted fake daemon (fake-daemon.c):
# a replayed stream prints exactly what the live watch printed (JSON and
# text), the recorder keeps only frames that apply, plot writes each
# format, and each kind of damaged file gets its message and exit status
# 7, never a crash.
# Usage: test-replay.sh PATH/TO/shadowctl PATH/TO/fake-daemon
set -u
SCTL=$1
FAKE=$2
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
SOCK=$TMP/fake.sock
. "$(dirname "$0")/tap.sh"

replay() { # expected status, replay arguments...
	local want=$1
	shift
	timeout 60 "$SCTL" replay "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	status_is "replay $*" "$want" $? "$TMP/err"
}

same() { # description, file, file (each run has its own received_ns)
	sed -i 's/"received_ns":[0-9N]*/"received_ns":N/' "$TMP/$2" "$TMP/$3"
	if cmp -s "$TMP/$2" "$TMP/$3"; then
		ok "$1"
	else
		not_ok "$1" # shows the first differences
		diff "$TMP/$2" "$TMP/$3" | head -20 | sed 's/^/# /'
	fi
}

# Writes a copy of a recording with its first Delta changed so that it
# removes a VMA that does not exist (0x600000 instead of 0x400000), the
# record's CRC made right again: damage only the table can see.
break_delta() { # in, out
	python3 - "$1" "$2" <<'EOF'
import sys, zlib
d = bytearray(open(sys.argv[1], "rb").read())
off = 12
while off + 8 <= len(d):
    n = int.from_bytes(d[off:off + 4], "big")
    body = d[off + 8:off + 8 + n]
    if body[0] == 2 and body[9] == 0x3a:  # a frame record holding a Delta
        i = body.find(b"\x80\x80\x80\x02")
        body[i + 3] = 3
        d[off + 8:off + 8 + n] = body
        d[off + 4:off + 8] = zlib.crc32(bytes(body)).to_bytes(4, "big")
        break
    off += 8 + n
else:
    sys.exit("no delta found")
open(sys.argv[2], "wb").write(d)
EOF
}

# Live output of each scenario, then its recording played back.
for sc in normal resync hidden causes; do
	fake_run "$sc" 0 watch 42 --json
	cp "$TMP/out" "$TMP/live-$sc.json"
	fake_run "$sc" 0 watch 42 --no-tui
	cp "$TMP/out" "$TMP/live-$sc.txt"
	fake_run "$sc" 0 record 42 -o "$TMP/$sc.rec"
	has "$sc: record says what it wrote" err "recorded [0-9]+ frames .* target exited"
	replay 0 "$TMP/$sc.rec" --json --speed max
	same "$sc: replay --json prints the live --json lines" "live-$sc.json" out
	replay 0 "$TMP/$sc.rec" --no-tui --speed max
	same "$sc: replay --no-tui prints the live lines" "live-$sc.txt" out
done
has "the JSON holds every event" live-normal.json '"event":"exit"'

# A daemon that breaks the protocol: the bad delta is not recorded.
fake_run bad-base 3 record 42 -o "$TMP/bad-base.rec"
replay 0 "$TMP/bad-base.rec" --no-tui --speed max
has "what applied is replayed" out '^snapshot pid=42 seq=100 '
has "the recording says how it ended" err 'ended early: shadowptd broke the protocol'
if grep -q '^delta' "$TMP/out"; then not_ok "the refused delta was recorded"; else ok "the refused delta was not recorded"; fi

# At speed 1 the frames keep their recorded spacing (the fake sends at once).
replay 0 "$TMP/normal.rec" --json
same "replay at speed 1: the same lines" live-normal.json out

# Damaged files: exit 7 and a message saying what and where.
REC=$TMP/normal.rec
size=$(stat -c %s "$REC")
head -c $((size / 2)) "$REC" >"$TMP/cut.rec"
replay 7 "$TMP/cut.rec" --no-tui --speed max
has "truncated: says where" err 'cut.rec: cut short at offset [0-9]+'
replay 7 "$TMP/cut.rec" --json --speed max
has "truncated: JSON error event with exit 7" out '"event":"error".*"exit_code":7'
has "truncated: the events before it" out '"event":"started"'

printf 'not a recording at all\n' >"$TMP/text.rec"
replay 7 "$TMP/text.rec"
has "wrong magic" err 'not a shadowctl recording'
: >"$TMP/empty.rec"
replay 7 "$TMP/empty.rec"
has "empty file" err 'empty file'

python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[11] = 9
open(sys.argv[2], "wb").write(d)' "$REC" "$TMP/future.rec"
replay 7 "$TMP/future.rec" --no-tui
has "future version" err 'format version 9 is newer than this shadowctl reads \(1\)'

python3 -c 'import sys; d = bytearray(open(sys.argv[1], "rb").read()); d[-40] ^= 0x55
open(sys.argv[2], "wb").write(d)' "$REC" "$TMP/flip.rec"
replay 7 "$TMP/flip.rec" --no-tui --speed max
has "flipped byte: CRC" err 'is damaged \(CRC mismatch\)'

break_delta "$REC" "$TMP/delta.rec"
replay 7 "$TMP/delta.rec" --no-tui --speed max
has "a delta that does not apply" err 'damaged: frame record at offset [0-9]+: invalid delta seq 101'
has "... after the snapshot was shown" out '^snapshot pid=42 seq=100 '

# Without its end record (as kill -9 leaves it): everything, then exit 7.
python3 -c 'import sys
d = open(sys.argv[1], "rb").read(); off = 12; last = off
while off < len(d):
    last = off; off += 8 + int.from_bytes(d[off:off + 4], "big")
open(sys.argv[2], "wb").write(d[:last])' "$REC" "$TMP/noend.rec"
replay 7 "$TMP/noend.rec" --no-tui --speed max
has "no end record: says so" err 'without an end record'
has "no end record: every frame replayed" out '^exit pid=42 seq=101$'

replay 1 "$TMP/missing.rec"
has "missing file" err 'cannot open .*missing.rec'

# plot draws every format; a damaged file up to the damage.
plot() { # expected status, plot arguments...
	local want=$1
	shift
	timeout 120 "$SCTL" plot "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
	status_is "plot $*" "$want" $? "$TMP/err"
}
plot 0 "$REC" -o "$TMP/p.svg"
if xmllint --noout "$TMP/p.svg" 2>"$TMP/xmllint.err"; then ok "the SVG is valid XML"; else
	not_ok "the SVG is valid XML" "$TMP/xmllint.err"; fi
plot 0 "$REC" -o "$TMP/p.png" --json
has "--json says where it drew" out '^\{"event":"plot","pid":42,"seq":null,.*"heat_map":\{'
# the fake's delta moves one page to another frame and drops one (its VMA stays)
has "--json counts the page events" out '"page_events":\{"read_fault":0,"write_fault":0,"mapped":0,"new_frame":1,"unmapped":0,"zapped":1\}'
if [ "$(head -c 8 "$TMP/p.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]; then
	ok "the PNG is a PNG"; else not_ok "the PNG is a PNG"; fi
plot 0 "$REC" -o "$TMP/p.pdf"
if head -c 5 "$TMP/p.pdf" | grep -q '%PDF-'; then ok "the PDF is a PDF"; else not_ok "the PDF is a PDF"; fi
plot 7 "$TMP/cut.rec" -o "$TMP/cut.png"
has "damaged: drawn up to the damage" err 'cut.rec: cut short at offset [0-9]+.*cut.png shows the [0-9]+ frames before'
if [ -s "$TMP/cut.png" ]; then ok "damaged: the picture is there"; else not_ok "damaged: no picture"; fi
plot 7 "$TMP/text.rec" -o "$TMP/text.png"
has "plot of a non-recording" err 'not a shadowctl recording'
plot 7 "$TMP/delta.rec" -o "$TMP/delta.svg"
has "plot: a delta that does not apply" err 'damaged: frame record at offset'
plot 2 "$REC" -o "$TMP/p.txt"
has "plot: unknown format" err "cannot tell the format"

# Replay runs in the sandbox: a forbidden call after it is installed is fatal.
if [ -n "${SCTL_SANITIZER_BUILD:-}" ]; then
	n=$((n + 1))
	echo "ok $n - # SKIP sandbox openat selftest in a sanitizer build"
else
	SHADOWCTL_SANDBOX_SELFTEST=1 replay 159 "$REC" --no-tui --speed max
fi
SHADOWCTL_SANDBOX_SELFTEST=socket replay 159 "$REC" --no-tui --speed max
SHADOWCTL_SANDBOX_SELFTEST=socket fake_run normal 159 record 42 -o "$TMP/sandboxed.rec"
SHADOWCTL_SANDBOX_SELFTEST=socket plot 159 "$REC" -o "$TMP/sandboxed.png"

tap_done
