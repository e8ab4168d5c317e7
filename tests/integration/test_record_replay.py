#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`shadowctl record` and `replay` against the real daemon: a recording of
the whole workload replays (--json) to exactly the lines a live `watch
--json` printed side by side; Ctrl-C and --duration end a file cleanly;
kill -9 and a full disk leave a file that replays up to its last complete
frame; the recorder's memory does not grow with the length of a
recording; it runs in the sandbox."""

import os
import signal
import subprocess
import time

from harness import (Daemon, Target, TestFailure, at_exit, check, client_argv, log, main,
                     run_client, tmpdir, wait_until, T_CLIENT, T_STEP, EXIT_OK)
import recording
import steps
from test_steps_watch import converging_observer

EXIT_RECORDING = 7


class Recorder:
    """`shadowctl record PID -o FILE ...` in the background."""

    def __init__(self, d, pid, path, *args, env=None):
        self.path = path
        self.argv = client_argv(d.socket, ["record", str(pid), "-o", path] + list(args))
        self.errpath = os.path.join(tmpdir(), "record.err")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, env=env,
                                     stdout=subprocess.DEVNULL, stderr=open(self.errpath, "wb"))
        at_exit(lambda: self.proc.poll() is None and self.proc.kill())

    def wait_snapshot(self):
        wait_until(lambda: recording.snapshot_complete(self.path), T_STEP,
                   "the recorder's snapshot in %s" % self.path)

    def wait(self, timeout=T_CLIENT):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("shadowctl record did not exit within %.0fs" % timeout)
        return rc

    def stderr(self):
        return open(self.errpath, "rb").read().decode("utf-8", "replace")


def replay(path, *args):
    return run_client("/nonexistent", ["replay", path, "--speed", "max"] + list(args))


def test_replay_matches_live_watch():
    """Recorder and live viewer join while the target is stopped (same
    snapshot), follow the whole workload, and end with its exit."""
    d = Daemon()
    t = Target()
    path = os.path.join(tmpdir(), "steps.rec")
    t.stop()
    w = d.watcher(t.pid)
    rec = Recorder(d, t.pid, path)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the live snapshot")
    rec.wait_snapshot()
    t.cont()

    steps.run_workload(t, converging_observer(t, w))
    t.send("exit 0")
    check(w.wait_exit() == EXIT_OK, "live watch status")
    check(rec.wait() == EXIT_OK, "record status; stderr %s" % rec.stderr())
    check("target exited" in rec.stderr(), "record summary: %s" % rec.stderr())
    check(recording.has_end(path), "no end record after the target exited")

    r = replay(path, "--json")
    check(r.rc == EXIT_OK, "replay: %r" % r)
    live = w.events
    got = r.events()
    check(len(got) == len(live), "replay printed %d events, the live watch %d" %
          (len(got), len(live)))
    for i, (a, b) in enumerate(zip(live, got)):
        # Two viewers, two arrivals: the replay shows the recorder's.
        a, b = dict(a, received_ns=None), dict(b, received_ns=None)
        check(a == b, "event %d differs:\n live   %s\n replay %s" % (i, str(a)[:600], str(b)[:600]))
    deltas = sum(1 for e in got if e["event"] == "delta")
    log("replay matched the live watch: %d events, %d deltas" % (len(got), deltas))
    check(deltas >= 20, "only %d deltas recorded for the whole workload" % deltas)

    # Text output: the same as a live --no-tui watch would print, per event.
    r = replay(path, "--no-tui")
    check(r.rc == EXIT_OK and r.out.count("\ndelta pid=") == deltas,
          "text replay: %d delta lines for %d deltas" % (r.out.count("\ndelta pid="), deltas))


def busy_target():
    """A target that keeps changing: the demo cycle."""
    return Target(argv_extra=["--demo"])


def test_interrupt_and_duration_end_cleanly():
    d = Daemon()
    t = busy_target()
    dirpath = tmpdir()
    path = os.path.join(dirpath, "int.rec")
    rec = Recorder(d, t.pid, path)
    rec.wait_snapshot()
    wait_until(lambda: len(recording.frames(path)) >= 3, T_STEP, "a few deltas recorded")
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait() == EXIT_OK, "record after Ctrl-C: %s" % rec.stderr())
    check(recording.has_end(path), "Ctrl-C: no end record")
    check("interrupted" in rec.stderr(), "summary: %s" % rec.stderr())
    r = replay(path, "--json")
    check(r.rc == EXIT_OK and any(e["event"] == "delta" for e in r.events()), "replay: %r" % r)

    path = os.path.join(dirpath, "dur.rec")
    t0 = time.monotonic()
    rec = Recorder(d, t.pid, path, "--duration", "1.5")
    check(rec.wait() == EXIT_OK, "record --duration: %s" % rec.stderr())
    took = time.monotonic() - t0
    check(took >= 1.5, "record --duration 1.5 ended after %.2fs" % took)
    check(recording.has_end(path) and "duration reached" in rec.stderr(),
          "--duration: %s" % rec.stderr())
    check(replay(path, "--no-tui").rc == EXIT_OK, "replay of the --duration recording")


def test_kill9_leaves_a_readable_file():
    d = Daemon()
    t = busy_target()
    path = os.path.join(tmpdir(), "killed.rec")
    rec = Recorder(d, t.pid, path)
    rec.wait_snapshot()
    wait_until(lambda: len(recording.frames(path)) >= 5, T_STEP, "deltas recorded")
    rec.proc.kill()
    rec.wait()
    n = len(recording.frames(path))
    r = replay(path, "--json")
    check(r.rc == EXIT_RECORDING, "replay of a killed recording: %r" % r)
    check("without an end record" in r.err or "cut short" in r.err, "message: %s" % r.err)
    evs = r.events()
    played = sum(1 for e in evs if e["event"] in ("snapshot", "delta"))
    check(played >= n - 1 and evs[-1]["event"] == "error" and evs[-1]["exit_code"] == 7,
          "%d frames in the file, %d events replayed, last %s" % (n, played, evs[-1]))


def settled_size(path, rec, quiet=0.2):
    """The file's size once it has not grown for quiet seconds."""
    size, since = os.path.getsize(path), time.monotonic()
    while time.monotonic() - since < quiet and rec.proc.poll() is None:
        time.sleep(0.02)
        now = os.path.getsize(path)
        if now != size:
            size, since = now, time.monotonic()
    return size


