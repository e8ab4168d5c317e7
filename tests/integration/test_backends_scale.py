#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Backend choice on this (stock) kernel and the sparse model's promise:
`auto` falls back to procfs and says why, an explicit `kernel` request is a
clear error when the kernel lacks the syscalls; a huge reservation (64 GiB
PROT_NONE, like a JVM heap) costs the daemon almost no memory and shows as
one VMA without page entries."""

from harness import (Daemon, Target, Skip, table_from_snapshot_events, check, compare_until_stable,
                     frame_type, main, proc_status, raw_status, short, EXIT_OK, EXIT_RUNTIME,
                     EXIT_USAGE, PAGE, T_STEP)


def kernel_backend_available(d):
    c = d.connect()
    try:
        w = c.hello()["welcome"]
    finally:
        c.close()
    return "BACKEND_KERNEL" in w.get("backends", []), w.get("kernel_unavailable_reason", "")


def test_auto_falls_back_to_procfs():
    d = Daemon(extra_args=["--backend", "auto"])
    avail, why = kernel_backend_available(d)
    if avail:
        raise Skip("this kernel has the shadowpt syscalls")
    check(why, "Welcome gives no reason why the kernel backend is unavailable")
    t = Target()
    a, _ = t.step("mmap-anon 4")
    for args in ([], ["--range", "0x%x:0x%x" % (a, a + 4 * PAGE)]):
        r = d.client("snapshot", t.pid, "--json", *args)
        check(r.rc == EXIT_OK, "%r" % r)
        snap = r.events()[0]
        check(snap["backend"] == "procfs", "auto chose %r" % snap["backend"])
        check(snap["backend_reason"], "no backend_reason for the fallback")
    st = raw_status(d)
    check(st.get("default_backend") == "BACKEND_AUTO", "default backend %s" %
          st.get("default_backend"))


def test_kernel_backend_refused_clearly():
    d = Daemon(extra_args=["--backend", "auto"])
    avail, _ = kernel_backend_available(d)
    if avail:
        raise Skip("this kernel has the shadowpt syscalls")
    t = Target()
    a, _ = t.step("mmap-anon 4")
    r = d.client("snapshot", t.pid, "--backend", "kernel", "--range",
                 "0x%x:0x%x" % (a, a + 4 * PAGE))
    check(r.rc in (EXIT_RUNTIME, EXIT_USAGE), "kernel backend on a stock kernel: %r" % r)
    check("kernel" in r.err.lower() and len(r.err.strip().splitlines()) == 1,
          "unclear error: %r" % r.err)
    c = d.connect()
    c.hello()
    c.watch(t.pid, (a, a + 4 * PAGE), backend="BACKEND_KERNEL")
    fr = c.recv()
    check(frame_type(fr) == "error" and fr["error"].get("code") == "ERROR_BACKEND_UNAVAILABLE"
          and not fr["error"].get("fatal"), "raw Watch with backend kernel: %s" % short(fr))
    d.check_alive()


def vm_hwm_kb(pid):
    return int(proc_status(pid).get("VmHWM", "0 kB").split()[0])


def test_huge_reservation_is_cheap():
    d = Daemon()
    t = Target()
    res, res_end = t.step("mmap-reserve %d" % (16 << 20))  # 64 GiB
    a, _ = t.step("mmap-anon 16")
    t.step("touch-write 0x%x 16" % a)
    before = vm_hwm_kb(d.proc.pid)
    w = d.watcher(t.pid)
    w.wait_for(lambda w_: w_.table.snapshots >= 1, T_STEP, "the first snapshot")
    t.step("touch-write 0x%x 1" % a)
    t.stop()
    try:
        def view():
            r = d.client("snapshot", t.pid, "--json")
            check(r.rc == EXIT_OK, "%r" % r)
            snap = r.events()[0]
            check(snap["chunks"] == 1, "a sparse table needed %d chunks" % snap["chunks"])
            tb = table_from_snapshot_events([snap])
            return tb.vmas, tb.pages
        compare_until_stable(view, t.pid)
    finally:
        t.cont()
    vma = [v for s, v in w.table.vmas.items() if s == res]
    check(vma and vma[0][0] == res_end and vma[0][1] == "---p",
          "the 64 GiB reservation is not one ---p VMA in the watch: %s" % vma)
    check(not [va for va in w.table.pages if res <= va < res_end],
          "page entries inside an untouched reservation")
    grown = vm_hwm_kb(d.proc.pid) - before
    check(grown < 64 * 1024, "the daemon's peak memory grew by %d KiB for a 64 GiB reservation "
          "(per-page cost for unpopulated memory?)" % grown)
    st = raw_status(d)
    sess = [s for s in st.get("session", []) if s.get("pid") == t.pid]
    check(sess and sess[0].get("mapped_pages", 0) < 100000,
          "session counts %s mapped pages" % (sess and sess[0].get("mapped_pages")))
    w.stop()


if __name__ == "__main__":
    main([test_auto_falls_back_to_procfs, test_kernel_backend_refused_clearly,
          test_huge_reservation_is_cheap])
