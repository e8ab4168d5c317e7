#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""One `shadowctl watch PID --json` follows the whole workload: after each
step (target stopped) the table rebuilt from its snapshot + deltas converges
to the /proc ground truth; exec shows as a delta flagged exec; the target's
exit gives an exit event and a clean end (status 0)."""

from harness import (Daemon, Target, check, diff_tables, log, main, read_truth, T_STEP,
                     EXIT_OK)
import steps


def converge(w, pid, label, rng=None):
    last = {}

    def equal(w_):
        d = diff_tables(w_.table.vmas, w_.table.pages, read_truth(pid, rng), "raw", rng)
        last["d"] = d
        return not d
    try:
        w.wait_for(equal, T_STEP, "the watch table to match /proc")
    except AssertionError as e:
        raise AssertionError("after step %r: %s\n  %s" % (label, e, "\n  ".join(last.get("d", [])[:30])))


def converging_observer(t, w):
    """An observe() for steps.run_workload: stop the target, wait until the
    watch matches /proc, continue."""
    def observe(pid, label):
        t.stop()
        try:
            converge(w, pid, label)
        finally:
            t.cont()
    return observe


def run_steps(d, want_mode):
    t = Target()
    w = d.watcher(t.pid)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    started = [e for e in w.events if e.get("event") == "started"]
    check(started and started[0].get("pfn_visibility") == "raw",
          "root watcher: started event %s" % started[:1])
    mode, why = started[0].get("mode"), started[0].get("mode_reason")
    log("session mode %s (%s)" % (mode, why))
    # Events where this host allows them (perf, tracefs); a reason if not.
    check(mode == want_mode or (want_mode == "events" and mode == "polling" and why),
          "mode %r (%r), expected %s" % (mode, why, want_mode))

    steps.run_workload(t, converging_observer(t, w))
    with w.cond:
        execs = [e for e in w.events if e.get("event") == "delta" and e.get("exec")]
        resyncs = w.table.resyncs
    check(execs, "no delta flagged exec after the target exec'd")
    check(resyncs == 0, "a lone fast viewer got %d resyncs" % resyncs)
    t.send("exit 7")
    rc = w.wait_exit()
    check(t.proc.wait(timeout=60) == 7, "target exit status")
    check(rc == EXIT_OK, "watch exited %s after the target exited (stderr %s)" %
          (rc, w.stderr[-300:]))
    check(w.table.exited, "no exit event before the watch ended")
    last = w.events[-1]
    check(last.get("event") == "exit" and last.get("pid") == t.pid,
          "last event is %s, expected exit" % last)


def test_steps_watch():
    """The default: driven by the target's own events."""
    run_steps(Daemon(), "events")


def test_steps_watch_polling():
    """The fallback poller (where perf or tracefs are unavailable) does as well."""
    run_steps(Daemon(extra_args=["--no-events"]), "polling")


def test_watch_range():
    """A watched range straddling VMA boundaries: deltas stay inside it."""
    d = Daemon()
    t = Target()
    a, e = t.step("mmap-anon 64")
    rng = (a + 16 * 4096, a + 48 * 4096)
    w = d.watcher(t.pid, "--range", "0x%x:0x%x" % rng)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    for cmd, label in (("touch-write 0x%x 64" % a, "write all"),
                       ("madvise-dontneed 0x%x 20" % (a + 10 * 4096), "zap across start"),
                       ("munmap-partial 0x%x 64" % a, "split inside range"),
                       ("munmap 0x%x 64" % a, "unmap all")):
        t.step(cmd)
        t.stop()
        try:
            converge(w, t.pid, label, rng)
            with w.cond:
                for va in w.table.pages:
                    check(rng[0] <= va < rng[1], "page 0x%x outside the watched range" % va)
        finally:
            t.cont()
    w.stop()


if __name__ == "__main__":
    main([test_steps_watch, test_steps_watch_polling, test_watch_range])
