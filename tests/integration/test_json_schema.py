#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`shadowctl --json` follows doc/json-schema.md: event order per command,
the fields and types of every event, sorted and page-aligned entries,
base_seq chaining, error events carrying the exit status, and VMA names
with odd bytes (quotes, backslashes, tabs, newlines, invalid UTF-8) kept on
one line and equal to /proc/PID/maps."""

import json
import os
import re
import shutil
import subprocess

from harness import (Daemon, Target, table_from_snapshot_events, check, compare_until_stable, main,
                     read_maps, short, EXIT_OK, EXIT_NO_PROCESS, EXIT_PERMISSION, NOBODY_UID,
                     PAGE, T_STEP)

HEX = re.compile(r"^0x[0-9a-f]+$")
KINDS = {"anon", "shared-anon", "file", "special", "unknown"}
FLAG_NAMES = {"allocated", "anonymous", "mapped", "swapped", "soft-dirty", "exclusive", "thp",
              "file"}
FLAG_BITS = ["allocated", "anonymous", "mapped"] + [None] * 5 + \
    ["swapped", "soft-dirty", "exclusive", "thp", "file"]


def is_addr(v):
    return isinstance(v, str) and HEX.match(v) is not None


def check_page(p, where):
    check(set(p) >= {"vaddr", "flags", "pfn", "count", "pfn_stride"},
          "%s: page fields %s" % (where, sorted(p)))
    check(isinstance(p["count"], int) and p["count"] >= 1 and p["pfn_stride"] in (0, 1),
          "%s: count %r pfn_stride %r" % (where, p["count"], p["pfn_stride"]))
    check(p["pfn"] is not None or p["pfn_stride"] == 0,
          "%s: a stride without a pfn" % where)
    check(is_addr(p["vaddr"]) and int(p["vaddr"], 16) % PAGE == 0,
          "%s: page vaddr %r" % (where, p["vaddr"]))
    check(isinstance(p["flags"], list) and all(isinstance(f, str) for f in p["flags"]),
          "%s: flags %r" % (where, p["flags"]))
    for f in p["flags"]:
        check(f in FLAG_NAMES or HEX.match(f), "%s: unknown flag name %r" % (where, f))
    known = [f for f in p["flags"] if f in FLAG_NAMES]
    order = [FLAG_BITS.index(f) for f in known]
    check(order == sorted(order), "%s: flags not in bit order: %r" % (where, p["flags"]))
    check(p["pfn"] is None or (isinstance(p["pfn"], int) and p["pfn"] >= 0),
          "%s: pfn %r" % (where, p["pfn"]))
    if "mapped" not in p["flags"]:
        check(p["pfn"] is None, "%s: pfn %r on a page that is not mapped" % (where, p["pfn"]))


def check_vma(v, where):
    check(set(v) >= {"start", "end", "perms", "kind", "name", "offset"},
          "%s: vma fields %s" % (where, sorted(v)))
    s, e = int(v["start"], 16), int(v["end"], 16)
    check(is_addr(v["start"]) and is_addr(v["end"]) and s < e and s % PAGE == 0 and e % PAGE == 0,
          "%s: vma range %r..%r" % (where, v["start"], v["end"]))
    check(re.match(r"^[r-][w-][x-][ps]$", v["perms"]), "%s: perms %r" % (where, v["perms"]))
    check(v["kind"] in KINDS, "%s: kind %r" % (where, v["kind"]))
    check(isinstance(v["name"], str) and is_addr(v["offset"]), "%s: name/offset %s" % (where, v))


def check_sorted(items, key, where):
    keys = [int(x[key], 16) for x in items]
    check(keys == sorted(set(keys)), "%s: not sorted by %s or duplicated" % (where, key))


def check_runs_sorted(pages, where):
    """Page entries are sorted runs that do not overlap."""
    end = 0
    for p in pages:
        va = int(p["vaddr"], 16)
        check(va >= end, "%s: entry at %s overlaps the one before" % (where, p["vaddr"]))
        end = va + p["count"] * PAGE
    check(end <= 0x7FFFFFFFF000, "%s: entries beyond the user address space" % where)


WATCH_FIELDS = {"watch_id", "comm", "backend", "backend_reason", "pfn_visibility", "range"}


def check_event(ev, idx):
    where = "event %d (%s)" % (idx, ev.get("event"))
    for k in ("event", "pid", "seq"):
        check(k in ev, "%s: no %r" % (where, k))
    kind = ev["event"]
    if kind == "hello":
        check(ev["seq"] is None and isinstance(ev.get("protocol_version"), int) and
              isinstance(ev.get("backends"), list) and "server_version" in ev and "peer" in ev,
              "%s: %s" % (where, short(ev)))
    elif kind == "started":
        check(ev["seq"] is None and set(ev) >= WATCH_FIELDS, "%s: %s" % (where, short(ev)))
        check(ev["pfn_visibility"] in ("raw", "token", "hidden"), "%s: visibility" % where)
    elif kind == "snapshot":
        check(set(ev) >= WATCH_FIELDS | {"resync", "chunks", "vmas", "page_count", "pages"},
              "%s: fields %s" % (where, sorted(ev)))
        check(isinstance(ev["seq"], int) and isinstance(ev["resync"], bool) and
              isinstance(ev["chunks"], int) and ev["chunks"] >= 1, "%s: %s" % (where, short(ev)))
        for v in ev["vmas"]:
            check_vma(v, where)
        for p in ev["pages"]:
            check_page(p, where)
            check("flags" in p and p["flags"], "%s: empty flags in a snapshot" % where)
        check_sorted(ev["vmas"], "start", where)
        check_runs_sorted(ev["pages"], where)
        check(ev["page_count"] == sum(p["count"] for p in ev["pages"]),
              "%s: page_count %s" % (where, ev["page_count"]))
    elif kind == "delta":
        check(set(ev) >= {"base_seq", "timestamp_ns", "exec", "chunks", "vmas_removed",
                          "vmas_added", "page_count", "pages"},
              "%s: fields %s" % (where, sorted(ev)))
        check(isinstance(ev["chunks"], int) and ev["chunks"] >= 1, "%s: chunks" % where)
        check(isinstance(ev["seq"], int) and isinstance(ev["base_seq"], int) and
              isinstance(ev["timestamp_ns"], int) and isinstance(ev["exec"], bool),
              "%s: %s" % (where, short(ev)))
        for r in ev["vmas_removed"]:
            check(set(r) >= {"start", "end"} and is_addr(r["start"]) and is_addr(r["end"]),
                  "%s: removed %r" % (where, r))
        for v in ev["vmas_added"]:
            check_vma(v, where)
        for p in ev["pages"]:
            check_page(p, where)
        check_runs_sorted(ev["pages"], where)
        check(ev["page_count"] == sum(p["count"] for p in ev["pages"]),
              "%s: page_count %s" % (where, ev["page_count"]))
    elif kind == "exit":
        pass
    elif kind == "error":
        check({"code", "code_name", "message", "exit_code"} <= set(ev), "%s: %s" % (where, ev))
    elif kind in ("peek", "status"):
        pass
    else:
        raise AssertionError("%s: unknown event kind" % where)


def test_watch_event_sequence():
    d = Daemon()
    t = Target()
    w = d.watcher(t.pid)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    a, _ = t.step("mmap-anon 8")
    t.step("touch-write 0x%x 8" % a)
    t.step("munmap-partial 0x%x 8" % a)
    w.wait_for(lambda w_: any(0 <= va - a < 8 * PAGE for va in w_.table.pages), T_STEP,
               "the writes to show")
    t.step("exec")
    w.wait_for(lambda w_: any(e.get("exec") for e in w_.events), T_STEP, "the exec delta")
    t.send("exit 0")
    check(w.wait_exit() == EXIT_OK, "watch exit status")
    kinds = [e["event"] for e in w.events]
    check(kinds[:3] == ["hello", "started", "snapshot"], "watch starts with %s" % kinds[:3])
    check(kinds[-1] == "exit" and set(kinds[3:-1]) <= {"delta"},
          "then deltas and exit: %s" % kinds[3:])
    seq = None
    for i, ev in enumerate(w.events):
        check_event(ev, i)
        check(ev["pid"] == t.pid, "event %d pid %s" % (i, ev["pid"]))
        if ev["event"] == "snapshot":
            seq = ev["seq"]
        elif ev["event"] == "delta":
            check(ev["base_seq"] == seq, "delta %d base_seq %s after seq %s" %
                  (i, ev["base_seq"], seq))
            seq = ev["seq"]
        elif ev["event"] == "exit":
            check(ev["seq"] == seq, "exit seq %s, last seq %s" % (ev["seq"], seq))
    stamps = [e["timestamp_ns"] for e in w.events if e["event"] == "delta"]
    check(stamps == sorted(stamps), "delta timestamps go backwards")


def test_one_shot_commands():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 2")
    t.step("touch-write 0x%x 1" % a)
    for args, kind in ((["snapshot", t.pid], "snapshot"), (["peek", t.pid, "0x%x" % a], "peek"),
                       (["status"], "status")):
        r = d.client(*(args + ["--json"]))
        check(r.rc == EXIT_OK, "%r" % r)
        evs = r.events()
        check([e["event"] for e in evs] == [kind], "%s prints %s" % (args[0], [e["event"] for e in evs]))
        check_event(evs[0], 0)
        # The global --json before the command is the same thing.
        r2 = d.client(*(["--json"] + args))
        check(r2.rc == EXIT_OK and [e["event"] for e in r2.events()] == [kind],
              "--json before the command: %r" % r2)
    ev = [e for e in d.client("peek", t.pid, "0x%x" % a, "--json").events()][0]
    check(ev["length"] == 4096 and len(ev["data_hex"]) == 8192 and
          re.match(r"^[0-9a-f]+$", ev["data_hex"]), "peek event: %s" % short(ev))


def test_error_events():
    d = Daemon()
    t = Target()
    gone = subprocess.Popen(["true"])
    gone.wait()
    cases = [(["snapshot", gone.pid, "--json"], None, EXIT_NO_PROCESS, 5),
             (["snapshot", t.pid, "--json"], NOBODY_UID, EXIT_PERMISSION, 6),
             (["watch", gone.pid, "--json"], None, EXIT_NO_PROCESS, 5)]
    for args, user, rc, code in cases:
        r = d.client(*args, user=user)
        check(r.rc == rc, "%r: exit %d expected" % (r, rc))
        evs = r.events()
        errs = [e for e in evs if e["event"] == "error"]
        check(len(errs) == 1 and evs[-1] is errs[0], "one final error event: %r" % r)
        e = errs[0]
        check_event(e, 0)
        check(e["exit_code"] == rc and e["code"] == code and e["message"],
              "error event %s, expected exit_code %d code %d" % (e, rc, code))
        check(r.err.startswith("shadowctl: "), "stderr diagnostic: %r" % r.err)
    # Client-side failures: code null.
    r = d.client("snapshot", t.pid, "--json", "--range", "0x1000:0x1000")
    if r.out.strip():
        e = r.events()[-1]
        check(e["event"] == "error" and e["code"] is None and e["exit_code"] == r.rc,
              "client-side error event: %s" % e)


def test_odd_vma_names():
    """A file whose path holds quotes, backslashes, a tab, a newline, UTF-8
    and an invalid byte: every event stays one JSON line and the names
    equal /proc/PID/maps (where the kernel shows the newline as \\012)."""
    odd = b'od"d \\ na\tme\nnew d\xc3\xbcr \xff end'
    d = Daemon()
    t = Target(tmp_subdir=odd)
    w = d.watcher(t.pid)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    vals = t.step("mmap-file 2")
    t.stop()
    try:
        names = {v["name"] for v in read_maps(t.pid) if v["start"] in (vals[0], vals[2])}
        check(len(names) == 1 and "\\012" in next(iter(names)) and "\ufffd" in next(iter(names)),
              "unexpected maps names %r" % names)

        def view():
            r = d.client("snapshot", t.pid, "--json")
            check(r.rc == EXIT_OK, "%r" % r)
            check(len(r.out.strip().splitlines()) == 1, "snapshot is not one line")
            tb = table_from_snapshot_events([r.events()[0]])
            return tb.vmas, tb.pages
        compare_until_stable(view, t.pid)
        w.wait_for(lambda w_: {w_.table.vmas.get(vals[0], (0, 0, 0, None))[3]} == names,
                   T_STEP, "the watch to show the odd name")
    finally:
        t.cont()
    w.stop()


def test_jq_examples():
    """The jq examples of doc/json-schema.md run."""
    jq = shutil.which("jq")
    check(jq, "jq not installed (scripts/deps.sh test installs it)")
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 4")
    t.step("touch-write 0x%x 4" % a)
    b, _ = t.step("mmap-anon 64")
    t.step("touch-read 0x%x 64" % b)  # the zero page: one entry of 64 pages
    r = d.client("snapshot", t.pid, "--json")
    snap = r.events()[0]
    out = subprocess.run([jq, '[.pages[] | select(.flags | index("mapped")) | .count] | add'],
                         input=r.out.encode(), capture_output=True, timeout=60)
    want = sum(p["count"] for p in snap["pages"] if "mapped" in p["flags"])
    check(out.returncode == 0 and int(out.stdout) == want and want >= 68,
          "jq mapped count: %r, want %d" % (out, want))
    out = subprocess.run([jq, '.page_count'], input=r.out.encode(), capture_output=True,
                         timeout=60)
    check(out.returncode == 0 and int(out.stdout) == snap["page_count"], "jq page_count: %r" % out)
    out = subprocess.run([jq, '-c', '[.pages[] | select(.count > 1) | {vaddr, count, pfn_stride}]'],
                         input=r.out.encode(), capture_output=True, timeout=60)
    check(out.returncode == 0 and ('"vaddr":"0x%x","count":64,"pfn_stride":0' % b) in
          out.stdout.decode(), "jq runs: %r" % out)


if __name__ == "__main__":
    main([test_watch_event_sequence, test_one_shot_commands, test_error_events,
          test_odd_vma_names, test_jq_examples])
