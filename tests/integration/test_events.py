#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The event-driven pipeline (procfs backend): deltas say what caused them
and when; a fault burst loses no page; threads that come and go are
followed; an idle target costs no reads. Every check compares with /proc
or with what the target itself reports."""

import time

from harness import (Daemon, Target, Skip, check, diff_tables, main, raw_status, read_truth,
                     session_status, log, PAGE, T_STEP)


def events_or_skip(w):
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    st = [e for e in w.events if e.get("event") == "started"][0]
    if st.get("mode") != "events":
        raise Skip("no event-driven watches on this host: %s" % st.get("mode_reason"))
    return st


def deltas(w):
    with w.cond:
        return [e for e in w.events if e.get("event") == "delta"]


def mapped(w, va):
    return w.table.pages.get(va, (0,))[0] & 4


def causes_of(w, va):
    """Causes of the delta entries that covered va (an entry's own, else its delta's)."""
    out = set()
    for e in deltas(w):
        for p in e.get("pages", []):
            v = int(p["vaddr"], 16)
            if v <= va < v + p.get("count", 1) * PAGE:
                out.add(p.get("cause") or e.get("cause"))
    return out


def converge(w, pid, rng, what):
    last = {}

    def equal(w_):
        last["d"] = diff_tables(w_.table.vmas, w_.table.pages, read_truth(pid, rng), "raw", rng)
        return not last["d"]
    try:
        w.wait_for(equal, T_STEP, what)
    except AssertionError as e:
        raise AssertionError("%s\n  %s" % (e, "\n  ".join(last.get("d", [])[:20])))


def test_causes_and_event_times():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 8")
    rng = (a, a + 8 * PAGE)
    w = d.watcher(t.pid, "--range", "0x%x:0x%x" % rng)
    events_or_skip(w)
    cases = [("touch-read 0x%x 1" % a, "read-fault", a),
             ("touch-write 0x%x 1" % (a + PAGE), "write-fault", a + PAGE),
             ("touch-write 0x%x 1" % a, "cow", a),  # the zero page gets its own frame
             ("madvise-dontneed 0x%x 2" % a, "madvise", a)]
    for cmd, cause, va in cases:
        n = len(deltas(w))
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        t.step(cmd)
        w.wait_for(lambda w_: len(deltas(w_)) > n, T_STEP, "a delta for %r" % cmd)
        time.sleep(0.1)  # a fault that shows late comes as a second delta
        new = deltas(w)[n:]
        check(any(e.get("cause") == cause for e in new),
              "%r: causes %s, expected %s" % (cmd, [e.get("cause") for e in new], cause))
        e = [e for e in new if e.get("cause") == cause][0]
        check(e.get("cause_vaddr") == "0x%x" % va,
              "%r: cause_vaddr %s, expected 0x%x" % (cmd, e.get("cause_vaddr"), va))
        et = e.get("event_time_ns") or 0
        check(before <= et <= e.get("timestamp_ns", 0),
              "%r: event_time_ns %d not between the step (%d) and the publication (%s)" %
              (cmd, et, before, e.get("timestamp_ns")))
        check(e.get("cause_tid") == t.pid, "%r: cause_tid %s" % (cmd, e.get("cause_tid")))
    n = len(deltas(w))
    t.step("munmap 0x%x 8" % a)
    w.wait_for(lambda w_: len(deltas(w_)) > n, T_STEP, "the munmap delta")
    check(deltas(w)[n].get("cause") == "munmap", "munmap delta: %s" % deltas(w)[n].get("cause"))
    w.stop()


def test_zap_then_refault_is_seen():
    """MADV_DONTNEED and a refault of the same pages, read back together,
    still show the zap: often the very frames come back, and one read of
    the result alone would show no change at all."""
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 16")
    t.step("touch-write 0x%x 16" % a)
    w = d.watcher(t.pid, "--range", "0x%x:0x%x" % (a, a + 16 * PAGE))
    events_or_skip(w)
    for i in range(5):
        n = len(deltas(w))
        # Both commands at once: the target runs them back to back.
        t.send("madvise-dontneed 0x%x 16" % a)
        t.send("touch-write 0x%x 16" % a)
        t.proc.stdin.flush()
        t.read_line()
        t.read_line()
        w.wait_for(lambda w_: all(mapped(w_, a + k * PAGE) for k in range(16)) and
                   any(p.get("cause") == "madvise" or e.get("cause") == "madvise"
                       for e in deltas(w_)[n:] for p in e.get("pages", [])),
                   T_STEP, "round %d: the zap and the refault" % i)
    w.stop()


def test_fault_burst_loses_no_page():
    d = Daemon()
    t = Target()
    n = 20000
    a, _ = t.step("mmap-anon %d" % n)
    rng = (a, a + n * PAGE)
    w = d.watcher(t.pid, "--range", "0x%x:0x%x" % rng)
    events_or_skip(w)
    for cmd in ("touch-write 0x%x %d" % (a, n), "madvise-dontneed 0x%x %d" % (a, n // 2),
                "touch-read 0x%x %d" % (a, n)):
        t.step(cmd)
        t.stop()
        try:
            # The truth once (the target is stopped), then a cheap wait: the
            # watcher's reader thread must not starve behind the predicate.
            truth = read_truth(t.pid, rng)
            want = {va: (fl, pfn) for va, (fl, pfn) in truth.pages.items()}
            try:
                w.wait_for(lambda w_: {va: v[:2] for va, v in w_.table.pages.items()} == want,
                           T_STEP, "the viewer to have every page after %r" % cmd)
            finally:
                with w.cond:
                    diff = diff_tables(w.table.vmas, w.table.pages, truth, "raw", rng)
            check(not diff, "after %r:\n  %s" % (cmd, "\n  ".join(diff[:20])))
        finally:
            t.cont()
    s = [x for x in raw_status(d).get("session", []) if x.get("pid") == t.pid][0]
    log("burst: %d events, %d lost (a lost record means a full re-read)" %
        (s.get("events", 0), s.get("events_lost", 0)))
    check(s.get("events", 0) > 0, "the session counted no events")
    w.stop()


def test_threads_come_and_go():
    d = Daemon()
    t = Target()
    w = d.watcher(t.pid)
    events_or_skip(w)
    tids = set()
    a, _ = t.step("mmap-anon 64")
    for i in range(16):
        va = a + 4 * i * PAGE
        r = t.step("thread-touch 0x%x 4" % va)
        tid = int(r[2])
        tids.add(tid)
        w.wait_for(lambda w_: all(mapped(w_, va + k * PAGE) for k in range(4)), T_STEP,
                   "pages written by short-lived thread %d (round %d)" % (tid, i))
        # From the thread's own faults, not the reconcile pass's catching up.
        # (A lost sample means a full re-read: resync is an honest answer too.)
        c = causes_of(w, va)
        check(c & {"write-fault", "resync"} and not c & {"reconcile", "fork", "poll"},
              "round %d: thread %d's page came with %s" % (i, tid, c))
    check(len(tids) == 16, "the target reused thread ids: %s" % sorted(tids))
    t.stop()
    try:
        converge(w, t.pid, None, "the watch to match /proc after the threads")
    finally:
        t.cont()
    w.stop()


def test_faults_far_from_the_window_wake_nobody():
    """Faults are sampled only near the window (filtered in the kernel to it
    rounded out to 2 MiB): 512 faults 4 MiB away count no event, and one
    inside is still seen as the fault it was."""
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 16")
    far, _ = t.step("mmap-anon 2048")  # 8 MiB, next to the window or not
    rng = (a, a + 16 * PAGE)
    w = d.watcher(t.pid, "--range", "0x%x:0x%x" % rng)
    events_or_skip(w)

    def events():
        return session_status(d, t.pid).get("events", 0)
    away = far if far < a else far + 1024 * PAGE  # at least 4 MiB from the window
    check(min(abs(away - a), abs(away + 512 * PAGE - a)) >= 4 << 20, "layout: 0x%x 0x%x" % (a, far))
    e0 = events()
    t.step("touch-write 0x%x 512" % away)
    time.sleep(0.5)
    e1 = events()
    check(e1 - e0 < 16, "512 faults 4 MiB from the window made %d events" % (e1 - e0))
    t.step("touch-write 0x%x 1" % (a + 3 * PAGE))
    w.wait_for(lambda w_: mapped(w_, a + 3 * PAGE), T_STEP, "the fault inside the window")
    check("write-fault" in causes_of(w, a + 3 * PAGE),
          "the page inside came with %s" % causes_of(w, a + 3 * PAGE))
    check(events() > e1, "the fault inside counted no event")
    w.stop()


def test_a_fault_that_waits_is_seen_as_it_ends():
    """A fault that waits (here on userfaultfd, as on I/O) is seen when it
    ends, as the fault it was, although a finished fault next to it came
    in the same batch: its own page decides, not its window's. Before, it
    waited for the reconcile pass."""
    d = Daemon()
    t = Target()
    w = d.watcher(t.pid)
    events_or_skip(w)
    r = t.step_maybe("fault-late 1200")
    if r is None and "fault-late userfaultfd:" in t.last_err:
        raise Skip("no userfaultfd here: %s" % t.last_err)
    check(r, "fault-late: %s" % t.last_err)
    a = r[0]
    w.wait_for(lambda w_: mapped(w_, a) and mapped(w_, a + PAGE), T_STEP,
               "both pages of fault-late")
    for va, what in ((a, "the page written at once"), (a + PAGE, "the page filled late")):
        c = causes_of(w, va)
        check("write-fault" in c and not c & {"reconcile", "poll"},
              "%s came with %s" % (what, sorted(c)))
    w.stop()


def test_fault_around_from_a_vma_start_inside_a_block():
    """A read fault at the start of a file VMA that does not begin on a
    64 KiB boundary: fault-around maps 16 pages from the VMA's start, into
    the next aligned block. The watch reads back what it mapped, as the
    read fault it was, not at the next reconcile pass."""
    d = Daemon()
    t = Target()
    w = d.watcher(t.pid)
    events_or_skip(w)
    for _ in range(4):
        # 2 x 33 pages per step: the next private mapping starts 2 pages lower.
        priv, priv_end = t.step("mmap-file 33")[:2]
        if priv % 0x10000:
            break
    check(priv % 0x10000, "four file mappings in a row started on 64 KiB boundaries")
    t.stop()
    try:
        truth = [va for va in read_truth(t.pid, (priv, priv_end)).pages]
        beyond = [va for va in truth if va >= (priv & ~0xffff) + 0x10000]
        if not beyond:
            raise Skip("fault-around mapped nothing past the first block "
                       "(fault_around_bytes below 64 KiB?)")
        w.wait_for(lambda w_: all(mapped(w_, va) for va in truth), T_STEP,
                   "the %d pages the read fault mapped" % len(truth))
        for va in truth:
            c = causes_of(w, va)
            check(c and not c & {"reconcile", "poll", "resync"},
                  "page 0x%x (VMA at 0x%x) came with %s" % (va, priv, sorted(c)))
    finally:
        t.cont()
    w.stop()


def test_idle_target_costs_no_reads():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 2048")
    t.step("touch-write 0x%x 2048" % a)
    w = d.watcher(t.pid)
    events_or_skip(w)

    def reads():
        s = [x for x in raw_status(d).get("session", []) if x.get("pid") == t.pid][0]
        return s.get("samples", 0), s.get("reconciles", 0)
    time.sleep(1.5)  # the first reconcile comes after a second at the earliest
    r0, c0 = reads()
    time.sleep(3)
    r1, c1 = reads()
    # Only the budgeted reconcile pass reads an idle target: at most once a second.
    check(r1 - r0 <= c1 - c0 and c1 - c0 <= 4,
          "an idle target was read %d times in 3 s (%d reconciles)" % (r1 - r0, c1 - c0))
    w.stop()


if __name__ == "__main__":
    main([test_causes_and_event_times, test_zap_then_refault_is_seen, test_fault_burst_loses_no_page,
          test_threads_come_and_go, test_faults_far_from_the_window_wake_nobody,
          test_a_fault_that_waits_is_seen_as_it_ends,
          test_fault_around_from_a_vma_start_inside_a_block, test_idle_target_costs_no_reads])
