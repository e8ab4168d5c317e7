#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench-fanout: delta fan-out throughput and per-sample latency of shadowptd.

    meson compile -C build && python3 tests/bench/bench_fanout.py build [options]

Starts a private shadowptd (procfs backend), a churning target (the
workload program alternately writing and zapping a region), and N raw
protocol viewers of the same (pid, range) served from one process with
selectors. For each N it prints figures as lines starting with "bench:":

  - deltas/s received per viewer and in total, frames and MiB/s delivered;
  - per-sample latency: viewer receive time minus the Delta's
    timestamp_ns (CLOCK_MONOTONIC when the daemon sampled), p50/p90/p99/max;
  - step latency: target step done -> first delta received after it;
  - the daemon's own counters (bytes_out, deltas_dropped, resyncs);
  - deltas published (the session's seq) against deltas received per
    viewer (min/median), how many viewers missed any (a gap, a resync,
    or not at the last seq once the target stopped), and the daemon's
    CPU (utime+stime of all its threads) per delta published.

--uids gives every viewer its own uid (--uid-base + i): a forked child
drops root for good (setresuid/setresgid, no passwd entry needed),
connects, and passes the socket back with SCM_RIGHTS; SO_PEERCRED stays
that uid's, and this process drives every socket. Only root and group
shadowpt may watch another uid's process (daemon/auth.c), so those
children keep exactly one group, shadowpt: 1000 distinct uids on one
target are 1000 admins, charged as such (daemon/user.h).

--join PAGES measures snapshots instead: a target with PAGES written
pages, a session one viewer opened, and then --viewers protocol 2
viewers joining it at once (the target stopped: one seq); it prints the
time until all have their snapshot, the daemon's CPU for it, and how
many snapshots the daemon encoded for them.

Figures only: there is no pass/fail. Needs root (the daemon reads
pagemap PFNs; the harness runs it with --keep-root).
"""

import argparse
import grp
import os
import selectors
import socket
import struct
import sys
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import (Daemon, Target, check, connect_fds_dropped, encode_frame,  # noqa: E402
                     proc_cpu_s, raise_nofile, raw_status, read_varint, PAGE)


def scan_frame(body):
    """Cheap scan of a Frame payload without decoding page entries:
    (kind, seq, timestamp_ns, resync) for deltas and snapshots (kind
    "snapshot" for the last chunk, "snapshot-chunk" before it; whose
    varint fields protobuf-c writes before their repeated ones), kind
    alone for other frames."""
    pos = 0
    while pos < len(body):
        key, pos = read_varint(body, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            _, pos = read_varint(body, pos)
            continue
        if wt != 2:
            return ("other", None, None, False)
        ln, pos = read_varint(body, pos)
        sub = body[pos:pos + ln]
        pos += ln
        if num not in (6, 7):
            return ("error" if num == 17 else "other", None, None, False)
        # Frame.snapshot: seq 2, timestamp 3, resync 4, last_chunk 6;
        # Frame.delta: seq 2, timestamp 4.
        ts_field, first_repeated = (3, 7) if num == 6 else (4, 5)
        seq = ts = None
        resync = last = False
        p = 0
        while p < len(sub):
            k, p = read_varint(sub, p)
            n, w = k >> 3, k & 7
            if w == 0:
                v, p = read_varint(sub, p)
                if n == 2:
                    seq = v
                elif n == ts_field:
                    ts = v
                elif n == 4 and num == 6:
                    resync = bool(v)
                elif n == 6 and num == 6:
                    last = bool(v)
            elif w == 2:
                if n >= first_repeated:
                    break
                ln2, p = read_varint(sub, p)
                p += ln2
            else:
                break
        if num == 6:
            return ("snapshot" if last else "snapshot-chunk", seq, ts, resync)
        return ("delta", seq, ts, resync)
    return ("empty", None, None, False)


class Viewer:
    def __init__(self, sock, pid, rng, protocol):
        self.sock = sock
        self.sock.sendall(encode_frame({"request_id": 1, "hello": {"protocol_version": protocol,
                                                                    "client_name": "bench"}}))
        self.sock.sendall(encode_frame({"request_id": 2, "watch": {
            "pid": pid, "range": {"start": rng[0], "end": rng[1]}}}))
        self.sock.setblocking(False)
        self.buf = bytearray()
        self.deltas = 0  # distinct seqs (a protocol 2 delta may come in chunks)
        self.bytes = 0
        self.frames = 0
        self.snapshots = 0
        self.resyncs = 0
        self.gaps = 0  # a delta whose seq is not the one after the last
        self.errors = 0
        self.last_seq = None
        self.latencies = []  # ns
        self.seq_seen_at = {}  # seq -> receive time (first viewer only needs it)

    def reset(self):
        self.deltas = self.bytes = self.frames = self.resyncs = self.gaps = 0
        self.latencies = []
        self.seq_seen_at = {}

    def on_readable(self, now_ns):
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return True
        if not data:
            return False
        self.bytes += len(data)
        self.buf += data
        while len(self.buf) >= 4:
            (n,) = struct.unpack_from(">I", self.buf, 0)
            if len(self.buf) < 4 + n:
                break
            body = bytes(self.buf[4:4 + n])
            del self.buf[:4 + n]
            self.frames += 1
            kind, seq, ts, resync = scan_frame(body)
            if kind == "delta" and seq != self.last_seq:
                if self.last_seq is not None and seq != self.last_seq + 1:
                    self.gaps += 1
                self.deltas += 1
                self.last_seq = seq or 0
                if ts:
                    self.latencies.append(now_ns - ts)
                self.seq_seen_at.setdefault(seq, now_ns)
            elif kind == "snapshot":
                self.snapshots += 1
                self.resyncs += resync
                self.last_seq = seq or 0
            elif kind == "error":
                self.errors += 1
        return True


SLOTS = 64
WINDOW = 8


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(round(p / 100.0 * (len(s) - 1)))))
    return s[i]


def session_seq(status, pid):
    sess = [s for s in status.get("session", []) if s.get("pid") == pid]
    return sess[0].get("seq", 0) if sess else 0


def run_one(args, nviewers):
    extra = ["--min-interval-ms", str(args.min_interval_ms)]
    d = Daemon(extra_args=extra)
    t = Target()
    # A sliding window over SLOTS slots of --pages pages: each step writes
    # the next slot and zaps the one WINDOW steps behind, so successive
    # states never repeat within a sampling interval (alternating write/zap
    # of one region would look idle to a sampler that sees both steps).
    a, _ = t.step("mmap-anon %d" % (args.pages * SLOTS))
    rng = (a, a + args.pages * SLOTS * PAGE)
    if args.uids:
        uids = [args.uid_base + i for i in range(nviewers)]
        socks = [socket.socket(fileno=fd)
                 for fd in connect_fds_dropped(d.socket, uids, groups=[args.admin_gid])]
    else:
        socks = []
        for _ in range(nviewers):
            socks.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            socks[-1].connect(d.socket)
    viewers = [Viewer(sk, t.pid, rng, args.protocol) for sk in socks]
    sel = selectors.DefaultSelector()
    for v in viewers:
        sel.register(v.sock, selectors.EVENT_READ, v)
    stop = threading.Event()
    steps = []  # (done_ns,) per target step

    def drive():
        k = 0
        while not stop.is_set():
            slot = a + (k % SLOTS) * args.pages * PAGE
            old = a + ((k - WINDOW) % SLOTS) * args.pages * PAGE
            t.step("touch-write 0x%x %d" % (slot, args.pages))
            if k >= WINDOW:
                t.step("madvise-dontneed 0x%x %d" % (old, args.pages))
            k += 1
            steps.append(time.monotonic_ns())
            if args.step_interval_ms:
                time.sleep(args.step_interval_ms / 1000.0)

    # Wait for every viewer's first snapshot before timing anything.
    deadline = time.monotonic() + 120
    while any(v.snapshots == 0 for v in viewers):
        check(time.monotonic() < deadline, "viewers never got their snapshot")
        for key, _ in sel.select(timeout=1):
            key.data.on_readable(time.monotonic_ns())
    for v in viewers:
        v.reset()
    status0 = raw_status(d)
    seq0 = session_seq(status0, t.pid)
    drv = threading.Thread(target=drive, daemon=True)
    cpu0 = proc_cpu_s(d.proc.pid)
    t0 = time.monotonic()
    drv.start()
    while time.monotonic() - t0 < args.seconds:
        for key, _ in sel.select(timeout=0.5):
            if not key.data.on_readable(time.monotonic_ns()):
                sel.unregister(key.fileobj)
    stop.set()
    drv.join(timeout=120)
    elapsed = time.monotonic() - t0
    # Drain: until every viewer is at the session's last seq (or gave up).
    seq1, settled, deadline = None, 0.0, time.monotonic() + 60
    while time.monotonic() < deadline:
        now = session_seq(raw_status(d), t.pid)
        if now != seq1:
            seq1, settled = now, time.monotonic()
        if all(v.last_seq == seq1 for v in viewers) and time.monotonic() - settled > 0.5:
            break
        for key, _ in sel.select(timeout=0.1):
            if not key.data.on_readable(time.monotonic_ns()):
                sel.unregister(key.fileobj)
    cpu1 = proc_cpu_s(d.proc.pid)
    status1 = raw_status(d)

    total_deltas = sum(v.deltas for v in viewers)
    total_bytes = sum(v.bytes for v in viewers)
    total_frames = sum(v.frames for v in viewers)
    lat = [x for v in viewers for x in v.latencies]
    per_viewer = total_deltas / nviewers / elapsed
    print("bench: viewers=%d pages=%d seconds=%.1f target_steps=%d (%.1f steps/s)" %
          (nviewers, args.pages, elapsed, len(steps), len(steps) / elapsed))
    print("bench: viewers=%d deltas/s per viewer=%.1f total=%.1f frames/s=%.1f MiB/s=%.2f" %
          (nviewers, per_viewer, total_deltas / elapsed, total_frames / elapsed,
           total_bytes / elapsed / (1 << 20)))
    print("bench: viewers=%d sample->viewer latency ms p50=%.2f p90=%.2f p99=%.2f max=%.2f "
          "(n=%d)" % (nviewers, pct(lat, 50) / 1e6, pct(lat, 90) / 1e6, pct(lat, 99) / 1e6,
                      (max(lat) if lat else float("nan")) / 1e6, len(lat)))
    # Step -> first delta received after it (by any viewer), approximate.
    arrivals = sorted(ts for v in viewers for ts in v.seq_seen_at.values())
    step_lat = []
    j = 0
    for s in steps:
        while j < len(arrivals) and arrivals[j] < s:
            j += 1
        if j < len(arrivals):
            step_lat.append(arrivals[j] - s)
    print("bench: viewers=%d step->first delta ms p50=%.2f p90=%.2f max=%.2f (n=%d)" %
          (nviewers, pct(step_lat, 50) / 1e6, pct(step_lat, 90) / 1e6,
           (max(step_lat) if step_lat else float("nan")) / 1e6, len(step_lat)))
    sess = [s for s in status1.get("session", []) if s.get("pid") == t.pid]
    if sess:
        s = sess[0]
        samples = s.get("samples", 0)
        print("bench: viewers=%d daemon samples=%d mean sample cost us=%.1f interval_ms=%d" %
              (nviewers, samples, s.get("sample_ns_total", 0) / max(samples, 1) / 1e3,
               s.get("interval_ms", 0)))
    print("bench: viewers=%d daemon bytes_out=%d deltas_dropped=%d resyncs=%d "
          "viewers_disconnected=%d viewer_errors=%d" %
          (nviewers, status1.get("bytes_out", 0) - status0.get("bytes_out", 0),
           status1.get("deltas_dropped", 0) - status0.get("deltas_dropped", 0),
           status1.get("resyncs", 0) - status0.get("resyncs", 0),
           status1.get("viewers_disconnected", 0), sum(v.errors for v in viewers)))
    published = seq1 - seq0
    got = sorted(v.deltas for v in viewers)
    missed = sum(1 for v in viewers
                 if v.deltas != published or v.gaps or v.resyncs or v.last_seq != seq1)
    print("bench: viewers=%d%s deltas published=%d received per viewer min=%d median=%d "
          "viewers missing any=%d" %
          (nviewers, " uids=%d..%d" % (args.uid_base, args.uid_base + nviewers - 1)
           if args.uids else "", published, got[0], got[len(got) // 2], missed))
    print("bench: viewers=%d daemon cpu=%.2fs per delta=%.3f ms (per viewer per delta %.2f us)" %
          (nviewers, cpu1 - cpu0, (cpu1 - cpu0) * 1e3 / max(published, 1),
           (cpu1 - cpu0) * 1e6 / max(published, 1) / nviewers))
    sys.stdout.flush()
    for v in viewers:
        v.sock.close()
    t.send("exit 0")
    d.stop()
    harness._run_cleanups()


def run_join(args, nviewers):
    """nviewers joining at once (one seq: the target is stopped) a session
    of --join written pages that one viewer opened before."""
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon %d" % args.join)
    t.step("touch-write 0x%x %d" % (a, args.join), timeout=600)
    rng = (a, a + args.join * PAGE)

    def connect():
        sk = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sk.connect(d.socket)
        return Viewer(sk, t.pid, rng, 2)

    def until_snapshots(viewers):
        sel = selectors.DefaultSelector()
        for v in viewers:
            sel.register(v.sock, selectors.EVENT_READ, v)
        deadline = time.monotonic() + 600
        while any(v.snapshots == 0 for v in viewers):
            check(time.monotonic() < deadline, "viewers never got their snapshot")
            for key, _ in sel.select(timeout=1):
                key.data.on_readable(time.monotonic_ns())
        sel.close()

    status0 = raw_status(d)
    opener = connect()
    until_snapshots([opener])
    t.stop()
    cpu0 = proc_cpu_s(d.proc.pid)
    t0 = time.monotonic()
    viewers = [connect() for _ in range(nviewers)]
    until_snapshots(viewers)
    elapsed = time.monotonic() - t0
    cpu1 = proc_cpu_s(d.proc.pid)
    status1 = raw_status(d)
    sess = [x for x in status1.get("session", []) if x.get("pid") == t.pid]
    enc = ("%d" % (status1["snapshots_encoded"] - status0.get("snapshots_encoded", 0))
           if "snapshots_encoded" in status1 else "n/a (daemon does not count them)")
    print("bench: join viewers=%d pages=%d runs=%s snapshot MiB per viewer=%.2f: all snapshots "
          "in %.2f s, daemon cpu=%.2f s, snapshots encoded (with the opener's)=%s" %
          (nviewers, args.join, sess[0].get("runs") if sess else "?",
           sum(v.bytes for v in viewers) / nviewers / (1 << 20), elapsed, cpu1 - cpu0, enc))
    sys.stdout.flush()
    t.cont()
    for v in viewers + [opener]:
        v.sock.close()
    t.send("exit 0")
    d.stop()
    harness._run_cleanups()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="meson build directory")
    ap.add_argument("--viewers", default="1,10,50,100",
                    help="comma-separated viewer counts (default 1,10,50,100)")
    ap.add_argument("--seconds", type=float, default=10.0, help="per viewer count")
    ap.add_argument("--pages", type=int, default=256, help="pages written/zapped per step")
    ap.add_argument("--min-interval-ms", type=int, default=20,
                    help="daemon --min-interval-ms (default 20)")
    ap.add_argument("--step-interval-ms", type=float, default=10,
                    help="pause between target steps (default 10; 0: as fast as possible)")
    ap.add_argument("--protocol", type=int, default=1, choices=(1, 2),
                    help="protocol version the viewers speak (default 1)")
    ap.add_argument("--uids", action="store_true",
                    help="each viewer connects as its own uid (--uid-base + i) in group shadowpt")
    ap.add_argument("--uid-base", type=int, default=100000, help="first viewer uid (--uids)")
    ap.add_argument("--join", type=int, metavar="PAGES", default=0,
                    help="instead: --viewers protocol 2 viewers join at once a session of "
                    "PAGES written pages (snapshot encoding, not deltas)")
    args = ap.parse_args()
    if args.uids:
        try:
            args.admin_gid = grp.getgrnam("shadowpt").gr_gid
        except KeyError:
            sys.exit("bench: --uids needs group shadowpt (only its members may watch "
                     "another uid's process)")
    counts = [int(x) for x in args.viewers.split(",") if x]
    # This process holds every viewer's socket; the daemon inherits the limit.
    raise_nofile(max(counts) + 1024)
    b = os.path.abspath(args.build)
    harness.CFG = types.SimpleNamespace(
        daemon=os.path.join(b, "daemon", "shadowptd"),
        client=os.path.join(b, "client", "shadowctl"),
        target=os.path.join(b, "tests", "workloads", "target"),
        proto=os.path.join(HERE, "..", "..", "proto", "shadowpt.proto"))
    for p in (harness.CFG.daemon, harness.CFG.target):
        if not os.access(p, os.X_OK):
            sys.exit("bench: %s not built (meson compile -C %s)" % (p, args.build))
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the daemon needs CAP_SYS_ADMIN for pfns)")
    print("bench: fan-out of one session, procfs backend, %d pages per step, %s" %
          (args.pages, os.uname().release))
    for n in counts:
        (run_join if args.join else run_one)(args, n)


if __name__ == "__main__":
    main()
