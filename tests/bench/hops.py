# SPDX-License-Identifier: GPL-2.0-or-later
"""Where a change's time goes, hop by hop: bench-latency --hops.

Records, with tracefs, for one target, shadowptd and one viewer:

  fault   the target's page fault in the window (exceptions:page_fault_user)
  reader  the session's reader thread switched in (sched_switch)
  posted  the reader writes its message to the loop's pipe (write)
  loop    the daemon's loop thread switched in
  sent    the loop writes to the viewer's socket (write/sendmsg)
  viewer  the viewer switched in
  read    the viewer's read of the socket returned

and prints, over the trials, the median and p90 of each step, and how
often the hop to the viewer crossed CPUs (a wakeup of an idle CPU: in a
VM that halts idle vCPUs, the dearest step). x86-64 only (syscall
numbers, the page-fault tracepoint). The trace costs a few microseconds
per event itself, so the total reads a little higher than without it.
"""

import os
import re

T = "/sys/kernel/tracing"
# x86-64 syscall numbers.
WRITES = (1, 20, 44, 46)  # write, writev, sendto, sendmsg
READS = (0, 19, 45, 47)   # read, readv, recvfrom, recvmsg
STEPS = ("reader", "posted", "loop", "sent", "viewer", "read")  # after "fault"
LINE = re.compile(r"^\s*.+?-(\d+)\s+\[(\d+)\]\s+\S+\s+([\d.]+):\s+(\w+):\s*(.*)$")


def _w(path, value):
    with open(os.path.join(T, path), "w") as f:
        f.write(value)


def available():
    return (os.uname().machine == "x86_64" and
            os.path.exists(os.path.join(T, "events/exceptions/page_fault_user")))


def _any(field, values):
    return "(" + " || ".join("%s == %d" % (field, v) for v in values) + ")"


class HopTrace:
    def __init__(self, target, base, end, daemon, viewer):
        tids = [int(t) for t in os.listdir("/proc/%d/task" % daemon)]
        self.readers = [t for t in tids if t != daemon]
        self.loop, self.viewer, self.target = daemon, viewer, target
        self.base, self.end = base, end

    def start(self):
        _w("tracing_on", "0")
        _w("trace", "")
        _w("set_event", "")
        _w("trace_clock", "mono")  # CLOCK_MONOTONIC, the target's clock
        _w("buffer_size_kb", "16384")
        ev = {
            "exceptions/page_fault_user":
                "common_pid == %d && address >= %d && address < %d" %
                (self.target, self.base, self.end),
            "sched/sched_switch": _any("next_pid", self.readers + [self.loop, self.viewer]),
            "raw_syscalls/sys_enter":
                "(%s && id == 1) || (common_pid == %d && %s)" %
                (_any("common_pid", self.readers), self.loop, _any("id", WRITES)),
            "raw_syscalls/sys_exit": "common_pid == %d && %s" % (self.viewer, _any("id", READS)),
        }
        for name, flt in ev.items():
            _w("events/%s/filter" % name, flt)
            _w("events/%s/enable" % name, "1")
        _w("tracing_on", "1")

    def stop(self):
        _w("tracing_on", "0")
        with open(os.path.join(T, "trace")) as f:
            lines = f.readlines()
        for name in ("exceptions/page_fault_user", "sched/sched_switch",
                     "raw_syscalls/sys_enter", "raw_syscalls/sys_exit"):
            _w("events/%s/enable" % name, "0")
            _w("events/%s/filter" % name, "0")
        _w("trace", "")
        self.events = []
        for line in lines:
            m = LINE.match(line)
            if m:
                self.events.append((float(m.group(3)) * 1e9, int(m.group(1)), int(m.group(2)),
                                    m.group(4), m.group(5)))

    def _step(self, ev, i, want, end=None):
        """Index and event of the first event in ev[i:end] that want() accepts."""
        for k in range(i, len(ev) if end is None else end):
            if want(ev[k]):
                return k, ev[k]
        return None, None

    def trials(self):
        """Per trial: the times of fault, posted, sent and read (the syscalls,
        always traced) and of the three switch-ins before them (None where
        the thread was running already or the switch was not seen), the
        CPUs of the loop's send and of the viewer's read, and the page."""
        ev, seen, out = self.events, set(), []
        readers = set(self.readers)
        nid = re.compile(r"next_pid=(\d+) ")
        sid = re.compile(r"NR (\d+)")

        def switch_to(pids):
            return lambda e: e[3] == "sched_switch" and int(nid.search(e[4]).group(1)) in pids

        def sys(pids, name, ids):
            return lambda e: (e[3] == name and e[1] in pids and
                              int(sid.search(e[4]).group(1)) in ids)

        chain = ((switch_to(readers), sys(readers, "sys_enter", (1,))),
                 (switch_to({self.loop}), sys({self.loop}, "sys_enter", WRITES)),
                 (switch_to({self.viewer}), sys({self.viewer}, "sys_exit", READS)))
        for i, e in enumerate(ev):
            if e[3] != "page_fault_user":
                continue
            page = int(re.search(r"address=(0x[0-9a-f]+)", e[4]).group(1), 16) >> 12
            if page in seen:
                continue
            seen.add(page)
            times, cpus, k = [e[0]], [], i
            for woke, did in chain:
                j, hit = self._step(ev, k, did)
                if hit is None:
                    break
                _, wk = self._step(ev, k, woke, j)
                times += [wk[0] if wk else None, hit[0]]
                cpus.append(hit[2])
                k = j
            if len(times) == 7 and times[-1] - times[0] < 50e6:
                out.append((times, cpus, page - (self.base >> 12)))
        return out

    def report(self, pct, fmt, wrote):
        """wrote: page index -> the target's CLOCK_MONOTONIC stamp before its write."""
        got = self.trials()
        print("bench:   hops (tracefs, %d trials), median / p90 of each step:" % len(got))
        pre = [t[0] - wrote[i] for t, _, i in got if i in wrote]
        print("bench:     (target's stamp -> its fault %s / %s: the workload's own)" %
              (fmt(pct(pre, 50)), fmt(pct(pre, 90))))
        names = ("fault",) + STEPS
        for a, b in ((0, 2), (2, 4), (4, 6)):
            d = [t[b] - t[a] for t, _, _ in got]
            print("bench:     %-7s -> %-7s %8s / %s" % (names[a], names[b], fmt(pct(d, 50)),
                                                       fmt(pct(d, 90))))
            # The same hop split at the switch-in, where one was traced.
            w = [(t[a + 1] - t[a], t[b] - t[a + 1]) for t, _, _ in got if t[a + 1]]
            print("bench:       (%d with the switch-in traced: until %s %s, then %s)" %
                  (len(w), names[a + 1], fmt(pct([x for x, _ in w], 50)),
                   fmt(pct([y for _, y in w], 50))))
        tot = [t[-1] - t[0] for t, _, _ in got]
        cross = sum(1 for _, c, _ in got if c[1] != c[2])
        print("bench:     fault   -> read    %8s / %s; the loop -> viewer wakeup crossed "
              "CPUs in %d of %d" % (fmt(pct(tot, 50)), fmt(pct(tot, 90)), cross, len(got)))
