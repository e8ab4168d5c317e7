#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The live view (`shadowctl watch` and `replay` on a terminal) driven in
tmux against the real daemon and a real target: after each key
(send-keys) the screen (capture-pane) shows what that key is for. Zoom,
the cursor and its detail pane, go to an address, the hex view of a page
(Peek), next VMA, next changed page, pause, help, per-VMA resident
counts, a long VMA name with a C1 control character (escaped, cut, never
wrapped), quitting; and in a replay: pause, step, seek and speed."""

import os
import re
import shlex
import shutil
import subprocess
import time

import harness
from harness import (Daemon, Skip, Target, TestFailure, at_exit, check, log, main,
                     tmpdir, wait_until, PAGE, T_STEP)
import recording
from test_record_replay import Recorder

WIDTH, HEIGHT = 200, 50


class Tmux:
    """One tmux server on a private socket, one window running cmd."""

    def __init__(self, cmd, width=WIDTH, height=HEIGHT):
        if not shutil.which("tmux"):
            raise Skip("tmux is not installed (scripts/deps.sh test)")
        self.sock = os.path.join(tmpdir(), "tmux")
        env = "LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=screen"
        shell = "%s %s; echo EXITED $?; sleep 600" % (env, cmd)
        subprocess.run(self.tmux("-f", "/dev/null", "new-session", "-d", "-s", "v", "-x",
                                 str(width), "-y", str(height), shell), check=True)
        at_exit(lambda: subprocess.run(self.tmux("kill-server"), capture_output=True))

    def tmux(self, *args):
        return ["tmux", "-S", self.sock] + list(args)

    def capture(self):
        p = subprocess.run(self.tmux("capture-pane", "-p", "-t", "v"), capture_output=True)
        return p.stdout.decode("utf-8", "replace")

    def screen(self):
        """The screen once two captures 20 ms apart agree: not one caught mid-redraw."""
        s = self.capture()
        for _ in range(50):
            time.sleep(0.02)
            again = self.capture()
            if again == s:
                break
            s = again
        # a sanitizer report goes to the terminal: it fails the test at once
        check("runtime error" not in s and "Sanitizer" not in s, "sanitizer report:\n" + s)
        return s

    def keys(self, *keys):
        subprocess.run(self.tmux("send-keys", "-t", "v") + list(keys), check=True)

    def wait(self, pred, what, timeout=T_STEP):
        """Polls the screen until pred(screen) holds; returns the screen."""
        last = {}

        def ok():
            last["s"] = self.screen()
            return pred(last["s"])
        try:
            wait_until(ok, timeout, what)
        except TestFailure as e:
            raise TestFailure("%s\n--- screen ---\n%s" % (e, last.get("s", "")))
        return last["s"]

    def wait_text(self, text, what=None, timeout=T_STEP):
        return self.wait(lambda s: text in s, what or "%r on the screen" % text, timeout)


def watch_cmd(d, pid, *args):
    return " ".join(shlex.quote(a) for a in
                    [harness.CFG.client, "--socket", d.socket, "watch", str(pid)] + list(args))


def detail_page(screen):
    """The address in the detail pane's first line."""
    m = re.search(r"page   ([0-9a-f]{12})", screen)
    return int(m.group(1), 16) if m else None


