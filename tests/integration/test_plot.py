#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""`shadowctl plot` of a recording of workload steps, checked in each
format by an outside reader: the SVG is valid XML (xmllint) and Debian's
chromium renders it headless to a picture; the PNG is decoded by a Python
decoder (pngread.py); in both, the marks fall where the workload's
addresses and steps were: written pages marked when they were written,
resident afterwards, zapped pages marked then pale, the unmapped range
white again. The PDF is a PDF."""

import json
import os
import shutil
import subprocess
import tempfile
import time

from harness import (Daemon, Skip, Target, TestFailure, check, log, main, run_client, tmpdir,
                     wait_until, T_STEP, EXIT_OK, PAGE)
import pngread
import recording
from test_record_replay import Recorder

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                  "--force-device-scale-factor=1"]


def saturated(rgb):
    """An event mark: a strong colour, not the greys of the background."""
    return max(rgb) - min(rgb) >= 60


def near_white(rgb):
    return min(rgb) >= 240


def grey(rgb):
    return max(rgb) - min(rgb) < 40


def record_steps():
    """Records mmap, write, zap and munmap of one range, ~0.7 s apart;
    returns the recording's path, the range's address and the step times."""
    d = Daemon()
    t = Target()
    path = os.path.join(tmpdir(), "steps.rec")
    rec = Recorder(d, t.pid, path)
    rec.wait_snapshot()
    steps = {}

    def step(name, cmd):
        n = len(recording.frames(path))
        time.sleep(0.7)
        out = t.step(cmd)
        wait_until(lambda: len(recording.frames(path)) > n, T_STEP, "the delta of " + name)
        return out

    a, _ = step("mmap", "mmap-anon 64")
    step("write", "touch-write 0x%x 32" % a)
    step("zap", "madvise-dontneed 0x%x 16" % a)
    step("munmap", "munmap 0x%x 64" % a)
    time.sleep(0.7)
    t.send("exit 0")
    check(rec.wait() == EXIT_OK, "record: %s" % rec.stderr())
    # When each step's delta happened, as the plot places it (the event's
    # own time): how late it arrived on a loaded machine does not matter.
    t0 = recording.start_monotonic_ns(path)
    check(t0, "the recording's header has no start_monotonic_ns")
    for recv, f in recording.frames(path):
        recv = recording.frame_time(t0, recv, f)
        dl = f.get("delta")
        if not dl:
            continue
        added = [v for v in dl.get("vmas_added", []) if v["start"] <= a < v["end"]]
        removed = [v for v in dl.get("vmas_removed", []) if v["start"] <= a < v["end"]]
        pages = [(p["vaddr"], 1, p.get("flags", 0)) for p in dl.get("pages", [])]
        pages += [(r["vaddr"], r.get("count", 1), r.get("flags", 0)) for r in dl.get("runs", [])]
        touched = [p for p in pages if p[0] <= a + 8 * PAGE < p[0] + p[1] * PAGE]
        if added and "mmap" not in steps:
            steps["mmap"] = recv
        elif removed and "munmap" not in steps:
            steps["munmap"] = recv
        elif touched and touched[0][2] & 4 and "write" not in steps:
            steps["write"] = recv
        elif touched and not touched[0][2] & 4 and "write" in steps and "zap" not in steps:
            steps["zap"] = recv
    check(len(steps) == 4, "steps found in the recording: %s" % steps)
    return path, a, steps


def plot(path, out):
    r = run_client("/nonexistent", ["plot", path, "-o", out, "--json"])
    check(r.rc == EXIT_OK, "plot %s: %r" % (out, r))
    layout = json.loads(r.out)
    check(layout["event"] == "plot" and os.path.getsize(out) > 1000, "plot output: %s" % r.out)
    return layout


class Where:
    """Pixel positions of (address, time) in a plot, from its --json layout."""

    def __init__(self, layout, addr):
        self.l = layout
        bands = [b for b in layout["heat_map"]["regions"]
                 if int(b["start"], 16) <= addr < int(b["end"], 16)]
        check(len(bands) == 1, "no single band holds 0x%x: %s" % (addr, layout["heat_map"]))
        self.band = bands[0]

    def x(self, t_ns):
        ta = self.l["time_axis"]
        return ta["x0"] + (ta["x1"] - ta["x0"]) * t_ns / self.l["duration_ns"]

    def y(self, addr):
        b = self.band
        s, e = int(b["start"], 16), int(b["end"], 16)
        return b["y_bottom"] - (addr + PAGE / 2 - s) / (e - s) * (b["y_bottom"] - b["y_top"])


def check_picture(img, where, a, steps, what):
    """The marks at the workload's addresses and times, in img."""
    t = steps
    end = where.l["duration_ns"]

    def px(t_ns, addr):
        x, y = int(where.x(t_ns)), int(where.y(addr))
        check(0 <= x < img.width and 0 <= y < img.height, "%s: (%d, %d) outside" % (what, x, y))
        return img.pixel(x, y)

    def marked(t_ns, addr, label):
        # binned in a column of its own time; a few pixels of slack either way
        x, y = where.x(t_ns), int(where.y(addr))
        seen = [img.pixel(int(x) + dx, y) for dx in range(-10, 3)]
        check(any(saturated(c) for c in seen), "%s: no mark for %s at 0x%x, x %.0f y %d: %s" %
              (what, label, addr, x, y, seen))

    before = px(t["mmap"] / 2, a)
    check(near_white(before), "%s: 0x%x before its mmap is %s, expected white" % (what, a, before))
    marked(t["write"], a + 4 * PAGE, "the write fault")
    marked(t["write"], a + 24 * PAGE, "the write fault")
    resident = px((t["write"] + t["zap"]) / 2, a + 24 * PAGE)
    check(grey(resident) and max(resident) < 215,
          "%s: written page between write and zap is %s, expected resident grey" %
          (what, resident))
    unwritten = px((t["write"] + t["zap"]) / 2, a + 48 * PAGE)
    check(grey(unwritten) and max(unwritten) > max(resident),
          "%s: unwritten page %s is not paler than a resident one %s" %
          (what, unwritten, resident))
    marked(t["zap"], a + 8 * PAGE, "the zap")
    zapped = px((t["zap"] + t["munmap"]) / 2, a + 8 * PAGE)
    check(grey(zapped) and max(zapped) > max(resident),
          "%s: zapped page %s should be back to allocated" % (what, zapped))
    marked(t["munmap"], a + 24 * PAGE, "the munmap")
    after = px((t["munmap"] + end) / 2, a + 24 * PAGE)
    check(near_white(after), "%s: 0x%x after munmap is %s, expected white" % (what, a, after))
    check(len(img.colours()) > 20, "%s: a nearly blank picture" % what)


