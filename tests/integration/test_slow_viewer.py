#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A viewer that never reads (raw connection, Hello + Watch, tiny SO_RCVBUF)
does not delay the others: they keep receiving every step's changes. When it
starts reading it gets a snapshot marked resync and then deltas that apply on
top; one that never reads is disconnected (ERROR_SLOW_VIEWER) after the
deadline while the others carry on.

To overflow the per-viewer output budget (4 MiB) quickly, each step touches
or zaps a large region, so that one delta is several hundred KiB."""

import time

from harness import (Daemon, Target, RawTable, check, diff_tables, error_of, frame_type,
                     main, raw_status, read_truth, short, wait_until, log, PAGE, T_STEP,
                     TestFailure)

BIG = 32768  # pages per step: 128 MiB, a delta of ~600 KiB
# The budget and resync logic does not care where deltas come from; the
# steps' 32768 faults do: sampled one by one (the event-driven default)
# they take seconds on a loaded 2-core machine, and the 10 s deadline
# arithmetic below needs MB/s of deltas. So these daemons poll.
DAEMON_ARGS = ["--no-events"]


def mapped_count(table):
    return sum(1 for fl, _ in table.pages.values() if fl & 4)


class Churn:
    def __init__(self, d):
        self.d = d
        self.t = Target()
        self.a, _ = self.t.step("mmap-anon %d" % BIG)
        self.rng = (self.a, self.a + BIG * PAGE)
        self.arg = "0x%x:0x%x" % self.rng
        self.mapped = False
        self.steps = 0

    def step(self, viewers):
        """One big step; waits until every well-behaved viewer saw it."""
        if self.mapped:
            self.t.step("madvise-dontneed 0x%x %d" % (self.a, BIG))
        else:
            self.t.step("touch-write 0x%x %d" % (self.a, BIG))
        self.mapped = not self.mapped
        self.steps += 1
        want = BIG if self.mapped else 0
        for i, w in enumerate(viewers):
            w.wait_for(lambda w_: mapped_count(w_.table) == want, 2 * T_STEP,
                       "viewer %d to see step %d (%d mapped pages)" % (i, self.steps, want))


def stuck_viewer(d, churn, rcvbuf=4096):
    c = d.connect(rcvbuf=rcvbuf)
    c.hello()
    c.watch(churn.t.pid, churn.rng)
    return c


def counters(d):
    st = raw_status(d)
    return st.get("deltas_dropped", 0), st.get("viewers_disconnected", 0)


def try_overflow_and_resync(d, ch, trickle):
    """Connects a viewer that does not read (trickle=False) or reads 64 KiB
    per step (trickle=True: enough that the daemon's socket becomes
    writable again, at a quarter of its send buffer, well within the 10 s
    deadline however slow the steps are), drives big steps as fast as the target makes
    them until the daemon drops deltas for it, then reads until a resync
    snapshot. Returns (conn, table), or None if the daemon disconnected
    the viewer as stuck first (only possible without trickle, when this
    machine cannot produce 4 MiB of deltas within the 10 s deadline)."""
    dropped0, disc0 = counters(d)
    stuck = stuck_viewer(d, ch)
    for _ in range(200):
        ch.step([])
        if trickle:
            stuck.sock.settimeout(5)
            try:
                got = b""
                while len(got) < 65536:  # frames stay aligned in buf
                    chunk = stuck.sock.recv(65536 - len(got))
                    if not chunk:
                        break
                    got += chunk
                stuck.buf += got
            except OSError:
                pass
        dropped, disc = counters(d)
        if disc > disc0:
            stuck.close()
            return None
        if dropped > dropped0:
            break
    else:
        raise TestFailure("no delta was ever dropped for the over-budget viewer")
    table = RawTable()
    deadline = time.monotonic() + 2 * T_STEP
    while table.resyncs == 0:
        check(time.monotonic() < deadline, "no resync snapshot within %.0fs" % (2 * T_STEP))
        try:
            fr = stuck.recv(timeout=T_STEP)
        except TestFailure:
            # Cut off mid-frame: the daemon gave up on it as stuck meanwhile.
            if counters(d)[1] > disc0:
                stuck.close()
                return None
            raise
        if fr is None or (frame_type(fr) == "error" and
                          fr["error"].get("code") == "ERROR_SLOW_VIEWER" and not trickle):
            stuck.close()
            return None
        kind = frame_type(fr)
        check(kind != "error", "over-budget viewer got an error: %s" % short(fr))
        # What was queued before the drop is stale: start at the resync.
        if table.pending is None and not (kind == "snapshot" and fr["snapshot"].get("resync")):
            continue
        table.apply_frame(fr)
    return stuck, table


def test_stuck_viewer_gets_resync():
    d = Daemon(extra_args=DAEMON_ARGS)
    ch = Churn(d)
    good = [d.watcher(ch.t.pid, "--range", ch.arg) for _ in range(2)]
    for w in good:
        w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    before = [w.count("delta") for w in good]
    r = try_overflow_and_resync(d, ch, trickle=False)
    if r is None:
        log("slow machine: the never-reading viewer hit the 10 s stuck deadline before "
            "going over budget; redoing it with a viewer that reads a trickle")
        r = try_overflow_and_resync(d, ch, trickle=True)
    check(r is not None, "the trickle reader was disconnected as stuck")
    stuck, table = r
    check(raw_status(d).get("resyncs", 0) >= 1, "status does not count the resync")
    # The well-behaved viewers were never held back: they got deltas while
    # the stuck one was filling up, and follow the target right now.
    for i, w in enumerate(good):
        check(w.count("delta") > before[i], "viewer %d got no delta during the fill" % i)
    ch.step(good)
    ch.t.stop()
    try:
        last = {}

        def caught_up():
            while True:
                truth = read_truth(ch.t.pid, ch.rng)
                last["d"] = diff_tables(table.vmas, table.pages, truth, "raw", ch.rng)
                if not last["d"]:
                    return True
                fr = stuck.recv(timeout=T_STEP)
                check(fr is not None, "resynced viewer disconnected")
                table.apply_frame(fr)
        wait_until(caught_up, 2 * T_STEP, "the resynced viewer to match /proc")
    finally:
        ch.t.cont()
    stuck.close()
    for w in good:
        w.stop()
    d.check_alive()


def test_stuck_viewer_disconnected():
    d = Daemon(extra_args=DAEMON_ARGS)
    ch = Churn(d)
    good = [d.watcher(ch.t.pid, "--range", ch.arg)]
    good[0].wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    stuck = stuck_viewer(d, ch)
    ch.step(good)
    ch.step(good)
    # Keep the target changing (others keep being served) until the daemon
    # gives up on the stuck viewer (deadline 10 s of no progress).
    deadline = time.monotonic() + 6 * T_STEP
    while raw_status(d).get("viewers_disconnected", 0) == 0:
        check(time.monotonic() < deadline, "stuck viewer never disconnected")
        ch.step(good)
    # Drain what the kernel still held for it: then the connection is closed.
    data = b""
    stuck.sock.settimeout(T_STEP)
    while True:
        chunk = stuck.sock.recv(1 << 20)
        if not chunk:
            break
        data += chunk
    # If the daemon managed to queue the error, it is the last whole frame.
    codes = []
    pos = 0
    while pos + 4 <= len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        if pos + 4 + n > len(data):
            break
        from harness import proto
        fr = proto().decode("Frame", data[pos + 4:pos + 4 + n])
        if frame_type(fr) == "error":
            codes.append(error_of(fr)[0])
        pos += 4 + n
    check(not codes or codes[-1] == "ERROR_SLOW_VIEWER",
          "stuck viewer got error %s, expected ERROR_SLOW_VIEWER" % codes)
    if not codes:
        # No room left in its socket for the Error frame; the daemon log
        # must still say why it dropped the viewer.
        check("slow" in d.log().lower() or "stuck" in d.log().lower(),
              "no SLOW_VIEWER error and nothing in the daemon log:\n%s" % d.log())
    # Others carry on.
    ch.step(good)
    good[0].stop()
    d.check_alive()


if __name__ == "__main__":
    main([test_stuck_viewer_gets_resync, test_stuck_viewer_disconnected])
