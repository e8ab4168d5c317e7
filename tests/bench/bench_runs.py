#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""bench-runs: end to end, what a big target costs the daemon and a viewer.

    meson compile -C build && python3 tests/bench/bench_runs.py build [--old-build DIR]

For each target of issue 10 -- 1M written pages (4 GiB, small pages), a
16 GiB and a 1 TiB mapping of the huge zero page (PROT_READ,
MAP_NORESERVE, MADV_HUGEPAGE, one byte read per 2 MiB) -- starts a
private shadowptd and prints "bench:" lines:

  - cold: a raw protocol 2 viewer's Watch until its snapshot is complete
    (the session's first sample, encoding, transfer), with the frames'
    bytes; it stays watching, so that
  - warm: `shadowctl snapshot PID --json` and the text form, served from
    the same session (encoding, transfer, decoding, rendering), with the
    JSON bytes and text lines;
  - the daemon's peak RSS growth (VmHWM) per page, and its own mean
    sample time and run count (status).

--old-build DIR runs the same with the shadowptd and shadowctl of
another build (e.g. the one-entry-per-page model: `git worktree add
/tmp/old REV && meson setup /tmp/old/build /tmp/old && ninja -C
/tmp/old/build`), skipping the 1 TiB target for it unless --old-tib
(that model needs ~19 GB there). The workload program is always this
build's. Figures only; run as root.
"""

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
from harness import Daemon, Target, proc_status, raw_status, read_varint  # noqa: E402

SCENARIOS = [
    ("1M written pages", ["mmap-anon 1048576", "touch-write {a} 1048576"], 1 << 20),
    ("16 GiB huge zero page", ["mmap-zero-huge 4194304"], 4 << 20),
    ("1 TiB huge zero page", ["mmap-zero-huge 268435456"], 256 << 20),
]
TIMEOUT = 1800


def snapshot_last_chunk(body):
    """For a Frame payload holding a Snapshot: its last_chunk; else None.
    Scans the envelope and the Snapshot's scalars only (no page entries)."""
    pos = 0
    while pos < len(body):
        key, pos = read_varint(body, pos)
        if key & 7 == 0:
            _, pos = read_varint(body, pos)
            continue
        if key & 7 != 2:
            return None
        ln, pos = read_varint(body, pos)
        if key >> 3 != 6:  # Frame.snapshot
            return None
        sub, p, last = body[pos:pos + ln], 0, False
        while p < len(sub):
            k, p = read_varint(sub, p)
            if k & 7 == 0:
                v, p = read_varint(sub, p)
                if k >> 3 == 6:
                    last = bool(v)
            elif k & 7 == 2:
                n, p = read_varint(sub, p)
                p += n
            else:
                break
        return last
    return None


class Keeper:
    """A raw protocol 2 viewer that keeps the session open and drains it."""

    def __init__(self, d, pid):
        self.c = d.connect()
        self.c.hello(version=2)
        self.t0 = time.monotonic()
        self.c.watch(pid)
        self.bytes = 0
        self.done = threading.Event()
        self.secs = None
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        sock, buf = self.c.sock, self.c.buf
        sock.settimeout(None)
        while True:
            while len(buf) >= 4:
                (n,) = struct.unpack(">I", buf[:4])
                if len(buf) < 4 + n:
                    break
                body, buf = buf[4:4 + n], buf[4 + n:]
                if self.secs is None:
                    self.bytes += 4 + n
                    if snapshot_last_chunk(body):
                        self.secs = time.monotonic() - self.t0
                        self.done.set()
            try:
                data = sock.recv(1 << 20)
            except OSError:
                return
            if not data:
                return
            buf += data


def hwm_kb(pid):
    return int(proc_status(pid).get("VmHWM", "0 kB").split()[0])


def client_to_file(d, args):
    """Runs shadowctl with stdout into a temp file: (seconds, bytes, lines, rc)."""
    with tempfile.TemporaryFile() as out:
        t0 = time.monotonic()
        p = subprocess.run(harness.client_argv(d.socket, args), stdin=subprocess.DEVNULL,
                           stdout=out, stderr=subprocess.PIPE, timeout=TIMEOUT)
        dt = time.monotonic() - t0
        out.seek(0)
        size = lines = 0
        while True:
            chunk = out.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            lines += chunk.count(b"\n")
    if p.returncode:
        sys.stderr.write("bench: shadowctl %s: %s\n" % (args, p.stderr.decode()[-300:]))
    return dt, size, lines, p.returncode


def run(label, build, target, what, steps, pages):
    harness.CFG = types.SimpleNamespace(
        daemon=os.path.join(build, "daemon", "shadowptd"),
        client=os.path.join(build, "client", "shadowctl"),
        target=target,
        proto=os.path.join(HERE, "..", "..", "proto", "shadowpt.proto"))
    d = Daemon()
    t = Target()
    a = None
    for s in steps:
        vals = t.step(s.format(a="0x%x" % a if a else ""), timeout=TIMEOUT)
        a = a or vals[0]
    base = hwm_kb(d.proc.pid)
    k = Keeper(d, t.pid)
    k.done.wait(TIMEOUT)
    if d.proc.poll() is not None:
        sys.stderr.write("bench: the daemon exited (%s):\n%s\n" % (d.proc.returncode,
                                                                d.log()[-2000:]))
    js, jbytes, _, rc = client_to_file(d, ["snapshot", str(t.pid), "--json"])
    ts, _, tlines, rc2 = client_to_file(d, ["snapshot", str(t.pid)])
    grown = hwm_kb(d.proc.pid) - base
    st = raw_status(d)
    sess = [s for s in st.get("session", []) if s.get("pid") == t.pid] or [{}]
    samples = sess[0].get("samples", 0)
    print("bench: %-4s %-22s cold watch %7.2f s %10d bytes | warm snapshot --json %6.2f s "
          "%10d bytes, text %6.2f s %8d lines | daemon peak RSS +%7d KiB = %6.2f B/page, "
          "sample %8.1f ms, %s runs%s" %
          (label, what, k.secs or -1, k.bytes, js, jbytes, ts, tlines, grown,
           grown * 1024.0 / pages, sess[0].get("sample_ns_total", 0) / max(samples, 1) / 1e6,
           sess[0].get("runs", "-"),
           "" if rc == rc2 == 0 else "  (shadowctl failed: %d %d)" % (rc, rc2)))
    k.c.close()
    sys.stdout.flush()
    t.send("exit 0")
    d.stop()
    harness._run_cleanups()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="meson build directory")
    ap.add_argument("--old-build", help="a build of another revision to compare with")
    ap.add_argument("--old-tib", action="store_true", help="run the 1 TiB target on it too")
    ap.add_argument("--no-tib", action="store_true", help="skip the 1 TiB target")
    ap.add_argument("--only", help="run only the targets whose name holds this")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench: run as root (the daemon needs CAP_SYS_ADMIN for pfns)")
    new = os.path.abspath(args.build)
    target = os.path.join(new, "tests", "workloads", "target")
    builds = [("new", new)] + ([("old", os.path.abspath(args.old_build))] if args.old_build
                               else [])
    print("bench: snapshot of big targets, procfs backend, %s" % os.uname().release)
    for what, steps, pages in SCENARIOS:
        if args.only and args.only not in what:
            continue
        for label, b in builds:
            tib = pages == 256 << 20
            if tib and (args.no_tib or (label == "old" and not args.old_tib)):
                print("bench: %-4s %-22s skipped" % (label, what))
                continue
            run(label, b, target, what, steps, pages)


if __name__ == "__main__":
    main()
