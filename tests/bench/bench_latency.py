#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench-latency: how soon a page-state change reaches a viewer, next to a
10 ms pagemap poller measured in the same run; and what the daemon costs.

    meson compile -C build && python3 tests/bench/bench_latency.py build [MODE...]

Modes (default: all three):

  latency  A target maps an anonymous region and, TRIALS times (default
           200), sleeps a random 50..1200 ms, reads CLOCK_MONOTONIC and
           writes one fresh page. The viewer, `shadowctl watch PID --range
           ... --json` of a private shadowptd, stamps the JSON line that
           shows the page mapped itself (its `received_ns`: when it read
           the delta off the socket); a naive poller (another
           process reading /proc/PID/pagemap for the range every 10 ms,
           pagemon's default refresh) is stamped when it first sees the
           page present. Prints p50/p90/p99/max of both, and the daemon's
           CPU share over the run. Alongside, wake-relay passes a stamp
           through the same three wakeups a change takes (a process's
           write wakes a thread, which wakes another thread of its process,
           which wakes a viewer process over a Unix socket) with no work,
           after the same random gaps: the floor this machine puts under
           any such pipeline.
  idle     A target maps 4 GiB and touches every page (1M pages), then
           does nothing. One viewer watches it; prints the daemon's CPU
           share over 10 s after the snapshot (the poller's too).
  burst    A target faults 100k pages as fast as it can. Prints the delay
           from the first write until the viewer shows all of them, and the
           daemon's CPU time for it.
  outside  The same burst, unwatched and then with a 64 KiB window watched
           64 MiB away from it: what watching costs a target whose faults
           are elsewhere (its own time for the burst, the daemon's CPU).

--hops (latency mode) also traces each trial with tracefs and prints the
median and p90 of each hop (tests/bench/hops.py): fault, reader thread,
loop thread, viewer.

--no-events runs the daemon with --no-events (the clocked fallback poller),
to compare. Figures only: no pass/fail. Needs root (pagemap pfns, perf).
"""

import argparse
import json
import os
import random
import selectors
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import hops  # noqa: E402
from harness import proc_cpu_s  # noqa: E402
PAGE = 4096
TARGET_SRC = r'''
import mmap, os, random, sys, time
mode, n, trials, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = mmap.mmap(-1, n * 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
import ctypes
base = ctypes.addressof(ctypes.c_char.from_buffer(m))
out = sys.stdout
out.write("ready %d 0x%x\n" % (os.getpid(), base)); out.flush()
sys.stdin.readline()  # go
rnd = random.Random(seed)
if mode == "latency":
    # The times go out at the end: a line per write would wake the
    # benchmark at the very moment it measures others.
    times = []
    for i in range(trials):
        time.sleep(rnd.uniform(0.05, 1.2))
        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        m[i * 4096] = 1
        times.append(t)
    time.sleep(1.5)  # the last write is watched like the others before the mm goes
    for i, t in enumerate(times):
        out.write("wrote %d %d\n" % (i, t))
    out.flush()
elif mode == "idle":
    for i in range(n):
        m[i * 4096] = 1
    out.write("touched\n"); out.flush()
    sys.stdin.readline()
elif mode == "burst":
    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    for i in range(n):
        m[i * 4096] = 1
    t2 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    out.write("burst %d %d\n" % (t, t2)); out.flush()
    sys.stdin.readline()
out.write("done\n"); out.flush()
'''

POLLER_SRC = r'''
import os, struct, sys, time
pid, base, n, period = int(sys.argv[1]), int(sys.argv[2], 16), int(sys.argv[3]), float(sys.argv[4])
report = sys.argv[5] == "report"  # else only poll (the idle mode: nobody reads)
fd = os.open("/proc/%d/pagemap" % pid, os.O_RDONLY)
seen = bytearray(n)
out = sys.stdout
out.write("polling\n"); out.flush()
while True:
    data = b""
    try:
        while len(data) < n * 8:
            chunk = os.pread(fd, n * 8 - len(data), (base // 4096) * 8 + len(data))
            if not chunk:
                break
            data += chunk
    except OSError:
        break
    if len(data) < n * 8:
        break
    if not report:
        time.sleep(period)
        continue
    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    for i, (e,) in enumerate(struct.iter_unpack("<Q", data)):
        if e >> 63 and not seen[i]:
            seen[i] = 1
            out.write("seen %d %d\n" % (i, t))
    out.flush()
    time.sleep(period)
'''


def now_ns():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def fmt_us(ns):
    return "%.0f us" % (ns / 1000.0) if ns < 10_000_000 else "%.1f ms" % (ns / 1e6)


class Bench:
    def __init__(self, build, no_events):
        self.build = build
        self.dir = tempfile.mkdtemp(prefix="spt-bench-")
        self.sock = os.path.join(self.dir, "sock")
        args = [os.path.join(build, "daemon/shadowptd"), "--socket", self.sock, "--keep-root"]
        if no_events:
            args.append("--no-events")
        self.log = open(os.path.join(self.dir, "daemon.log"), "w")
        self.daemon = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(self.sock):
                break
            time.sleep(0.05)
        self.client = os.path.join(build, "client/shadowctl")

    def target(self, mode, n, trials=0, seed=1):
        p = subprocess.Popen([sys.executable, "-c", TARGET_SRC, mode, str(n), str(trials),
                              str(seed)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, bufsize=1)
        _, pid, base = p.stdout.readline().split()
        return p, int(pid), int(base, 16)

    def viewer(self, pid, base, n):
        """shadowctl watch --json: it stamps each delta itself (received_ns),
        as the poller stamps what it sees, so no pipe to this harness sits
        inside the figure."""
        return subprocess.Popen([self.client, "--socket", self.sock, "watch", str(pid),
                                 "--range", "0x%x:0x%x" % (base, base + n * PAGE), "--json"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                bufsize=1)

    def poller(self, pid, base, n, period=0.01, report=True):
        p = subprocess.Popen([sys.executable, "-c", POLLER_SRC, str(pid), "0x%x" % base, str(n),
                              str(period), "report" if report else "quiet"],
                             stdout=subprocess.PIPE, text=True, bufsize=1)
        p.stdout.readline()
        return p

    def close(self):
        self.daemon.terminate()
        self.daemon.wait()
        self.log.close()


def stamped(line):
    """(received_ns, event) of a viewer's JSON line (received_ns 0 but in deltas)."""
    ev = json.loads(line)
    return ev.get("received_ns") or 0, ev


def stop_viewer(v):
    v.kill()
    v.wait()


def wait_snapshot(view):
    while True:
        _, ev = stamped(view.stdout.readline())
        if ev.get("event") == "snapshot":
            return


def mapped_pages(ev, base, n):
    """Indexes of pages a JSON snapshot/delta line shows mapped."""
    out = []
    for e in ev.get("pages", []):
        if "mapped" not in e.get("flags", []):
            continue
        v = int(e["vaddr"], 16)
        for k in range(e.get("count", 1)):
            i = (v - base) // PAGE + k
            if 0 <= i < n:
                out.append(i)
    return out


def run_latency(b, trials, trace_hops=False):
    n = trials + 1
    t, pid, base = b.target("latency", n, trials, seed=42)
    view = b.viewer(pid, base, n)
    wait_snapshot(view)  # before the first trial
    poll = b.poller(pid, base, n)
    relay = subprocess.Popen([os.path.join(b.build, "tests/bench/wake-relay"), str(trials), "7"],
                             stdout=subprocess.PIPE, text=True)
    trace = hops.HopTrace(pid, base, base + n * PAGE, b.daemon.pid, view.pid) if trace_hops else None
    if trace:
        trace.start()
    sel = selectors.DefaultSelector()
    sel.register(t.stdout, selectors.EVENT_READ, "target")
    sel.register(view.stdout, selectors.EVENT_READ, "viewer")
    sel.register(poll.stdout, selectors.EVENT_READ, "poller")
    wrote, seen_v, seen_p, pub = {}, {}, {}, {}
    c0, w0 = proc_cpu_s(b.daemon.pid), time.monotonic()
    t.stdin.write("go\n")
    t.stdin.flush()
    done = False
    while not done or len(seen_v) < len(wrote) or len(seen_p) < len(wrote):
        evs = sel.select(timeout=5)
        if not evs:
            break
        for key, _ in evs:
            line = key.fileobj.readline()
            if not line:
                sel.unregister(key.fileobj)
                continue
            if key.data == "target":
                f = line.split()
                if f[0] == "wrote":
                    wrote[int(f[1])] = int(f[2])
                elif f[0] == "done":
                    done = True
            elif key.data == "viewer":
                stamp, ev = stamped(line)
                for i in mapped_pages(ev, base, n):
                    if i not in seen_v:
                        seen_v[i] = stamp
                        pub[i] = ev.get("timestamp_ns", 0)
            else:
                f = line.split()
                seen_p.setdefault(int(f[1]), int(f[2]))
    wall = time.monotonic() - w0
    cpu = proc_cpu_s(b.daemon.pid) - c0
    if trace:
        trace.stop()
    stop_viewer(view)
    for p in (poll, t):
        p.kill()
        p.wait()
    relay_out, _ = relay.communicate()
    lr = [int(f[1]) for f in (line.split() for line in relay_out.splitlines()) if f[0] == "relay"]
    lv = [seen_v[i] - wrote[i] for i in wrote if i in seen_v]
    lp = [seen_p[i] - wrote[i] for i in wrote if i in seen_p]
    print("bench: latency: %d trials, random idle gaps 50..1200 ms" % len(wrote))
    for name, lat in (("shadowpt", lv), ("pagemap poller 10 ms", lp),
                      ("3-wakeup relay (floor)", lr)):
        print("bench:   %-22s p50 %s  p90 %s  p99 %s  max %s  (%d/%d seen)" %
              (name, fmt_us(pct(lat, 50)), fmt_us(pct(lat, 90)), fmt_us(pct(lat, 99)),
               fmt_us(max(lat) if lat else float("nan")), len(lat), len(wrote)))
    lpub = [pub[i] - wrote[i] for i in wrote if pub.get(i)]
    lout = [seen_v[i] - pub[i] for i in wrote if pub.get(i) and i in seen_v]
    if lpub and lout:
        print("bench:   (write -> daemon publishes p50 %s, publish -> viewer's line p50 %s)" %
              (fmt_us(pct(lpub, 50)), fmt_us(pct(lout, 50))))
    if lv and lp:
        print("bench:   p50 ratio poller/shadowpt: %.1fx" % (pct(lp, 50) / max(pct(lv, 50), 1)))
    print("bench:   shadowptd CPU: %.2f%% of a core over %.0f s" % (100 * cpu / wall, wall))
    if trace:
        trace.report(pct, fmt_us, wrote)


def run_idle(b, npages=1 << 20, seconds=10):
    t, pid, base = b.target("idle", npages)
    t.stdin.write("go\n")
    t.stdin.flush()
    t.stdout.readline()  # touched
    view = b.viewer(pid, base, npages)
    t0 = time.monotonic()
    wait_snapshot(view)
    snap = time.monotonic() - t0
    c0, w0 = proc_cpu_s(b.daemon.pid), time.monotonic()
    time.sleep(seconds)
    cpu = proc_cpu_s(b.daemon.pid) - c0
    wall = time.monotonic() - w0
    stop_viewer(view)
    poll = b.poller(pid, base, npages, report=False)
    p0 = time.monotonic()
    pt0 = proc_cpu_s(poll.pid)
    time.sleep(seconds)
    pcpu = proc_cpu_s(poll.pid) - pt0
    pwall = time.monotonic() - p0
    poll.kill()
    poll.wait()
    t.kill()
    t.wait()
    print("bench: idle: %d pages mapped, nothing changing; snapshot in %.2f s" % (npages, snap))
    print("bench:   shadowptd CPU: %.2f%% of a core over %.0f s" % (100 * cpu / wall, wall))
    print("bench:   pagemap poller 10 ms CPU: %.1f%% of a core (reading the 1M entries only)" %
          (100 * pcpu / pwall))


def run_burst(b, npages=100_000):
    t, pid, base = b.target("burst", npages)
    view = b.viewer(pid, base, npages)
    wait_snapshot(view)
    seen = set()
    c0 = proc_cpu_s(b.daemon.pid)
    t.stdin.write("go\n")
    t.stdin.flush()
    f = t.stdout.readline().split()
    start, end = int(f[1]), int(f[2])
    last = None
    sel = selectors.DefaultSelector()
    sel.register(view.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + 120
    while len(seen) < npages and time.monotonic() < deadline:
        if not sel.select(timeout=5):
            break
        last, ev = stamped(view.stdout.readline())
        seen.update(mapped_pages(ev, base, npages))
    cpu = proc_cpu_s(b.daemon.pid) - c0
    stop_viewer(view)
    t.kill()
    t.wait()
    print("bench: burst: %d pages faulted in %.0f ms by the target" %
          (npages, (end - start) / 1e6))
    print("bench:   viewer had %d/%d pages %.0f ms after the first write (%.0f ms after "
          "the last); shadowptd CPU %.2f s" %
          (len(seen), npages, ((last or start) - start) / 1e6, ((last or end) - end) / 1e6, cpu))


def run_outside(b, npages=100_000):
    def burst(watch):
        t, pid, base = b.target("burst", npages)
        view = b.viewer(pid, base - (64 << 20), 16) if watch else None  # 64 KiB
        if view:
            wait_snapshot(view)
        c0 = proc_cpu_s(b.daemon.pid)
        t.stdin.write("go\n")
        t.stdin.flush()
        f = t.stdout.readline().split()
        cpu = proc_cpu_s(b.daemon.pid) - c0
        if view:
            stop_viewer(view)
        t.kill()
        t.wait()
        return (int(f[2]) - int(f[1])) / 1e6, cpu
    alone, _ = burst(False)
    watched, cpu = burst(True)
    print("bench: outside: %d pages faulted by the target, a 64 KiB window 64 MiB away watched"
          % npages)
    print("bench:   target's burst: %.0f ms unwatched, %.0f ms watched (%+.0f%%); "
          "shadowptd CPU %.2f s" % (alone, watched, 100 * (watched - alone) / alone, cpu))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build")
    ap.add_argument("modes", nargs="*", default=["latency", "idle", "burst"])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--no-events", action="store_true")
    ap.add_argument("--hops", action="store_true", help="latency: trace each hop (tracefs)")
    a = ap.parse_args()
    if a.hops and not hops.available():
        ap.error("--hops needs x86-64 and tracefs at %s" % hops.T)
    b = Bench(os.path.abspath(a.build), a.no_events)
    try:
        print("bench: shadowptd %s" % ("--no-events (fallback poller)" if a.no_events
                                        else "event-driven"))
        for m in a.modes:
            {"latency": lambda: run_latency(b, a.trials, a.hops), "idle": lambda: run_idle(b),
             "burst": lambda: run_burst(b), "outside": lambda: run_outside(b)}[m]()
    finally:
        b.close()


if __name__ == "__main__":
    main()