def test_plot_png_svg_pdf():
    path, a, steps = record_steps()
    out = tmpdir()
    log("steps (ns since the start): %s" % steps)

    png = os.path.join(out, "steps.png")
    layout = plot(path, png)
    img = pngread.read(png)
    check((img.width, img.height) == (layout["width"], layout["height"]),
          "PNG size %dx%d, layout %sx%s" % (img.width, img.height, layout["width"],
                                            layout["height"]))
    where = Where(layout, a)
    check_picture(img, where, a, steps, "PNG")

    svg = os.path.join(out, "steps.svg")
    layout_svg = plot(path, svg)
    check(layout_svg["heat_map"] == layout["heat_map"], "SVG and PNG layouts differ")
    p = subprocess.run(["xmllint", "--noout", svg], capture_output=True)
    check(p.returncode == 0, "xmllint: %s" % p.stderr.decode()[:500])
    shot = os.path.join(out, "svg-in-chromium.png")
    chromium_screenshot(svg, shot, layout["width"], layout["height"])
    img = pngread.read(shot)
    check(img.width >= layout["width"] and img.height >= layout["height"],
          "screenshot %dx%d" % (img.width, img.height))
    check_picture(img, where, a, steps, "SVG in chromium")

    pdf = os.path.join(out, "steps.pdf")
    plot(path, pdf)
    data = open(pdf, "rb").read()
    check(data.startswith(b"%PDF-") and b"%%EOF" in data[-64:] and b"/Type /Page" in data,
          "not a one-page PDF")


def chromium_screenshot(svg, shot, width, height):
    exe = shutil.which("chromium")
    if not exe:
        raise Skip("chromium is not installed (scripts/deps.sh test)")
    profile = tempfile.mkdtemp(prefix="spt-chromium-")
    try:
        p = subprocess.run([exe] + CHROMIUM_FLAGS +
                           ["--user-data-dir=" + profile,
                            "--window-size=%d,%d" % (width, height),
                            "--screenshot=" + shot, "file://" + svg],
                           capture_output=True, timeout=180, cwd=profile)
    except subprocess.TimeoutExpired:
        raise TestFailure("chromium did not finish within 180 s")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    check(p.returncode == 0 and os.path.exists(shot),
          "chromium: rc %s, %s" % (p.returncode, p.stderr.decode()[-800:]))


if __name__ == "__main__":
    main([test_plot_png_svg_pdf])
