#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""50 concurrent `shadowctl watch` viewers of one target share one session
and all reconstruct the same table, equal to the /proc ground truth, after
every step; a shared session samples as fast as its most demanding viewer
asks, and slows down again when that viewer leaves; viewers joining at the
same seq share one encoded snapshot per protocol and pfn visibility."""

from harness import (Daemon, RawTable, Target, check, diff_tables, log, main, read_truth,
                     raw_status, wait_until, frame_type, short, PAGE, T_STEP, session_status)

VIEWERS = 50


def test_fifty_viewers_same_table():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 64")
    rng = (a, a + 64 * PAGE)
    arg = "0x%x:0x%x" % rng
    ws = [d.watcher(t.pid, "--range", arg) for _ in range(VIEWERS)]
    for w in ws:
        w.wait_for(lambda w_: w_.table.snapshots >= 1, 4 * T_STEP, "the first snapshot")
    st = raw_status(d)
    sess = [s for s in st.get("session", []) if s.get("pid") == t.pid]
    check(len(sess) == 1, "expected one shared session, status shows %s" % sess)
    check(sess[0].get("viewers") == VIEWERS, "session has %s viewers, expected %d" %
          (sess[0].get("viewers"), VIEWERS))
    script = ["touch-write 0x%x 16" % a,
              "touch-read 0x%x 16" % (a + 16 * PAGE),
              "madvise-dontneed 0x%x 8" % (a + 4 * PAGE),
              "munmap-partial 0x%x 64" % a,
              "touch-write 0x%x 8" % (a + 48 * PAGE)]
    for cmd in script:
        t.step(cmd)
        t.stop()
        try:
            for i, w in enumerate(ws):
                last = {}

                def equal(w_):
                    last["d"] = diff_tables(w_.table.vmas, w_.table.pages,
                                            read_truth(t.pid, rng), "raw", rng)
                    return not last["d"]
                try:
                    w.wait_for(equal, 2 * T_STEP, "viewer %d to match /proc" % i)
                except AssertionError as e:
                    raise AssertionError("step %r viewer %d: %s\n  %s" %
                                         (cmd, i, e, "\n  ".join(last["d"][:20])))
            first = (ws[0].table.vmas, ws[0].table.pages, ws[0].table.seq)
            for i, w in enumerate(ws[1:], 1):
                with w.cond:
                    check((w.table.vmas, w.table.pages) == first[:2],
                          "viewer %d table differs from viewer 0 after %r" % (i, cmd))
        finally:
            t.cont()
    for w in ws:
        w.stop()
    d.check_alive()


def session_interval(d, pid):
    return session_status(d, pid).get("interval_ms")


def raw_viewer(d, pid, rng, min_ms, max_ms, who):
    """A raw connection watching pid's rng with the given sampling bounds."""
    c = d.connect()
    c.hello()
    c.watch(pid, rng, min_interval_ms=min_ms, max_interval_ms=max_ms)
    fr, _ = c.recv_until(lambda f: frame_type(f) in ("watch_started", "error"),
                         what="watch_started")
    check(frame_type(fr) == "watch_started", "%s viewer: %s" % (who, short(fr)))
    return c


def test_shared_session_takes_the_tightest_bounds():
    # Sampling bounds are the fallback poller's: run the daemon on it.
    d = Daemon(extra_args=["--no-events"])
    t = Target()
    a, _ = t.step("mmap-anon 16")
    rng = (a, a + 16 * PAGE)
    slow = raw_viewer(d, t.pid, rng, 8000, 8000, "slow")
    check(session_interval(d, t.pid) == 8000, "one viewer asking 8000:8000 ms")
    # The opening sample's quick follow-up is done: the next one is 8 s out.
    wait_until(lambda: session_status(d, t.pid).get("samples", 0) >= 2, T_STEP,
               "the session's second sample")

    fast = raw_viewer(d, t.pid, rng, 20, 40, "fast")
    iv = session_interval(d, t.pid)
    check(20 <= iv <= 40, "with a 20:40 ms viewer the session samples every %s ms" % iv)
    # Not just the figure: the next sample comes soon, not after the slow
    # viewer's 8 s (half of that is a wide margin on a loaded machine).
    fast.recv_until(lambda f: frame_type(f) == "snapshot" and f["snapshot"].get("last_chunk"),
                    what="the fast viewer's snapshot")
    t.step("touch-write 0x%x 4" % a)
    fast.recv_until(lambda f: frame_type(f) == "delta", timeout=4.0,
                    what="a delta within 4 s of the change (the slow bound is 8 s)")

    fast.close()
    wait_until(lambda: session_interval(d, t.pid) == 8000, T_STEP,
               "the session to slow down to 8000 ms once the fast viewer left")
    slow.close()
    d.check_alive()


def join(d, pid, rng, version):
    c = d.connect()
    c.hello(version=version)
    c.watch(pid, rng)
    return c


def snapshot_of(c):
    tb = RawTable()
    while tb.snapshots == 0:
        fr = c.recv()
        check(fr is not None and frame_type(fr) != "error", "watch: %s" % short(fr))
        tb.apply_frame(fr)
    return tb


def test_snapshot_encoded_once_per_class():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 256")
    rng = (a, a + 256 * PAGE)
    t.step("touch-write 0x%x 200" % a)
    first = join(d, t.pid, rng, 2)  # opens the session
    snapshot_of(first)
    t.stop()
    try:
        before = raw_status(d).get("snapshots_encoded", 0)
        seq = session_status(d, t.pid).get("seq")
        # Joining together, at one seq: one snapshot per protocol (the
        # first viewer's protocol 2 one may be reused too).
        conns = [join(d, t.pid, rng, 2 if i % 2 else 1) for i in range(20)]
        views = [snapshot_of(c) for c in conns]
        n = raw_status(d).get("snapshots_encoded", 0) - before
        check(session_status(d, t.pid).get("seq") == seq, "the stopped target changed")
        log("20 viewers joining at seq %s: %d snapshot(s) encoded" % (seq, n))
        check(1 <= n <= 2, "20 viewers joining at seq %s (protocols 1 and 2): %d snapshots "
              "encoded, expected 1 or 2" % (seq, n))
        truth = read_truth(t.pid, rng)
        for i, v in enumerate(views):
            diffs = diff_tables(v.vmas, v.pages, truth, "raw", rng)
            check(not diffs, "viewer %d's snapshot: %s" % (i, diffs[:5]))
    finally:
        t.cont()
    # A change makes a new seq: the next viewer's snapshot is encoded anew.
    t.step("madvise-dontneed 0x%x 8" % a)
    first.recv_until(lambda f: frame_type(f) == "delta", what="the delta of the zap")
    before = raw_status(d).get("snapshots_encoded", 0)
    late = join(d, t.pid, rng, 2)
    v = snapshot_of(late)
    check(raw_status(d).get("snapshots_encoded", 0) - before == 1,
          "a viewer after the change was sent a stale snapshot")
    check(not diff_tables(v.vmas, v.pages, read_truth(t.pid, rng), "raw", rng),
          "the late viewer's snapshot is not the truth")
    for c in conns + [first, late]:
        c.close()
    d.check_alive()


if __name__ == "__main__":
    main([test_fifty_viewers_same_table, test_shared_session_takes_the_tightest_bounds,
          test_snapshot_encoded_once_per_class])
