#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A target that holds its own mmap_lock for as long as it likes stalls
only its own session: its viewers are told (a watch_status event, state
"stalled"), while a healthy target next to it keeps being served on time,
new watches open, and the daemon answers status. When the stuck target
lets go, its session recovers ("live") and follows it again.

The stuck target (tests/workloads/stall-target) holds the lock the way a
real one does: one thread reads its own FUSE-backed mapping through
/proc/self/mem (the page-in waits, lock held, for a FUSE read that is
never answered) while another calls mmap, whose queued write lock then
blocks every reader of that mm, pagemap included."""

import os
import subprocess
import time

import harness
from harness import (Daemon, Target, Skip, check, main, raw_status, PAGE, T_STEP, at_exit,
                     _kill_proc)

# Generous for a loaded 2-core machine; the stall itself is reported
# after SPT_STALL_TIMEOUT_MS (1 s) plus the reconcile period (1 s).
T_STALL = 20.0
T_DELTA = 5.0


class StallTarget:
    def __init__(self):
        if not os.path.exists("/dev/fuse"):
            raise Skip("no /dev/fuse: the stuck target holds its lock through FUSE")
        exe = os.path.join(os.path.dirname(harness.CFG.target), "stall-target")
        self.p = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        at_exit(lambda: _kill_proc(self.p))
        f = self.p.stdout.readline().split()
        check(f and f[0] == "ready", "stall-target did not start: %r" % f)
        self.pid = int(f[1])

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        r = self.p.stdout.readline().split()
        check(r and r[0] == "ok", "stall-target %s: %r" % (line, r))
        return r


def statuses(w):
    return [e for e in w.events if e.get("event") == "watch_status"]


def stalls_only_itself(d):
    healthy = Target()
    stuck = StallTarget()
    hw = d.watcher(healthy.pid)
    sw = d.watcher(stuck.pid)
    for w in (hw, sw):
        w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")

    stuck.cmd("stall")
    sw.wait_for(lambda w_: any(s["state"] == "stalled" for s in statuses(w_)), T_STALL,
                "the stuck target's viewer to hear it stalled")
    st = [s for s in statuses(sw) if s["state"] == "stalled"][-1]
    check(str(stuck.pid) in st["message"], "stall message names the pid: %r" % st["message"])
    sessions = {s["pid"]: s for s in raw_status(d).get("session", [])}
    check(sessions.get(stuck.pid, {}).get("state") == "WATCH_STATE_STALLED",
          "status shows the stalled session: %r" % sessions.get(stuck.pid))

    # Everybody else is served as if nothing happened.
    a, _ = healthy.step("mmap-anon 64")
    for i in range(8):
        t0 = time.monotonic()
        healthy.step("touch-write 0x%x 1" % (a + i * PAGE))
        hw.wait_for(lambda w_, v=a + i * PAGE: (w_.table.pages.get(v, (0,))[0] & 4), T_DELTA,
                    "the healthy viewer to see page %d within %.0f s" % (i, T_DELTA))
        check(time.monotonic() - t0 < T_DELTA, "healthy delta %d late" % i)
    late = d.watcher(healthy.pid, "--range", "0x%x:0x%x" % (a, a + 64 * PAGE))
    late.wait_for(lambda w_: w_.table.snapshots >= 1, T_DELTA,
                  "a new watch of the healthy target while the other one is stuck")
    check(not any(s["state"] == "stalled" for s in statuses(hw)),
          "the healthy viewer was told of a stall")
    late.stop()

    stuck.cmd("release")
    sw.wait_for(lambda w_: statuses(w_) and statuses(w_)[-1]["state"] == "live", T_STALL,
                "the stuck target's session to recover")
    r = stuck.cmd("touch 4")
    start = int(r[2], 16)
    sw.wait_for(lambda w_: all(w_.table.pages.get(start + k * PAGE, (0,))[0] & 4
                               for k in range(4)), T_STEP,
                "the recovered session to follow the target again")
    stuck.p.stdin.write("exit\n")
    stuck.p.stdin.flush()
    check(stuck.p.wait(timeout=T_STEP) == 0, "stall-target did not exit cleanly")
    hw.stop()
    d.check_alive()


def test_stuck_target_stalls_only_itself():
    stalls_only_itself(Daemon())


def test_stuck_target_polling():
    """The fallback poller stalls on the stuck target just the same, alone."""
    stalls_only_itself(Daemon(extra_args=["--no-events"]))


if __name__ == "__main__":
    main([test_stuck_target_stalls_only_itself, test_stuck_target_polling])