def test_live_view_keys():
    d = Daemon()
    # A directory name with a C1 control character (CSI) and more than a
    # screen's width of letters: the mmap-file VMA is named after it.
    t = Target(tmp_subdir=b"\xc2\x9b" + b"long" * 60)
    a, _ = t.step("mmap-anon 64")
    t.step("touch-write 0x%x 8" % a)
    priv = t.step("mmap-file 4")[0]
    tm = Tmux(watch_cmd(d, t.pid))
    # A screen caught mid-redraw may lack the last lines: wait for all of it.
    s = tm.wait(lambda s_: "zoom 1 page/cell" in s_ and "? help" in s_ and "zero page" in s_ and
                "shared frame" in s_, "the live view with its legend listing the glyphs")
    check("pid %d (target)" % t.pid in s, "header names the target")

    # Per-VMA rows: resident / total pages.
    maps = [(v["start"], v["end"]) for v in harness.read_maps(t.pid)]
    vma = next(v for v in maps if v[0] <= a < v[1])
    rows = [ln for ln in s.splitlines() if ln.startswith("%012x-%012x" % (vma[0], vma[1]))]
    check(rows and re.search(r" \d+/%d resident" % ((vma[1] - vma[0]) // PAGE), rows[0]),
          "the VMA's row says resident/total: %s" % rows[:1])

    # The long name with C1: escaped, cut to the width, not wrapped.
    lines = s.splitlines()
    named = [i for i, ln in enumerate(lines) if "\\xc2\\x9blonglong" in ln and "-" in ln[:26]]
    check(named, "the file VMA's row shows the name with C1 escaped:\n%s" % s)
    i = named[0]
    check(i + 1 < len(lines) and re.match(r"[0-9a-f]{12} ", lines[i + 1]),
          "the row after the long name is the VMA's cells, not a wrapped name: %r" %
          lines[i + 1:i + 2])
    check("shadowpt-target-" not in s, "the long name is cut, not wrapped")

    # g: go to the written range; the pane shows the page.
    tm.keys("g")
    tm.wait_text("go to address", "the address prompt")
    tm.keys("%x" % a, "Enter")
    s = tm.wait(lambda s: detail_page(s) == a, "the cursor at 0x%x" % a)
    check("allocated,anonymous,mapped," in s and "frame  pfn 0x" in s,
          "detail pane: flags and frame of a written page")
    check("vma    %012x-%012x" % (vma[0], vma[1]) in s, "detail pane: the VMA")
    check(re.search(r"\d+ of %d pages resident" % ((vma[1] - vma[0]) // PAGE), s),
          "detail pane: resident pages of the VMA")
    tm.keys("Right")
    tm.wait(lambda s: detail_page(s) == a + PAGE, "right moves one page")
    tm.keys("Left")
    tm.wait(lambda s: detail_page(s) == a, "left moves back")

    # x: the page's bytes through Peek; touch-write put 'w' at offset 0.
    tm.keys("x")
    s = tm.wait_text("%016x  77 00" % a, "the hex view of 0x%x" % a)
    check("through peek" in s and "|w..." in s, "hex view title and ASCII column")
    tm.keys("Escape")
    tm.wait(lambda s: "through peek" not in s and detail_page(s) == a, "Esc closes the hex view")

    # Zoom: 8, 64, then back.
    tm.keys("-")
    s = tm.wait_text("zoom 8 pages/cell")
    check("none mapped" in s and "some mapped" in s and "all mapped" in s,
          "zoomed out: the legend of some/all mapped")
    tm.keys("-")
    tm.wait_text("zoom 64 pages/cell")
    check(re.search(r"cell   \d+ pages, \d+ mapped", tm.screen()), "the pane sums the cell")
    tm.keys("+", "+")
    tm.wait_text("zoom 1 page/cell")

    # n: the next VMA (from /proc); N back.
    after = [v for v in maps if v[0] >= vma[1]]
    if after:
        tm.keys("n")
        tm.wait(lambda s: detail_page(s) == after[0][0], "n: the next VMA, 0x%x" % after[0][0])
        tm.keys("N")
        tm.wait(lambda s: detail_page(s) == vma[0], "N: back to this VMA's start")

    # c: the page that just changed, with when and why.
    tm.keys("g", "%x" % a, "Enter")
    tm.wait(lambda s: detail_page(s) == a, "back at 0x%x" % a)
    seq = int(re.search(r"seq (\d+)", tm.screen()).group(1))
    t.step("touch-write 0x%x 1" % (a + 20 * PAGE))
    tm.wait(lambda s: int(re.search(r"seq (\d+)", s).group(1)) > seq, "the delta")
    tm.keys("c")
    s = tm.wait(lambda s: detail_page(s) == a + 20 * PAGE, "c: the page that changed")
    check(re.search(r"change \d+\.\d s ago", s), "the pane says when it changed")

    # p: the screen stops following; deltas keep counting.
    tm.keys("p")
    s = tm.wait_text("PAUSED", "pause")
    seq = int(re.search(r"seq (\d+)", s).group(1))
    t.step("touch-write 0x%x 1" % (a + 30 * PAGE))
    s = tm.wait(lambda s: re.search(r"PAUSED \([1-9]\d* deltas since", s), "deltas behind")
    check(int(re.search(r"seq (\d+)", s).group(1)) == seq, "paused: the shown seq stays")
    tm.keys("p")
    tm.wait(lambda s: "PAUSED" not in s and int(re.search(r"seq (\d+)", s).group(1)) > seq,
            "resumed: the screen catches up")

    # ?: help, any key closes it.
    tm.keys("?")
    s = tm.wait_text("Keys (any key closes this help)")
    check("zoom in or out" in s and "hex view" in s and "Cells of several pages" in s,
          "help: keys and glyphs")
    tm.keys("Escape")
    tm.wait(lambda s: "any key closes" not in s, "help closed")

    tm.keys("q")
    s = tm.wait_text("EXITED", "shadowctl to quit")
    check("EXITED 0" in s, "q: exit status 0")
    log("private file mapping at 0x%x" % priv)


def test_keys_while_a_big_snapshot_streams():
    """300k pages in about 100k runs (11 MB of JSON): the keyboard answers
    before and while the snapshot arrives."""
    d = Daemon()
    t = Target()
    a, _ = t.step("mmap-anon 300000")
    t.step("touch-every 0x%x 300000 1" % a)
    tm = Tmux(watch_cmd(d, t.pid))
    tm.keys("?")  # at once: before or while the snapshot streams in
    s = tm.wait_text("Keys (any key closes this help)", "help while the snapshot streams in",
                     timeout=60)
    log("help shown %s the snapshot was complete" %
        ("before" if "VMAs 0 " in s else "after"))
    tm.keys("Escape", "-", "-", "-")
    s = tm.wait_text("zoom 512 pages/cell", timeout=60)
    if "receiving the snapshot" in s:
        log("zoomed out while the snapshot was still coming in")
    s = tm.wait(lambda s: re.search(r"mapped (\d+)", s) and
                int(re.search(r"mapped (\d+)", s).group(1)) >= 300000,
                "the whole snapshot", timeout=120)
    check("zoom 512 pages/cell" in s and "#" in s, "zoomed out: cells of 512 pages, all mapped")
    tm.keys("q")
    tm.wait_text("EXITED 0")


def test_keys_during_a_slow_snapshot():
    """client/fake-daemon holds back a snapshot's last chunk for 3 s: the
    keys work meanwhile, and the map comes when the chunk does."""
    fake = os.path.join(os.path.dirname(harness.CFG.client), "fake-daemon")
    sock = os.path.join(tmpdir(), "fake.sock")
    p = subprocess.Popen([fake, sock, "slow-snapshot"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    at_exit(lambda: p.poll() is None and p.kill())
    check(p.stdout.readline().strip() == b"ready", "fake daemon ready")
    tm = Tmux(" ".join(shlex.quote(x) for x in [harness.CFG.client, "--socket", sock, "watch",
                                                "42"]))
    tm.wait_text("receiving the snapshot", "the first chunks")
    tm.keys("?")
    s = tm.wait_text("Keys (any key closes this help)", "help while the snapshot streams in")
    check("VMAs 0 " in s, "the snapshot is still incomplete while help shows:\n%s" % s)
    tm.keys("Escape", "-")
    s = tm.wait_text("zoom 8 pages/cell")
    check("receiving the snapshot" in s, "zoomed while the snapshot is incomplete")
    tm.wait_text("VMAs 2 ", "the snapshot, once its last chunk came", timeout=30)
    tm.keys("q")
    tm.wait_text("EXITED 0")


def test_replay_controls():
    d = Daemon()
    t = Target()
    path = os.path.join(tmpdir(), "r.rec")
    rec = Recorder(d, t.pid, path)
    rec.wait_snapshot()
    a, _ = t.step("mmap-anon 16")
    for i in range(6):
        time.sleep(0.4)
        n = len(recording.frames(path))
        t.step("touch-write 0x%x 1" % (a + i * PAGE))
        wait_until(lambda: len(recording.frames(path)) > n, T_STEP, "the delta recorded")
    time.sleep(0.4)
    rec.proc.send_signal(2)
    rec.wait()
    tm = Tmux(" ".join(shlex.quote(x) for x in [harness.CFG.client, "replay", path, "--speed", "0.25"]))
    s = tm.wait_text("REPLAY", "the replay's status line")
    tm.keys("p")
    s = tm.wait_text("PAUSED")
    pos = float(re.search(r"REPLAY (\d+\.\d)/", s).group(1))
    time.sleep(1)
    check(float(re.search(r"REPLAY (\d+\.\d)/", tm.screen()).group(1)) == pos,
          "paused: the position stays")
    seq = int(re.search(r"seq (\d+)", tm.screen()).group(1))
    tm.keys(".")
    tm.wait(lambda s: int(re.search(r"seq (\d+)", s).group(1)) == seq + 1, ". steps one delta")
    tm.keys("t")
    tm.wait_text("seek to time")
    tm.keys("0.1", "Enter")
    s = tm.wait(lambda s: re.search(r"REPLAY 0\.1/", s), "seek to 0.1 s")
    tm.keys(">", ">")
    tm.wait_text("x1 ", "two > double the speed twice: x1")
    tm.keys("p")
    tm.wait(lambda s: "PAUSED" not in s, "resumed")
    tm.keys("x")
    tm.wait_text("page contents are not in recordings", "no hex view in a replay")
    tm.keys("Escape", "q")
    tm.wait_text("EXITED 0")


if __name__ == "__main__":
    main([test_live_view_keys, test_keys_while_a_big_snapshot_streams,
          test_keys_during_a_slow_snapshot, test_replay_controls])
