#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Authorization: a viewer running as another uid (nobody, via setpriv) is
refused a root-owned target; watching its own process it gets no raw PFNs
(null, or opaque tokens that are equal iff the frame is the same)."""

from harness import (Daemon, Target, RawConn, check, compare_until_stable, error_of,
                     read_truth_stable, proc_status, frame_type, main, short,
                     table_from_snapshot_events, EXIT_OK, EXIT_PERMISSION, NOBODY_UID, PAGE, T_STEP)
import os
import subprocess
import sys


def nobody_python():
    # The root user's python may live under /root (pyenv): use the system one.
    return "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def test_nobody_refused_root_target():
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 4")
    t.step("touch-write 0x%x 4" % a)
    for args in (["snapshot", t.pid], ["snapshot", t.pid, "--json"],
                 ["watch", t.pid, "--json", "--count", "1"], ["peek", t.pid, "0x%x" % a]):
        r = d.client(*args, user=NOBODY_UID)
        check(r.rc == EXIT_PERMISSION, "nobody: %r: expected exit %d" % (r, EXIT_PERMISSION))
        check("permission" in r.err.lower() or "not allowed" in r.err.lower()
              or "denied" in r.err.lower(), "unclear error: %r" % r.err)
        check(len(r.err.strip().splitlines()) <= 2, "error is not one clear line: %r" % r.err)
        check("0x%x" % a not in r.out and '"pages"' not in r.out,
              "refused viewer still got data: %r" % r.out[:300])
    d.check_alive()


def test_nobody_raw_protocol_refused():
    """Same over the raw protocol, from a process running as nobody."""
    d = Daemon()
    t = Target()
    # A child process as nobody speaks the protocol; it reports the error
    # code it got on stdout.
    code = r'''
import os, sys
sys.path.insert(0, %r)
import harness, types
harness.CFG = types.SimpleNamespace(proto=%r)
c = harness.RawConn(%r)
w = c.hello()
print("uid", w["welcome"].get("peer", {}).get("uid"), w["welcome"].get("peer", {}).get("admin"))
c.watch(%d)
fr = c.recv()
print(harness.frame_type(fr), fr.get("error", {}).get("code"), fr.get("error", {}).get("fatal"))
c.send(ping={"nonce": 5})
fr = c.recv()
print(harness.frame_type(fr))
''' % (os.path.dirname(os.path.abspath(__file__)), __import__("harness").CFG.proto, d.socket, t.pid)
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        nobody_python(), "-c", code], capture_output=True, timeout=T_STEP)
    out = p.stdout.decode().split("\n")
    check(p.returncode == 0, "raw client as nobody failed: %s %s" % (p.stdout, p.stderr))
    check(out[0] == "uid 65534 False", "Welcome.peer: %r" % out[0])
    check(out[1].startswith("error ERROR_PERMISSION_DENIED"), "Watch answer: %r" % out[1])
    check(out[2] == "pong", "connection unusable after a refused watch: %r" % out[2])


def test_nobody_own_target_no_raw_pfns():
    d = Daemon()
    t = Target(user=NOBODY_UID)
    a, _ = t.step("mmap-anon 8")
    t.step("touch-write 0x%x 8" % a)
    _, _, _, child = t.step("fork-cow 0x%x 8" % a)  # frames shared with a child
    z, _ = t.step("mmap-anon 4")
    t.step("touch-read 0x%x 4" % z)  # four pages on the one zero page
    t.step("mmap-file 4")  # private and shared mappings of one page-cache page
    t.stop()
    tr = read_truth_stable(t.pid)
    frames = {}
    for va, (fl, pfn) in tr.pages.items():
        frames.setdefault(pfn, []).append(va)
    check(any(len(v) > 1 for v in frames.values()),
          "workload did not produce pages sharing a frame (token equality untested)")
    try:
        def view():
            r = d.client("snapshot", t.pid, "--json", user=NOBODY_UID)
            check(r.rc == EXIT_OK, "nobody cannot snapshot its own process: %r" % r)
            snaps = [e for e in r.events() if e.get("event") == "snapshot"]
            check(len(snaps) == 1, "no snapshot event: %r" % r)
            vis = snaps[0].get("pfn_visibility")
            check(vis in ("token", "hidden"), "unprivileged viewer got pfn_visibility %r" % vis)
            view.vis = vis
            tb = table_from_snapshot_events([snaps[0]])
            return tb.vmas, tb.pages
        view.vis = None
        compare_until_stable(view, t.pid, pfn_mode="ignore")
        # Now the pfn check per announced visibility.
        compare_until_stable(view, t.pid, pfn_mode="token" if view.vis == "token" else "hidden")
    finally:
        t.cont()
    # Watching it live also works, with the same visibility.
    w = d.watcher(t.pid, user=NOBODY_UID)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    started = [e for e in w.events if e.get("event") == "started"]
    check(started and started[0].get("pfn_visibility") in ("token", "hidden"),
          "started event: %s" % short(started))
    w.stop()
    # Root watching nobody's process gets raw pfns.
    r = d.client("snapshot", t.pid, "--json")
    snaps = [e for e in r.events() if e.get("event") == "snapshot"]
    check(r.rc == EXIT_OK and snaps and snaps[0].get("pfn_visibility") == "raw",
          "root viewer of nobody's target: %r" % r)


def test_nobody_cannot_peek_or_watch_other_uid():
    """A target of uid nobody is not visible to another unprivileged uid."""
    d = Daemon()
    t = Target(user=NOBODY_UID)
    r = d.client("snapshot", t.pid, user=65533)
    check(r.rc == EXIT_PERMISSION, "uid 65533 on nobody's target: %r" % r)


def test_non_dumpable_target():
    """Same uid is not enough: a non-dumpable process (it could hold
    secrets, e.g. after a setuid exec) is refused to unprivileged viewers,
    and a live watch ends when the target turns non-dumpable."""
    d = Daemon()
    t = Target(user=NOBODY_UID)
    a, _ = t.step("mmap-anon 4")
    w = d.watcher(t.pid, user=NOBODY_UID)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    t.step("dumpable 0")
    t.step("touch-write 0x%x 4" % a)  # changes the daemon must not show
    rc = w.wait_exit()
    check(rc == EXIT_PERMISSION, "watch of a process that became non-dumpable: exit %s, "
          "stderr %r" % (rc, w.stderr))
    with w.cond:
        leaked = [va for va in w.table.pages if a <= va < a + 4 * PAGE]
    check(not leaked, "pages written after the target became non-dumpable were shown")
    r = d.client("snapshot", t.pid, user=NOBODY_UID)
    check(r.rc == EXIT_PERMISSION, "snapshot of a non-dumpable process: %r" % r)
    r = d.client("snapshot", t.pid, "--json")
    check(r.rc == EXIT_OK, "root is still allowed: %r" % r)
    t.step("dumpable 1")
    r = d.client("snapshot", t.pid, user=NOBODY_UID)
    check(r.rc == EXIT_OK, "dumpable again, same uid: %r" % r)


def test_per_uid_connection_limit():
    """A uid cannot hold more than max_connections_per_uid connections."""
    d = Daemon()
    code = r'''
import sys, types, socket
sys.path.insert(0, %r)
import harness
harness.CFG = types.SimpleNamespace(proto=%r)
conns = []
limit = None
for i in range(400):
    try:
        c = harness.RawConn(%r, timeout=60)
    except OSError as e:
        print("oserror", i, e); break
    try:
        c.send(hello={"protocol_version": 1})
    except OSError:
        pass  # refused at accept: the Error is already waiting
    try:
        fr = c.recv()
    except OSError as e:
        print("oserror", i, e); break
    if fr is None:
        print("eof", i); break
    if harness.frame_type(fr) == "error":
        print("error", i, fr["error"].get("code")); break
    if limit is None:
        limit = fr["welcome"]["limits"]["max_connections_per_uid"]
    conns.append(c)
print("limit", limit, len(conns))
''' % (os.path.dirname(os.path.abspath(__file__)), __import__("harness").CFG.proto, d.socket)
    p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                        nobody_python(), "-c", code], capture_output=True, timeout=4 * T_STEP)
    out = p.stdout.decode().split("\n")
    check(p.returncode == 0, "raw client as nobody failed: %s %s" % (p.stdout, p.stderr[-500:]))
    lim = [ln for ln in out if ln.startswith("limit")]
    first = out[0].split()
    check(lim and first[0] == "error" and first[2] == "ERROR_LIMIT_EXCEEDED",
          "connection over the per-uid limit: %r" % out)
    limit, n = int(lim[0].split()[1]), int(lim[0].split()[2])
    check(n == limit, "nobody got %d connections, the limit is %d" % (n, limit))
    # Root (another uid) is not affected.
    r = d.client("status")
    check(r.rc == EXIT_OK, "root refused while nobody is at its limit: %r" % r)


CAP_DAC_READ_SEARCH, CAP_SYS_PTRACE, CAP_SYS_ADMIN = 2, 19, 21


def test_daemon_dropped_privileges():
    """As in production: started as root, the daemon becomes another user
    (here nobody) keeping only the capabilities it needs, with
    no_new_privs, and still serves root's and other users' processes."""
    d = Daemon(extra_args=["--user", "nobody"])
    st = proc_status(d.proc.pid)
    check(st["Uid"].split() == ["65534"] * 4, "daemon uids after the drop: %s" % st["Uid"])
    check(st["Gid"].split() == ["65534"] * 4, "daemon gids after the drop: %s" % st["Gid"])
    check(st.get("NoNewPrivs") == "1", "no_new_privs not set")
    eff = int(st["CapEff"], 16)
    allowed = (1 << CAP_SYS_ADMIN) | (1 << CAP_SYS_PTRACE) | (1 << CAP_DAC_READ_SEARCH)
    check(eff & ~allowed == 0, "daemon keeps capabilities beyond what it needs: %s" % st["CapEff"])
    check(int(st["CapBnd"], 16) & ~allowed == 0 or int(st["CapPrm"], 16) & ~allowed == 0,
          "daemon could regain capabilities: CapPrm %s" % st["CapPrm"])
    for user in (None, NOBODY_UID):
        t = Target(user=user)
        a, _ = t.step("mmap-anon 4")
        t.step("touch-write 0x%x 4" % a)
        t.stop()
        try:
            def view():
                r = d.client("snapshot", t.pid, "--json")
                check(r.rc == EXIT_OK, "root viewer, target uid %s: %r\ndaemon log:\n%s" %
                      (user or 0, r, d.log()[-800:]))
                snaps = [e for e in r.events() if e.get("event") == "snapshot"]
                check(snaps and snaps[0].get("pfn_visibility") == "raw",
                      "root viewer did not get raw pfns: %r" % r)
                tb = table_from_snapshot_events([snaps[0]])
                return tb.vmas, tb.pages
            compare_until_stable(view, t.pid)
        finally:
            t.cont()


def test_status_shows_only_own_sessions():
    """status: another user's pid and range are not shown to a non-admin,
    only the sessions its uid watches (from any of its connections); root
    sees all, with who pays for them; and everyone hears whether the
    kernel table is held."""
    d = Daemon()
    tn, tr = Target(user=NOBODY_UID), Target()
    wn = d.watcher(tn.pid, user=NOBODY_UID)
    wr = d.watcher(tr.pid)
    for w in (wn, wr):
        w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    r = d.client("status", "--json", user=NOBODY_UID)
    check(r.rc == EXIT_OK, "nobody's status: %r" % r)
    st = r.events()[0]
    pids = [s["pid"] for s in st["session_list"]]
    check(pids == [tn.pid] and st["sessions"] == 2,
          "nobody sees sessions %s of %d (its own: %d)" % (pids, st["sessions"], tn.pid))
    check(st["session_list"][0]["owner_uid"] is None and
          st["session_list"][0]["memory_bytes"] > 0, "nobody's session: %s" % st["session_list"])
    check(st["kernel_table"] == {"busy": False, "uid": None}, "kernel table: %s" % st)
    r = d.client("status", user=NOBODY_UID)
    check(r.rc == EXIT_OK and "pid=%d " % tr.pid not in r.out and "pid=%d " % tn.pid in r.out
          and "kernel table free" in r.out, "nobody's text status: %r" % r)
    r = d.client("status", "--json")
    owners = {s["pid"]: s["owner_uid"] for s in r.events()[0]["session_list"]}
    check(owners == {tn.pid: NOBODY_UID, tr.pid: 0}, "root sees the owners %s" % owners)
    wn.stop()
    wr.stop()


if __name__ == "__main__":
    main([test_status_shows_only_own_sessions, test_nobody_refused_root_target, test_nobody_raw_protocol_refused,
          test_nobody_own_target_no_raw_pfns, test_nobody_cannot_peek_or_watch_other_uid,
          test_daemon_dropped_privileges, test_non_dumpable_target,
          test_per_uid_connection_limit])
