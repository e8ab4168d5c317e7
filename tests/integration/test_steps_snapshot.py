#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Per workload step, `shadowctl snapshot PID --json` taken while the target
is stopped equals the /proc ground truth: VMAs (range, permissions, kind,
name) and per page the three spec flags and, as root, the raw pfn."""

from harness import (Daemon, Target, Table, check, compare_until_stable, main, EXIT_OK,
                     short, log, pmd_mapped_thp, PAGE)
import steps


def snapshot_view(d, pid, extra=()):
    r = d.client("snapshot", pid, "--json", *extra)
    check(r.rc == EXIT_OK, "snapshot failed: %r" % r)
    evs = r.events()
    snaps = [e for e in evs if e.get("event") == "snapshot"]
    check(len(snaps) == 1, "expected one snapshot event, got %s" %
          [e.get("event") for e in evs])
    s = snaps[0]
    check(s.get("pid") == pid, "snapshot pid %s != %d" % (s.get("pid"), pid))
    check(isinstance(s.get("seq"), int), "snapshot without an integer seq: %s" % short(s))
    check(s.get("pfn_visibility") == "raw",
          "root viewer got pfn_visibility %r" % s.get("pfn_visibility"))
    check(s.get("backend") == "procfs", "backend %r, expected procfs" % s.get("backend"))
    t = Table()
    t.apply_event(s)
    return t.vmas, t.pages, t.ext


def check_thp(d, pid, start):
    """If the kernel really backs [start, start+2 MiB) with one PMD-mapped
    huge page (smaps AnonHugePages, kpageflags THP), every 4 KiB subpage
    must be reported mapped, with its own consecutive pfn, flagged thp."""
    if not pmd_mapped_thp(pid, start):
        log("thp: the kernel did not back the region with a huge page; not checked")
        return
    vmas, pages, ext = snapshot_view(d, pid)
    base = pages.get(start)
    check(base is not None, "thp: first subpage not reported")
    for i in range(512):
        va = start + i * PAGE
        p = pages.get(va)
        check(p is not None and p[0] == 7 and p[1] == base[1] + i,
              "thp: subpage %d reported as %s (head pfn %s)" % (i, p, base[1]))
        check("thp" in ext.get(va, ()), "thp: subpage %d not flagged thp" % i)


def test_steps_snapshot():
    d = Daemon()
    t = Target()

    def observe(pid, label):
        stop = pid == t.pid
        if stop:
            t.stop()
        try:
            compare_until_stable(lambda: snapshot_view(d, pid), pid)
            if label.startswith("thp"):
                check_thp(d, pid, t.last[0])
        except AssertionError as e:
            raise AssertionError("after step %r: %s" % (label, e))
        finally:
            if stop:
                t.cont()
        d.check_alive()

    steps.run_workload(t, observe, observe_pid=observe)
    t.step("exit 0")


def test_snapshot_range():
    """A range inside one VMA: only that window, boundary VMA included."""
    d = Daemon()
    t = Target()
    a, e = t.step("mmap-anon 64")
    t.step("touch-write 0x%x 64" % a)
    rng = (a + 8 * 4096, a + 40 * 4096)
    t.stop()
    try:
        def view():
            vmas, pages, ext = snapshot_view(d, t.pid, ["--range", "0x%x:0x%x" % rng])
            for va in pages:
                check(rng[0] <= va < rng[1], "page 0x%x outside the range" % va)
            return vmas, pages, ext
        compare_until_stable(view, t.pid, rng)
    finally:
        t.cont()


if __name__ == "__main__":
    main([test_steps_snapshot, test_snapshot_range])
