#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad requests give one clear error line and the documented exit code
(shadowctl(1): 2 usage, 4 permission, 5 no such process, 1 runtime);
over the raw protocol they give a non-fatal Error and the connection stays
usable. A target that dies mid-watch ends the watch cleanly."""

import os
import signal

from harness import (Daemon, Skip, Target, check, error_of, frame_type, main, short, raw_status,
                     proc_state, wait_until,
                     EXIT_OK, EXIT_USAGE, EXIT_NO_PROCESS, EXIT_RUNTIME, EXIT_CONNECT,
                     NOBODY_UID, PAGE, T_STEP)


def unused_pid():
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    for pid in range(pid_max - 1, 1, -1):
        if not os.path.exists("/proc/%d" % pid):
            return pid
    raise AssertionError("no free pid")


def one_clear_line(r):
    # A usage error may add a "Try ... --help" hint line.
    lines = [ln for ln in r.err.splitlines() if ln.strip() and not ln.startswith("Try ")]
    check(1 <= len(lines) <= 2, "expected one clear error line: %r" % r)
    check(r.out.strip() == "" or '"event":"error"' in r.out.replace(" ", ""),
          "data on stdout after an error: %r" % r.out[:300])


def test_nonexistent_pid():
    d = Daemon()
    pid = unused_pid()
    for args in (["snapshot", pid], ["watch", pid, "--json"], ["peek", pid, "0x1000"]):
        r = d.client(*args)
        check(r.rc == EXIT_NO_PROCESS, "%r: expected exit %d" % (r, EXIT_NO_PROCESS))
        one_clear_line(r)
    c = d.connect()
    c.hello()
    c.watch(pid)
    code, msg = error_of(c.recv())
    check(code == "ERROR_NO_SUCH_PROCESS", "raw Watch of pid %d: %s %s" % (pid, code, msg))
    c.send(ping={"nonce": 1})
    check(frame_type(c.recv()) == "pong", "connection unusable after NO_SUCH_PROCESS")


def test_bad_pids_usage():
    d = Daemon()
    for pid in ("0", "-1", "-5", "abc", "0x10", "99999999999", ""):
        r = d.client("snapshot", pid)
        check(r.rc == EXIT_USAGE, "snapshot %r: %r: expected exit %d" % (pid, r, EXIT_USAGE))
        one_clear_line(r)
    c = d.connect()
    c.hello()
    for pid in (0, -1, -2147483648):
        c.watch(pid)
        fr = c.recv()
        code, msg = error_of(fr)
        check(code in ("ERROR_NO_SUCH_PROCESS", "ERROR_INVALID_ARGUMENT"),
              "raw Watch pid %d: %s %s" % (pid, code, msg))
        check(not fr["error"].get("fatal"), "raw Watch pid %d: fatal error" % pid)
    c.send(ping={"nonce": 2})
    check(frame_type(c.recv()) == "pong", "connection unusable after bad pids")


def test_bad_ranges():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 4")
    bad = ["0x1001:0x2000", "0x1000:0x2001", "0x2000:0x2000", "0x3000:0x2000",
           "0x1000:0x800000001000", "0x800000000000:0x800000001000",
           "0x1000", "0x1000:", ":0x2000", "x:y", "0x1000:0x2000:0x3000"]
    for rng in bad:
        for cmd in ("snapshot", "watch"):
            r = d.client(cmd, t.pid, "--range", rng)
            check(r.rc == EXIT_USAGE, "%s --range %s: %r: expected exit %d" %
                  (cmd, rng, r, EXIT_USAGE))
            one_clear_line(r)
    # The daemon validates ranges itself (a hostile client skips shadowctl).
    c = d.connect()
    c.hello()
    for s, e in ((0x1001, 0x2000), (0x2000, 0x2000), (0x3000, 0x2000),
                 (0x1000, 0x800000001000), (0xFFFFFFFFFFFFF000, 0xFFFFFFFFFFFFF000 + 0)):
        c.watch(t.pid, (s, e))
        fr = c.recv()
        code, msg = error_of(fr)
        check(code == "ERROR_INVALID_RANGE", "raw range 0x%x:0x%x: %s %r" % (s, e, code, msg))
        check(not fr["error"].get("fatal"), "range error should not be fatal")
    c.send(ping={"nonce": 3})
    check(frame_type(c.recv()) == "pong", "connection unusable after bad ranges")
    # A good range still works on the same daemon.
    r = d.client("snapshot", t.pid, "--range", "0x%x:0x%x" % (a, a + 4 * PAGE), "--json")
    check(r.rc == EXIT_OK, "good range refused: %r" % r)


def test_target_dies_mid_watch():
    d = Daemon()
    for how in ("exit", "kill"):
        t = Target()
        a, _ = t.step("mmap-anon 8")
        t.step("touch-write 0x%x 8" % a)
        w = d.watcher(t.pid)
        w.wait_for(lambda w_: w_.table.snapshots >= 1 and w_.table.pages, T_STEP,
                   "the first snapshot")
        if how == "exit":
            t.send("exit 3")
        else:
            os.kill(t.pid, signal.SIGKILL)
        t.proc.wait(timeout=T_STEP)
        rc = w.wait_exit()
        check(rc == EXIT_OK, "%s: watch exit status %s (stderr %s)" % (how, rc, w.stderr))
        kinds = [e.get("event") for e in w.events]
        check(kinds[-1] == "exit", "%s: last event %s, expected exit" % (how, kinds[-3:]))
        check(not w.table.pages and not w.table.vmas,
              "%s: the table was not emptied by the final delta (%d vmas, %d pages)" %
              (how, len(w.table.vmas), len(w.table.pages)))
    d.check_alive()


def test_zombie_leader_then_zombie_process():
    """The leader calls pthread_exit() (a zombie without an mm) while a
    thread runs on: nobody's watch goes on following the thread's changes
    and a new watch opens; once the process exits (a zombie nobody reaps)
    the watch ends with exit and an empty table, and a new one is told
    there is no such process."""
    d = Daemon()
    t = Target(user=NOBODY_UID)
    w = d.watcher(t.pid, user=NOBODY_UID)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    (tid,) = t.step("leader-exit")
    wait_until(lambda: proc_state(t.pid) == "Z", T_STEP, "the leader %d to be a zombie" % t.pid)
    a, b = t.step("mmap-anon 8")
    t.step("touch-write 0x%x 8" % a)
    w.wait_for(lambda w_: sum(1 for v in w_.table.pages if a <= v < b) == 8, T_STEP,
               "the thread's 8 pages in the watch of a zombie leader")
    r = d.client("snapshot", t.pid, "--range", "0x%x:0x%x" % (a, b), "--json", user=NOBODY_UID)
    check(r.rc == EXIT_OK and sum(p["count"] for p in r.events()[0]["pages"]) == 8,
          "a new watch of a process whose leader exited (thread %d): %r" % (tid, r))
    t.send("exit 0")
    wait_until(lambda: not os.path.exists("/proc/%d/task/%d" % (t.pid, tid)), T_STEP,
               "thread %d to exit" % tid)
    rc = w.wait_exit()
    check(rc == EXIT_OK and w.events[-1].get("event") == "exit",
          "the watch of the exited process: status %s, last %s (stderr %s)" %
          (rc, w.events[-1:], w.stderr))
    check(not w.table.pages and not w.table.vmas, "the table after exit: %d vmas, %d pages" %
          (len(w.table.vmas), len(w.table.pages)))
    check(proc_state(t.pid) == "Z", "the target is an unreaped zombie")
    r = d.client("snapshot", t.pid, user=NOBODY_UID)
    check(r.rc == EXIT_NO_PROCESS, "a watch of a zombie: %r" % r)
    one_clear_line(r)
    t.proc.wait(timeout=T_STEP)
    d.check_alive()


def test_peek_matches_memory():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 2")
    t.step("touch-write 0x%x 1" % a)
    r = d.client("peek", t.pid, "0x%x" % a, "--json")
    check(r.rc == EXIT_OK, "peek: %r" % r)
    ev = [e for e in r.events() if e.get("event") == "peek"]
    check(ev, "no peek event: %r" % r)
    data = bytes.fromhex(ev[0]["data_hex"])
    with open("/proc/%d/mem" % t.pid, "rb") as f:
        f.seek(a)
        mem = f.read(PAGE)
    check(data == mem, "peek data differs from /proc/PID/mem")
    # The second page is not resident: a clear error, non-zero exit.
    r = d.client("peek", t.pid, "0x%x" % (a + PAGE))
    check(r.rc == EXIT_RUNTIME, "peek of a non-resident page: %r" % r)
    one_clear_line(r)
    # Any address inside the page names that page (shadowctl(1)).
    r = d.client("peek", t.pid, "0x%x" % (a + 5), "--json")
    check(r.rc == EXIT_OK, "peek inside the page: %r" % r)
    ev = [e for e in r.events() if e.get("event") == "peek"]
    check(ev and ev[0].get("vaddr") == "0x%x" % a and bytes.fromhex(ev[0]["data_hex"]) == mem,
          "peek of an address inside the page: %r" % r)
    # Peek over the raw protocol with a vaddr outside the watched range.
    c = d.connect()
    c.hello()
    c.watch(t.pid, (a, a + PAGE))
    fr, _ = c.recv_until(lambda f: frame_type(f) == "watch_started", what="watch started")
    wid = fr["watch_started"]["watch_id"]
    c.send(peek={"watch_id": wid, "vaddr": a + 8 * PAGE})
    fr, _ = c.recv_until(lambda f: frame_type(f) in ("peek_reply", "error"), what="peek answer")
    code, msg = error_of(fr)
    check(code in ("ERROR_INVALID_RANGE", "ERROR_INVALID_ARGUMENT", "ERROR_NOT_MAPPED"),
          "peek outside the watched range: %s %s" % (code, msg))
    c.send(peek={"watch_id": wid + 1000, "vaddr": a})
    fr, _ = c.recv_until(lambda f: frame_type(f) in ("peek_reply", "error"), what="peek answer")
    check(error_of(fr)[0] == "ERROR_NO_SUCH_WATCH", "peek of an unknown watch: %s" % short(fr))


def test_watch_limit_per_connection():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 32")
    c = d.connect()
    c.hello()
    errors = []
    for i in range(17):
        c.watch(t.pid, (a + i * PAGE, a + (i + 1) * PAGE))
        fr, _ = c.recv_until(lambda f: frame_type(f) in ("watch_started", "error"),
                             what="watch answer %d" % i)
        if frame_type(fr) == "error":
            errors.append((i, error_of(fr)[0]))
    check(errors == [(16, "ERROR_LIMIT_EXCEEDED")],
          "17 watches on one connection: errors %s (limit 16)" % errors)


def test_thread_id():
    """A TID that is not a thread-group leader is refused with a clear,
    specific error: not an internal error."""
    import threading
    d = Daemon()
    ev = threading.Event()
    th = threading.Thread(target=ev.wait)
    th.start()
    try:
        tid = [int(x) for x in os.listdir("/proc/self/task") if int(x) != os.getpid()][0]
        r = d.client("snapshot", tid)
        check(r.rc in (EXIT_NO_PROCESS, EXIT_USAGE),
              "snapshot of thread %d (not a leader): %r" % (tid, r))
        one_clear_line(r)
        check("internal" not in r.err.lower(), "a thread id is not an internal error: %r" % r.err)
    finally:
        ev.set()
        th.join()
    d.check_alive()


def kernel_thread_pid():
    """The lowest pid with PF_KTHREAD set (kthreadd, 2, on a host), or None
    where no kernel thread is visible (a PID namespace: containers)."""
    for pid in sorted(int(p) for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open("/proc/%d/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[6]) & 0x00200000:  # field 9, flags
            return pid
    return None


def test_kernel_thread():
    """A kernel thread (no address space) is refused with a clear, specific
    error."""
    pid = kernel_thread_pid()
    if pid is None:
        raise Skip("no kernel thread visible in this PID namespace")
    d = Daemon()
    r = d.client("snapshot", pid)
    check(r.rc == EXIT_NO_PROCESS, "snapshot of kernel thread %d: %r" % (pid, r))
    one_clear_line(r)
    check("kernel thread" in r.err, "kernel thread named as such: %r" % r.err)
    d.check_alive()


def test_raw_unwatch_and_ids():
    """Unwatch ends a watch (Unwatched, then no more frames for it);
    unknown watch ids are a non-fatal NO_SUCH_WATCH; viewers of the same
    (pid, range) share a watch id; request ids are echoed."""
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 8")
    rng = (a, a + 8 * PAGE)
    c1, c2 = d.connect(), d.connect()
    ids = []
    for c in (c1, c2):
        c.hello()
        rid = c.watch(t.pid, rng)
        fr, _ = c.recv_until(lambda f: frame_type(f) in ("watch_started", "error"),
                             what="watch started")
        check(frame_type(fr) == "watch_started" and fr.get("request_id") == rid,
              "WatchStarted: %s" % short(fr))
        ids.append(fr["watch_started"]["watch_id"])
        c.recv_until(lambda f: frame_type(f) == "snapshot" and f["snapshot"].get("last_chunk"),
                     what="snapshot")
    check(ids[0] == ids[1], "two viewers of one (pid, range) got watch ids %s" % ids)
    rid = c1.send(unwatch={"watch_id": ids[0]})
    fr, _ = c1.recv_until(lambda f: frame_type(f) in ("unwatched", "error"), what="unwatched")
    check(frame_type(fr) == "unwatched" and fr["unwatched"].get("watch_id") == ids[0]
          and fr.get("request_id") == rid, "Unwatch answer: %s" % short(fr))
    c1.send(unwatch={"watch_id": ids[0]})
    fr, _ = c1.recv_until(lambda f: frame_type(f) in ("unwatched", "error"), what="2nd unwatch")
    check(error_of(fr)[0] == "ERROR_NO_SUCH_WATCH" and not fr["error"].get("fatal"),
          "second Unwatch: %s" % short(fr))
    # The target changes: c2 gets a delta, c1 gets nothing but its Pong.
    t.step("touch-write 0x%x 8" % a)
    c2.recv_until(lambda f: frame_type(f) == "delta", what="delta for the remaining viewer")
    c1.send(ping={"nonce": 9})
    fr, skipped = c1.recv_until(lambda f: frame_type(f) == "pong", what="pong")
    check(not [f for f in skipped if frame_type(f) in ("delta", "snapshot")],
          "frames after Unwatch: %s" % [short(f, 100) for f in skipped])
    st = raw_status(d)
    sess = [x for x in st.get("session", []) if x.get("pid") == t.pid]
    check(len(sess) == 1 and sess[0].get("viewers") == 1, "sessions after unwatch: %s" % sess)
    c2.close()
    wait_until(lambda: not [x for x in raw_status(d).get("session", []) if x.get("pid") == t.pid],
               T_STEP, "the session to close with its last viewer")


def test_watch_count_and_text_output():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 8")
    w = d.watcher(t.pid, "--count", "2")
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    t.step("touch-write 0x%x 4" % a)
    w.wait_for(lambda w_: w_.table.deltas >= 1, T_STEP, "a first delta")
    t.step("madvise-dontneed 0x%x 4" % a)
    rc = w.wait_exit()
    check(rc == EXIT_OK and w.table.deltas == 2, "--count 2: exit %s after %d deltas" %
          (rc, w.table.deltas))
    # Text output: the summary line agrees with the JSON snapshot.
    t.stop()
    try:
        rj = d.client("snapshot", t.pid, "--json")
        rt = d.client("snapshot", t.pid)
    finally:
        t.cont()
    check(rj.rc == EXIT_OK and rt.rc == EXIT_OK, "snapshots: %r %r" % (rj, rt))
    snap = [e for e in rj.events() if e.get("event") == "snapshot"][0]
    import re
    m = re.search(r"vmas=(\d+) pages=(\d+) runs=(\d+)", rt.out)
    check(m, "text snapshot without a summary: %r" % rt.out[:300])
    check(int(m.group(1)) == len(snap["vmas"]) and int(m.group(2)) == snap["page_count"] and
          int(m.group(3)) == len(snap["pages"]),
          "text summary %s vs JSON %d vmas %d pages in %d entries" %
          (m.group(0), len(snap["vmas"]), snap["page_count"], len(snap["pages"])))
    check(len([ln for ln in rt.out.splitlines() if ln.startswith("page ")]) == len(snap["pages"]),
          "one text line per JSON page entry")
    check("0x%x" % a in rt.out or ("%x" % a) in rt.out, "text output lacks the mapping 0x%x" % a)


def test_no_daemon():
    d = Daemon()
    sock = d.socket
    d.stop()
    from harness import run_client
    r = run_client(sock, ["status"])
    check(r.rc == EXIT_CONNECT, "status without a daemon: %r" % r)
    one_clear_line(r)


def test_status_json():
    d = Daemon()
    t = Target()
    w = d.watcher(t.pid)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    r = d.client("status", "--json")
    check(r.rc == EXIT_OK, "status: %r" % r)
    ev = r.events()
    check(len(ev) == 1 and ev[0].get("event") == "status", "status events: %r" % r)
    s = ev[0]
    check(s.get("sessions") == 1 and s.get("viewers") >= 1, "status counts: %s" % short(s))
    check(s.get("default_backend") == "procfs", "default backend: %s" % s.get("default_backend"))
    sess = s.get("session_list", [])
    check(sess and sess[0].get("pid") == t.pid, "session list: %s" % short(sess))
    w.stop()


if __name__ == "__main__":
    main([test_nonexistent_pid, test_bad_pids_usage, test_bad_ranges, test_target_dies_mid_watch,
          test_peek_matches_memory, test_watch_limit_per_connection,
          test_thread_id, test_kernel_thread, test_raw_unwatch_and_ids,
          test_watch_count_and_text_output, test_no_daemon,
          test_status_json, test_zombie_leader_then_zombie_process])
