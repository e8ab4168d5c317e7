#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Daemon lifecycle: socket activation (sd_listen_fds via
systemd-socket-activate), SIGTERM shutdown (viewers told, exit 0, socket
removed), SIGTERM at any moment of startup, stale socket files, the
client's seccomp sandbox."""

import os
import shutil
import signal
import socket
import subprocess
import time

from harness import (CFG, Daemon, Target, check, error_of, frame_type, main,
                     run_client, short, tmpdir, wait_until, at_exit, _kill_proc,
                     daemon_default_args, EXIT_OK, PAGE, T_START, T_STEP, T_CLIENT)
import harness


def test_socket_activation():
    exe = shutil.which("systemd-socket-activate")
    check(exe, "systemd-socket-activate not installed (scripts/deps.sh installs systemd)")
    d = tmpdir()
    sock = os.path.join(d, "act.sock")
    log = open(os.path.join(d, "log"), "wb")
    # No --socket: the listening fd comes from LISTEN_FDS.
    p = subprocess.Popen([exe, "-l", sock, harness.CFG.daemon] + daemon_default_args(),
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    at_exit(lambda: _kill_proc(p))
    wait_until(lambda: os.path.exists(sock), T_START, "systemd-socket-activate to listen")
    t = Target()
    r = run_client(sock, ["snapshot", t.pid, "--json"])
    check(r.rc == EXIT_OK, "snapshot through a socket-activated daemon: %r\nlog: %s" %
          (r, open(os.path.join(d, "log"), "rb").read()[-2000:]))
    snaps = [e for e in r.events() if e.get("event") == "snapshot"]
    check(snaps and snaps[0].get("pid") == t.pid and snaps[0].get("vmas"),
          "no usable snapshot: %r" % r)
    # A second client is served by the same daemon instance.
    r = run_client(sock, ["status", "--json"])
    check(r.rc == EXIT_OK, "status: %r" % r)
    p.send_signal(signal.SIGTERM)
    rc = p.wait(timeout=T_START)
    check(rc == 0, "socket-activated daemon exit status %s" % rc)


def test_sigterm_shutdown():
    d = Daemon()
    t = Target()
    ws = [d.watcher(t.pid) for _ in range(3)]
    for w in ws:
        w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    raw = d.connect()
    raw.hello()
    raw.watch(t.pid)
    raw.recv_until(lambda f: frame_type(f) == "snapshot", what="raw snapshot")
    rc = d.stop(signal.SIGTERM)
    check(rc == 0, "shadowptd exit status %s after SIGTERM\n%s" % (rc, d.log()))
    check(not os.path.exists(d.socket), "socket file %s left behind" % d.socket)
    for i, w in enumerate(ws):
        wrc = w.wait_exit()
        errs = [e for e in w.events if e.get("event") == "error"]
        check(errs and errs[-1].get("code_name", "").upper().find("SHUTTING") >= 0
              or "shut" in w.stderr.decode("utf-8", "replace").lower(),
              "viewer %d was not told about the shutdown: events %s stderr %r" %
              (i, [short(e, 150) for e in w.events[-2:]], w.stderr))
        check(wrc != 0 or errs, "viewer %d: exit %s" % (i, wrc))
    frames = raw.expect_eof(timeout=T_STEP)
    errs = [f for f in frames if frame_type(f) == "error"]
    check(errs and error_of(errs[-1])[0] == "ERROR_SHUTTING_DOWN",
          "raw viewer: no ERROR_SHUTTING_DOWN before close: %s" %
          [short(f, 120) for f in frames[-3:]])


def test_sd_notify():
    """READY=1 once serving, STATUS= lines, WATCHDOG=1 pings when systemd
    asks for them, STOPPING=1 at shutdown."""
    d = Daemon(env_extra={"WATCHDOG_USEC": "400000"})  # pings every 200 ms
    t = Target()
    w = d.watcher(t.pid)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    check(d.notified("READY=1"), "no READY=1")
    wait_until(lambda: len(d.notified("WATCHDOG=1")) >= 2, T_STEP, "two WATCHDOG=1 pings")
    wait_until(lambda: d.notified("STATUS="), T_STEP, "a STATUS= line")
    w.stop()
    rc = d.stop(signal.SIGTERM)
    check(rc == 0, "exit status %s" % rc)
    check(d.notified("STOPPING=1"), "no STOPPING=1 at shutdown: %s" % d.notifications())


def test_sigint_shutdown_idle():
    d = Daemon()
    rc = d.stop(signal.SIGINT)
    check(rc == 0, "exit status %s after SIGINT" % rc)
    check(not os.path.exists(d.socket), "socket file left behind")


def test_sigterm_during_startup():
    """SIGTERM at any moment of startup: the daemon either dies before it
    created its socket or shuts down cleanly (exit 0); it never leaves
    the socket file behind."""
    outcomes = {}
    for i in range(40):
        d = Daemon(wait=False)
        time.sleep(i * 0.0005)
        d.send_signal(signal.SIGTERM)
        rc = d.stop(timeout=T_START)
        check(rc in (0, -signal.SIGTERM), "start %d: exit status %s:\n%s" % (i, rc, d.log()))
        check(not os.path.exists(d.socket),
              "start %d: socket left behind (exit status %s)" % (i, rc))
        outcomes[rc] = outcomes.get(rc, 0) + 1
    harness.log("exit statuses over 40 starts: %s" % outcomes)


def test_stale_socket_replaced():
    """A socket file left by a dead daemon does not prevent a new start,
    but a live daemon's socket is not stolen."""
    dd = tmpdir()
    os.chmod(dd, 0o777)  # the dropped daemon removes its socket at exit
    path = os.path.join(dd, "stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()  # bound, never listening: stale
    d = Daemon(socket_path=path)
    r = d.client("status")
    check(r.rc == EXIT_OK, "status on a daemon that replaced a stale socket: %r" % r)
    # A second daemon on the same live socket must refuse and leave it alone.
    log = open(os.path.join(dd, "second.log"), "wb")
    p = subprocess.Popen([harness.CFG.daemon, "--socket", path] + daemon_default_args(),
                         stdout=log, stderr=subprocess.STDOUT)
    at_exit(lambda: _kill_proc(p))
    try:
        rc = p.wait(timeout=T_START)
    except subprocess.TimeoutExpired:
        raise AssertionError("a second daemon started on a live socket")
    check(rc != 0, "second daemon exit status 0 on a live socket")
    r = d.client("status")
    check(r.rc == EXIT_OK, "the first daemon lost its socket: %r" % r)


def test_client_sandbox_kills_forbidden_syscall():
    d = Daemon()
    t = Target()
    # "1": an openat() after the sandbox is up; "socket": a new socket.
    # Sanitizer builds allow read-only opens (their runtimes need them).
    with open(harness.CFG.client, "rb") as f:
        sanitized = b"__asan_init" in f.read()
    for what in (("socket",) if sanitized else ("1", "socket")):
        env = dict(os.environ, SHADOWCTL_SANDBOX_SELFTEST=what)
        for args in (["snapshot", t.pid, "--json"], ["status"], ["watch", t.pid, "--json"]):
            r = run_client(d.socket, args, env=env)
            check(r.rc == -signal.SIGSYS,
                  "shadowctl %s with sandbox selftest %r: status %s, expected death by "
                  "SIGSYS (%r)" % (args[0], what, r.rc, r))
    # Without the selftest the same commands succeed (the sandbox allows
    # everything a normal run needs).
    r = run_client(d.socket, ["snapshot", t.pid, "--json"])
    check(r.rc == EXIT_OK, "snapshot without selftest: %r" % r)


if __name__ == "__main__":
    main([test_socket_activation, test_sigterm_shutdown, test_sd_notify, test_sigint_shutdown_idle,
          test_sigterm_during_startup, test_stale_socket_replaced, test_client_sandbox_kills_forbidden_syscall])