def test_full_disk():
    """A 64 KiB tmpfs fills up: record fails with ENOSPC and what it wrote
    replays up to the last complete frame."""
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 64")
    mnt = tmpdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", mnt], check=True)
    at_exit(lambda: subprocess.run(["umount", "-l", mnt]))
    path = os.path.join(mnt, "full.rec")
    rec = Recorder(d, t.pid, path, "--range", "0x%x:0x%x" % (a, a + 64 * 4096))
    rec.wait_snapshot()
    for i in range(400):
        if rec.proc.poll() is not None:
            break
        # The previous step may still be arriving (one step can be several
        # deltas): measure from a settled file, or its tail passes for this
        # step's delta.
        size = settled_size(path, rec)
        t.step(("touch-write 0x%x 64" if i % 2 == 0 else "madvise-dontneed 0x%x 64") % a)
        # each step's delta written (or the recorder gone) before the next
        wait_until(lambda: os.path.getsize(path) > size or rec.proc.poll() is not None,
                   T_STEP, "the step's delta in the recording")
    rc = rec.wait()
    check(rc == 1 and "No space left on device" in rec.stderr(),
          "record on a full disk: rc %s, %s" % (rc, rec.stderr()))
    written = int(rec.stderr().split("holds the ")[1].split()[0])
    r = replay(path, "--json")
    check(r.rc == EXIT_RECORDING, "replay of the cut file: %r" % r)
    played = sum(1 for e in r.events() if e["event"] in ("snapshot", "delta"))
    check(played == written, "record wrote %d frames, replay played %d" % (written, played))


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise TestFailure("no %s for pid %d" % (field, pid))


def test_memory_stays_bounded():
    d = Daemon()
    t = busy_target()
    path = os.path.join(tmpdir(), "long.rec")
    # In ASan builds freed memory waits in a quarantine: keep it small.
    env = dict(os.environ, ASAN_OPTIONS="quarantine_size_mb=1:detect_leaks=0")
    rec = Recorder(d, t.pid, path, env=env)
    rec.wait_snapshot()
    time.sleep(3)
    early = vm_kib(rec.proc.pid, "VmHWM")
    size_early = os.path.getsize(path)
    time.sleep(9)
    late = vm_kib(rec.proc.pid, "VmHWM")
    size_late = os.path.getsize(path)
    rec.proc.send_signal(signal.SIGINT)
    check(rec.wait() == EXIT_OK, "record: %s" % rec.stderr())
    log("recorder peak RSS %d KiB after 3 s, %d KiB after 12 s; file %d -> %d bytes" %
        (early, late, size_early, size_late))
    check(size_late > size_early, "nothing recorded in 9 s")
    check(late - early < 1024, "the recorder grew by %d KiB while the file grew by %d bytes" %
          (late - early, size_late - size_early))


def test_record_is_sandboxed():
    """The selftest makes a forbidden call after the sandbox is up: record
    dies of SIGSYS, and the file it opened before is there."""
    d = Daemon()
    t = Target()
    path = os.path.join(tmpdir(), "sandboxed.rec")
    env = dict(os.environ, SHADOWCTL_SANDBOX_SELFTEST="socket")
    p = subprocess.run(client_argv(d.socket, ["record", str(t.pid), "-o", path]),
                       env=env, capture_output=True, timeout=T_CLIENT)
    check(p.returncode == -signal.SIGSYS, "record with the selftest: rc %s, %s" %
          (p.returncode, p.stderr[-300:]))
    check(os.path.exists(path), "the output was not opened before the sandbox")


if __name__ == "__main__":
    main([test_replay_matches_live_watch, test_interrupt_and_duration_end_cleanly,
          test_kill9_leaves_a_readable_file, test_full_disk, test_memory_stays_bounded,
          test_record_is_sandboxed])
