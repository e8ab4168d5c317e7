# SPDX-License-Identifier: GPL-2.0-or-later
"""The workload script shared by the snapshot and watch step tests: drives
the target through every change the model tracks, one step at a time, and
calls observe(target, label) after each step (with the target running;
observe stops it as it needs)."""

from harness import PAGE, TestFailure, check, read_truth_stable, log


def run_workload(t, observe, observe_pid=None):
    """observe(pid, label). observe_pid(pid, label) observes another process
    (the fork-cow child) when given."""
    pid = t.pid
    observe(pid, "start")

    a, e = t.step("mmap-anon 16")
    check(e - a == 16 * PAGE, "mmap-anon printed a wrong range")
    observe(pid, "mmap-anon 16 (untouched)")

    t.step("touch-read 0x%x 4" % a)
    observe(pid, "touch-read 4 (zero page)")

    t.step("touch-write 0x%x 8" % (a + 4 * PAGE))
    observe(pid, "touch-write 8")

    t.step("touch-write 0x%x 2" % a)
    observe(pid, "touch-write over zero-page mappings (new frames)")

    t.step("madvise-dontneed 0x%x 4" % (a + 4 * PAGE))
    observe(pid, "madvise-dontneed 4")

    t.step("thread-touch 0x%x 2" % (a + 4 * PAGE))
    observe(pid, "thread-touch 2 (faults from a second thread; its stack VMA gone)")

    hs, he = t.step("munmap-partial 0x%x 16" % a)
    observe(pid, "munmap-partial (VMA split)")

    t.step("mprotect 0x%x 2 r" % a)
    observe(pid, "mprotect r (VMA split by permissions)")

    t.step("munmap 0x%x 1" % (he))
    observe(pid, "munmap one page")

    b0, b1 = t.step("brk-grow 8")
    observe(pid, "brk-grow 8")
    t.step("brk-shrink 4")
    observe(pid, "brk-shrink 4")

    t.step("mmap-file 4")
    observe(pid, "mmap-file (private COW + shared)")

    t.step("mmap-shared-anon 4")
    observe(pid, "mmap-shared-anon 4")

    t.step("stack-grow 64")
    observe(pid, "stack-grow 64")

    c, ce = t.step("mmap-anon 4")
    t.step("touch-write 0x%x 4" % c)
    observe(pid, "region for fork-cow")
    before = frames(pid, c, 4)
    _, _, parent, child = t.step("fork-cow 0x%x 4" % c)
    check(parent == pid, "fork-cow: parent pid %d != target %d" % (parent, pid))
    observe(pid, "fork-cow (parent)")
    after = frames(pid, c, 4)
    child_frames = frames(child, c, 4)
    # Kernel behaviour the workload relies on; checked from /proc directly.
    check(after[0] == before[0], "fork-cow: parent page 0 frame changed")
    check(after[1] != before[1], "fork-cow: parent page 1 kept its frame after writing")
    check(child_frames[1] == before[1], "fork-cow: child lost the shared page 1 frame")
    check(child_frames[0] != before[0], "fork-cow: child page 0 was not copied")
    if observe_pid:
        observe_pid(child, "fork-cow (child)")
    t.step("reap")
    observe(pid, "child reaped (pages exclusive again)")

    # Kernels built without THP refuse MADV_HUGEPAGE: skip the step there.
    r = t.step_maybe("thp")
    if r is not None:
        observe(pid, "thp (2 MiB MADV_HUGEPAGE)")

    r = t.step_maybe("anon-name 0x%x 2 shadowpt-test" % c)
    if r is not None:
        observe(pid, "anon-name ([anon:shadowpt-test])")

    m0, m1 = t.step("mremap 0x%x 4 8" % c)
    observe(pid, "mremap 4 -> 8 pages")

    t.step("exec")
    observe(pid, "exec")

    x, _ = t.step("mmap-anon 8")
    t.step("touch-write 0x%x 8" % x)
    observe(pid, "after exec: mmap + touch")
    return x


def frames(pid, start, n):
    tr = read_truth_stable(pid, (start, start + n * PAGE))
    out = []
    for i in range(n):
        p = tr.pages.get(start + i * PAGE)
        if p is None:
            raise TestFailure("pid %d page 0x%x not mapped" % (pid, start + i * PAGE))
        out.append(p[1])
    return out
