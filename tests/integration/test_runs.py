#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Pages held and sent as runs (protocol 2): the zero page read over a
mapping is one run in JSON and text; a raw protocol 2 client gets PageRun
entries and a protocol 1 client Page entries for the same watch, and both
rebuild the /proc ground truth step by step; a protocol 1 viewer is
refused a snapshot beyond SPT_V1_MAX_SNAPSHOT_PAGES while a protocol 2
viewer gets it in a few bytes."""

import re
import time

from harness import (Daemon, Target, RawTable, check, compare_until_stable, diff_tables,
                     error_of, frame_type, main, read_truth, short, table_from_snapshot_events,
                     EXIT_OK, PAGE, T_STEP, TestFailure)

V1_MAX_SNAPSHOT_PAGES = 1 << 21  # proto/shadowpt-limits.h


def test_zero_page_is_one_run():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 4096")
    t.step("touch-read 0x%x 4096" % a)
    t.stop()
    try:
        def view():
            r = d.client("snapshot", t.pid, "--json")
            check(r.rc == EXIT_OK, "%r" % r)
            snap = r.events()[0]
            tb = table_from_snapshot_events([snap])
            view.entries = [p for p in snap["pages"]
                            if a <= int(p["vaddr"], 16) < a + 4096 * PAGE]
            return tb.vmas, tb.pages, tb.ext
        compare_until_stable(view, t.pid)
        # The shared zero page: one frame for all 4096 pages (a few
        # entries at most where khugepaged or reclaim got in the way).
        check(len(view.entries) <= 4 and sum(p["count"] for p in view.entries) == 4096,
              "the zero-page mapping is %d entries: %s" % (len(view.entries),
                                                           short(view.entries)))
        big = max(view.entries, key=lambda p: p["count"])
        check(big["pfn_stride"] == 0 or "thp" in big["flags"], "zero page with a stride: %s" % big)
        r = d.client("snapshot", t.pid)
        lines = [ln for ln in r.out.splitlines() if ln.startswith("page %012x" % a)]
        check(len(lines) == 1 and re.search(r"\(\d+ pages, (same|contiguous) frames?\)$",
                                             lines[0]),
              "text output of the run: %r" % lines)
    finally:
        t.cont()


def raw_watcher(d, pid, rng, version):
    c = d.connect()
    w = c.hello(version=version)["welcome"]
    check(w.get("protocol_version") == version, "Hello %d got Welcome %s" % (version, short(w)))
    c.watch(pid, rng)
    fr, _ = c.recv_until(lambda f: frame_type(f) in ("watch_started", "error"),
                         what="watch_started")
    check(frame_type(fr) == "watch_started", "protocol %d watch: %s" % (version, short(fr)))
    return c, RawTable()


def follow(c, table, pid, rng, what):
    """Applies frames until the table equals the ground truth."""
    deadline = time.monotonic() + T_STEP
    last = None
    while time.monotonic() < deadline:
        if table.seq is not None and table.delta_chunk is None:
            last = diff_tables(table.vmas, table.pages, read_truth(pid, rng), "raw", rng)
            if not last:
                return
        try:
            fr = c.recv(timeout=0.5)
        except TestFailure:
            continue
        check(fr is not None, "%s: EOF" % what)
        check(frame_type(fr) != "error", "%s: %s" % (what, short(fr)))
        table.apply_frame(fr)
    raise TestFailure("%s: table != /proc:\n  %s" % (what, "\n  ".join((last or [])[:20])))


def test_raw_protocol2_and_protocol1_clients():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 256")
    rng = (a, a + 256 * PAGE)
    v2, t2 = raw_watcher(d, t.pid, rng, 2)
    v1, t1 = raw_watcher(d, t.pid, rng, 1)
    steps = ["touch-read 0x%x 128" % a,  # the zero page: one run
             "touch-write 0x%x 64" % (a + 128 * PAGE),
             "touch-write 0x%x 16" % a,  # COW away from the zero page
             "madvise-dontneed 0x%x 100" % (a + 20 * PAGE),
             "munmap-partial 0x%x 256" % a]
    follow(v2, t2, t.pid, rng, "protocol 2, initial")
    follow(v1, t1, t.pid, rng, "protocol 1, initial")
    for s in steps:
        t.step(s)
        follow(v2, t2, t.pid, rng, "protocol 2 after %r" % s)
        follow(v1, t1, t.pid, rng, "protocol 1 after %r" % s)
    check(t2.runs_seen > 0 and t2.pages_seen == 0,
          "protocol 2 client: %d runs, %d pages" % (t2.runs_seen, t2.pages_seen))
    check(t1.pages_seen > 0 and t1.runs_seen == 0,
          "protocol 1 client: %d runs, %d pages" % (t1.runs_seen, t1.pages_seen))
    check(t2.runs_seen < t1.pages_seen,
          "runs are not more compact: %d runs, %d pages" % (t2.runs_seen, t1.pages_seen))
    v1.close()
    v2.close()
    d.check_alive()


def test_protocol1_snapshot_cap():
    d = Daemon()
    t = Target()
    n = V1_MAX_SNAPSHOT_PAGES + 4096
    a, _ = t.step("mmap-anon %d" % n)
    t.step("touch-read 0x%x %d" % (a, n), timeout=4 * T_STEP)
    rng = (a, a + n * PAGE)
    c = d.connect()
    c.hello(version=1)
    c.watch(t.pid, rng)
    fr, _ = c.recv_until(lambda f: frame_type(f) in ("snapshot", "error"),
                         what="the protocol 1 snapshot or its refusal", timeout=4 * T_STEP)
    code, msg = error_of(fr)
    check(code == "ERROR_LIMIT_EXCEEDED" and "protocol 1" in msg,
          "protocol 1 viewer of %d pages: %s %r" % (n, code, msg))
    c.close()
    c, _ = raw_watcher(d, t.pid, rng, 2)
    runs = []
    while True:
        fr = c.recv(timeout=4 * T_STEP)
        check(fr is not None and frame_type(fr) != "error", "protocol 2: %s" % short(fr))
        if frame_type(fr) != "snapshot":
            continue
        check(not fr["snapshot"].get("pages"), "protocol 2 snapshot with pages")
        runs += fr["snapshot"].get("runs", [])
        if fr["snapshot"].get("last_chunk"):
            break
    inside = [r for r in runs if a <= r.get("vaddr", 0) < a + n * PAGE]
    check(len(inside) < 100 and sum(r.get("count", 1) for r in inside) == n,
          "protocol 2: %d pages in %d runs" % (sum(r.get("count", 1) for r in inside),
                                               len(inside)))
    c.close()
    r = d.client("snapshot", t.pid, "--range", "0x%x:0x%x" % rng, "--json")
    check(r.rc == EXIT_OK and len(r.out) < 64 * 1024,
          "shadowctl's JSON of %d zero pages is %d bytes" % (n, len(r.out)))
    d.check_alive()


if __name__ == "__main__":
    main([test_zero_page_is_one_run, test_raw_protocol2_and_protocol1_clients,
          test_protocol1_snapshot_cap])
