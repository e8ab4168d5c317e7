#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""50 viewers from 50 distinct uids (forked children that drop root for
good, no passwd entries) on one target: every viewer gets every delta,
in order, byte for byte the same, and ends on the /proc ground truth.

Only root and group shadowpt may watch another uid's process
(daemon/auth.c), so viewers of distinct uids on one target are admins by
that group and nothing else; they are held to the daemon-wide pools, not
to the per-uid maximums (daemon/user.h)."""

import contextlib
import grp
import socket
import subprocess

from harness import (Daemon, RawConn, RawTable, Target, check, connect_fds_dropped,
                     diff_tables, frame_type, main, raw_status, read_truth_stable, session_status,
                     short,
                     log, wait_until, PAGE, T_STEP)

VIEWERS = 50
UID_BASE = 100000


def adopt(fd):
    c = RawConn.__new__(RawConn)
    c.sock = socket.socket(fileno=fd)
    c.buf = b""
    c.next_id = 1
    return c


@contextlib.contextmanager
def admin_group():
    """The gid of group shadowpt, made for the test (and removed after)
    where the package's sysusers snippet never ran."""
    made = False
    try:
        gid = grp.getgrnam("shadowpt").gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", "shadowpt"], check=True)
        gid, made = grp.getgrnam("shadowpt").gr_gid, True
    try:
        yield gid
    finally:
        if made:
            subprocess.run(["groupdel", "shadowpt"], check=False)


def test_distinct_uids_get_every_delta():
    with admin_group() as gid:
        run_distinct_uids(gid)


def run_distinct_uids(gid):
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 64")
    rng = (a, a + 64 * PAGE)
    uids = [UID_BASE + i for i in range(VIEWERS)]
    conns = [adopt(fd) for fd in connect_fds_dropped(d.socket, uids, groups=[gid])]
    tables = []
    for uid, c in zip(uids, conns):
        peer = c.hello(version=2)["welcome"].get("peer", {})
        check(peer.get("uid") == uid and peer.get("admin"),
              "viewer of uid %d: daemon sees peer %s" % (uid, peer))
        c.watch(t.pid, rng)
    for uid, c in zip(uids, conns):
        tb = RawTable()
        fr, skipped = c.recv_until(lambda f: frame_type(f) in ("snapshot", "error"),
                                   timeout=T_STEP, what="uid %d's snapshot" % uid)
        check(frame_type(fr) == "snapshot", "uid %d: %s" % (uid, short(fr)))
        tb.apply_frame(fr)
        tables.append(tb)
    sess = session_status(d, t.pid)
    check(sess.get("viewers") == VIEWERS, "session has %s viewers" % sess.get("viewers"))
    seq0 = sess.get("seq", 0)
    check(all(tb.seq == seq0 for tb in tables), "snapshots at seqs %s, session at %d" %
          (sorted({tb.seq for tb in tables}), seq0))

    # Each step waits for a delta of its own (it may make more than one).
    script = ["touch-write 0x%x 16" % a,
              "touch-read 0x%x 16" % (a + 16 * PAGE),
              "madvise-dontneed 0x%x 8" % (a + 4 * PAGE),
              "munmap-partial 0x%x 8" % (a + 56 * PAGE),
              "touch-write 0x%x 8" % (a + 32 * PAGE)]
    last = seq0
    for cmd in script:
        t.step(cmd)
        wait_until(lambda: session_status(d, t.pid).get("seq", 0) > last, T_STEP,
                   "a delta after %r" % cmd)
        last = session_status(d, t.pid).get("seq", 0)
    t.stop()
    try:
        frames = [[] for _ in conns]

        def read_one(k):
            fr = conns[k].recv(timeout=T_STEP)
            check(fr is not None, "uid %d: EOF at seq %s" % (uids[k], tables[k].seq))
            kind = frame_type(fr)
            check(kind in ("delta", "watch_status"), "uid %d: %s" % (uids[k], short(fr)))
            if kind == "delta":
                tables[k].apply_frame(fr)  # raises on a gap (base_seq) or a bad chunk
                frames[k].append(fr)

        # A step's last delta may come after the seq the loop saw: the
        # first viewer reads until it shows the stopped target's truth.
        truth = read_truth_stable(t.pid, rng)
        while diff_tables(tables[0].vmas, tables[0].pages, truth, "raw", rng):
            read_one(0)
        final = tables[0].seq
        for k in range(1, VIEWERS):
            while tables[k].seq < final:
                read_one(k)
        for uid, tb in zip(uids, tables):
            check(tb.seq == final and tb.resyncs == 0 and tb.deltas == final - seq0,
                  "uid %d: seq %s, %d deltas, %d resyncs; expected seq %d, %d deltas" %
                  (uid, tb.seq, tb.deltas, tb.resyncs, final, final - seq0))
        for uid, got in zip(uids[1:], frames[1:]):
            check(got == frames[0], "uid %d got other deltas than uid %d" % (uid, uids[0]))
        log("%d viewers of %d uids got all %d deltas (seq %d..%d)" %
            (VIEWERS, len(set(uids)), final - seq0, seq0 + 1, final))
    finally:
        t.cont()
    st = raw_status(d)
    check(st.get("deltas_dropped", 0) == 0 and st.get("resyncs", 0) == 0,
          "daemon dropped %s deltas, sent %s resyncs" %
          (st.get("deltas_dropped", 0), st.get("resyncs", 0)))
    for c in conns:
        c.close()
    d.check_alive()


if __name__ == "__main__":
    main([test_distinct_uids_get_every_delta])
