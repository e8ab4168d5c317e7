# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for the shadowpt integration suite (python3 stdlib only).

Every test module runs as its own meson test with
    --daemon PATH --client PATH --target PATH --proto PATH
and starts its own shadowptd on a private socket, so modules run in
parallel. Ground truth is read here, in Python, straight from
/proc/PID/maps and /proc/PID/pagemap: independent of the daemon's C
parser. Raw protocol frames are encoded by a minimal protobuf encoder
driven by proto/shadowpt.proto itself (parsed at start), so field
numbers always match the schema.

Everything waits on conditions with generous bounded timeouts (the
machine may be a loaded 2-core box); nothing asserts on timing.
"""

import argparse
import atexit
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

PAGE = 4096
USER_ADDR_END = 0x7FFFFFFFF000 + PAGE  # SPT_USER_ADDR_MAX + one page
# Tables here hold one entry per page: runs bigger than this are a test bug.
MAX_EXPANDED_RUN = 1 << 22

# Spec flags (kernel values) and the names the client prints for them.
F_ALLOCATED, F_ANONYMOUS, F_MAPPED = 1, 2, 4
SPEC_NAMES = {"allocated": F_ALLOCATED, "anonymous": F_ANONYMOUS, "mapped": F_MAPPED}

# Exit codes of shadowctl (client/shadowctl.h).
EXIT_OK, EXIT_RUNTIME, EXIT_USAGE, EXIT_PROTOCOL = 0, 1, 2, 3
EXIT_PERMISSION, EXIT_NO_PROCESS, EXIT_CONNECT = 4, 5, 6

NOBODY_UID = 65534
NOBODY_GID = 65534

# Generous bounds: a loaded 2-core machine with kernel builds running.
T_START = 60.0  # daemon start, target start
T_STEP = 60.0  # one workload step, one convergence
T_CLIENT = 90.0  # one shadowctl invocation

CFG = None  # argparse namespace, set by main()
_cleanups = []


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class TestFailure(AssertionError):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def wait_until(pred, timeout, what, interval=0.02):
    """Polls pred() until it returns a true value; returns that value."""
    deadline = time.monotonic() + timeout
    delay = interval
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


def at_exit(fn):
    _cleanups.append(fn)


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:
            pass


atexit.register(_run_cleanups)


def tmpdir():
    # Short paths: sun_path is 108 bytes.
    d = tempfile.mkdtemp(prefix="spt-it-", dir="/tmp")
    os.chmod(d, 0o755)
    # SHADOWPT_TEST_KEEP=1 keeps them (daemon logs) for a post-mortem.
    if not os.environ.get("SHADOWPT_TEST_KEEP"):
        at_exit(lambda: shutil.rmtree(d, ignore_errors=True))
    return d


def as_user_cmd(argv, uid=NOBODY_UID, gid=NOBODY_GID):
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid, "--clear-groups"] + list(argv)


# ---------------------------------------------------------------------------
# Minimal protobuf (proto2) codec driven by the .proto file.
# ---------------------------------------------------------------------------

VARINT_TYPES = {"uint32", "uint64", "int32", "int64", "bool", "sint32", "sint64"}


class Proto:
    """Parses the subset of proto2 that shadowpt.proto uses."""

    def __init__(self, path):
        self.messages = {}  # name -> {"by_num": {n: (name, type, repeated)}, "by_name": {...}}
        self.enums = {}  # name -> {NAME: value}
        text = open(path).read()
        text = re.sub(r"//[^\n]*", "", text)
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        stack = []  # ("message"|"enum"|"oneof", name)
        for tok in re.finditer(r"(message|enum|oneof)\s+(\w+)\s*\{|\}|([^;{}]+);", text):
            if tok.group(1):
                kind, name = tok.group(1), tok.group(2)
                stack.append((kind, name))
                if kind == "message":
                    self.messages[name] = {"by_num": {}, "by_name": {}}
                elif kind == "enum":
                    self.enums[name] = {}
            elif tok.group(0) == "}":
                if stack:
                    stack.pop()
            else:
                stmt = tok.group(3).strip()
                if not stack:
                    continue
                kind, name = stack[-1]
                if kind == "enum":
                    m = re.match(r"(\w+)\s*=\s*(-?\d+)", stmt)
                    if m:
                        self.enums[name][m.group(1)] = int(m.group(2))
                    continue
                msg = [s for s in stack if s[0] == "message"][-1][1]
                m = re.match(r"(optional|repeated|required)?\s*([\w.]+)\s+(\w+)\s*=\s*(\d+)", stmt)
                if not m:
                    continue
                label, ftype, fname, num = m.groups()
                ent = (fname, ftype, label == "repeated")
                self.messages[msg]["by_num"][int(num)] = ent
                self.messages[msg]["by_name"][fname] = (int(num), ftype, label == "repeated")

    def enum_value(self, enum, name):
        return self.enums[enum][name]

    def enum_name(self, enum, value):
        for k, v in self.enums[enum].items():
            if v == value:
                return k
        return str(value)

    # -- encoding
    def encode(self, msgname, obj):
        out = bytearray()
        fields = self.messages[msgname]["by_name"]
        for fname, value in obj.items():
            if fname not in fields:
                raise KeyError("%s has no field %s" % (msgname, fname))
            num, ftype, repeated = fields[fname]
            values = value if repeated else [value]
            for v in values:
                out += self._encode_field(num, ftype, v)
        return bytes(out)

    def _encode_field(self, num, ftype, v):
        if ftype in self.messages:
            body = self.encode(ftype, v)
            return varint(num << 3 | 2) + varint(len(body)) + body
        if ftype in self.enums:
            if isinstance(v, str):
                v = self.enums[ftype][v]
            return varint(num << 3) + varint(v & 0xFFFFFFFFFFFFFFFF)
        if ftype in VARINT_TYPES:
            return varint(num << 3) + varint(int(v) & 0xFFFFFFFFFFFFFFFF)
        if ftype in ("string", "bytes"):
            b = v.encode() if isinstance(v, str) else bytes(v)
            return varint(num << 3 | 2) + varint(len(b)) + b
        raise ValueError("unsupported type " + ftype)

    # -- decoding
    def decode(self, msgname, data):
        obj = {}
        fields = self.messages[msgname]["by_num"]
        pos = 0
        while pos < len(data):
            key, pos = read_varint(data, pos)
            num, wt = key >> 3, key & 7
            if wt == 0:
                raw, pos = read_varint(data, pos)
                chunks = [raw]
            elif wt == 2:
                ln, pos = read_varint(data, pos)
                if pos + ln > len(data):
                    raise ValueError("truncated length-delimited field")
                raw = data[pos:pos + ln]
                pos += ln
                chunks = [raw]
            elif wt == 1:
                raw = data[pos:pos + 8]
                pos += 8
                chunks = [raw]
            elif wt == 5:
                raw = data[pos:pos + 4]
                pos += 4
                chunks = [raw]
            else:
                raise ValueError("bad wire type %d" % wt)
            if num not in fields:
                continue
            fname, ftype, repeated = fields[num]
            vals = []
            for raw in chunks:
                if ftype in self.messages:
                    vals.append(self.decode(ftype, raw))
                elif wt == 2 and ftype not in ("string", "bytes"):
                    p = 0  # packed varints
                    while p < len(raw):
                        x, p = read_varint(raw, p)
                        vals.append(self._scalar(ftype, x))
                elif ftype == "string":
                    vals.append(raw.decode("utf-8", "replace"))
                elif ftype == "bytes":
                    vals.append(bytes(raw))
                else:
                    vals.append(self._scalar(ftype, raw))
            if repeated:
                obj.setdefault(fname, []).extend(vals)
            else:
                obj[fname] = vals[-1]
        return obj

    def _scalar(self, ftype, x):
        if ftype in ("int32", "int64") and x >= 1 << 63:
            return x - (1 << 64)
        if ftype == "bool":
            return bool(x)
        if ftype in self.enums:
            return self.enum_name(ftype, x)
        return x


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(data, pos):
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


_proto = None


def proto():
    global _proto
    if _proto is None:
        _proto = Proto(CFG.proto)
    return _proto


def encode_frame(obj):
    """obj: a Frame as a dict, e.g. {"request_id": 1, "hello": {...}}."""
    body = proto().encode("Frame", obj)
    return struct.pack(">I", len(body)) + body


def frame_type(fr):
    for k in fr:
        if k != "request_id":
            return k
    return None


class RawConn:
    """A hand-driven protocol connection."""

    def __init__(self, path, rcvbuf=None, timeout=T_CLIENT):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, **msg):
        rid = msg.pop("request_id", None)
        if rid is None:
            rid = self.next_id
            self.next_id += 1
        obj = {"request_id": rid}
        obj.update(msg)
        self.sock.sendall(encode_frame(obj))
        return rid

    def hello(self, version=None, name="integration-test"):
        if version is None:
            version = 1
        self.send(hello={"protocol_version": version, "client_name": name})
        return self.recv(expect="welcome")

    def watch(self, pid, rng=None, **opts):
        w = {"pid": pid}
        if rng:
            w["range"] = {"start": rng[0], "end": rng[1]}
        w.update(opts)
        return self.send(watch=w)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TestFailure("no frame from the daemon within %.0fs" % timeout)
        except ConnectionResetError:
            data = b""
        return data

    def recv(self, timeout=T_CLIENT, expect=None):
        """Returns the next decoded Frame dict, or None at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack(">I", self.buf[:4])
                check(n <= 1024 * 1024, "server frame of %d bytes exceeds 1 MiB" % n)
                if len(self.buf) >= 4 + n:
                    body, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    fr = proto().decode("Frame", body)
                    if expect is not None:
                        check(frame_type(fr) == expect,
                              "expected %s, got %r" % (expect, short(fr)))
                    return fr
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("no complete frame within %.0fs" % timeout)
            data = self._fill(left)
            if not data:
                if self.buf:
                    raise TestFailure("EOF inside a frame (%d bytes pending)" % len(self.buf))
                return None
            self.buf += data

    def recv_until(self, pred, timeout=T_CLIENT, what="frame"):
        """Reads frames until pred(frame) is true; returns (frame, skipped)."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("timed out waiting for %s" % what)
            fr = self.recv(timeout=left)
            if fr is None:
                raise TestFailure("EOF while waiting for %s (got %s)" %
                                  (what, [frame_type(f) for f in skipped[-10:]]))
            if pred(fr):
                return fr, skipped
            skipped.append(fr)

    def expect_eof(self, timeout=T_CLIENT):
        """Reads (and returns) frames until the daemon closes."""
        frames = []
        while True:
            fr = self.recv(timeout=timeout)
            if fr is None:
                return frames
            frames.append(fr)


def connect_fds_as(path, uids, gid=None):
    """Connected socket fds whose SO_PEERCRED says uid (and gid, default:
    the same number) for each of uids, without passwd entries: a forked
    child takes each uid as its effective one, connects, takes root back
    (its real and saved uids stay 0) and passes the fd over. Groups are
    cleared, so none of them is an admin."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            parent.close()
            os.setgroups([])
            for uid in uids:
                os.setegid(uid if gid is None else gid)
                os.seteuid(uid)
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.connect(path)
                finally:
                    os.seteuid(0)
                    os.setegid(0)
                socket.send_fds(child, [b"f"], [s.fileno()])
                s.close()
        except BaseException:
            traceback.print_exc()
            code = 1
        os._exit(code)
    child.close()
    fds = []
    try:
        while len(fds) < len(uids):
            msg, got, _, _ = socket.recv_fds(parent, 1, 1)
            if not msg:
                break
            fds += got
    finally:
        parent.close()
        os.waitpid(pid, 0)
    check(len(fds) == len(uids), "connected %d of %d sockets as other uids" %
          (len(fds), len(uids)))
    return fds


def connect_fds_dropped(path, uids, groups=(), parallel=16):
    """Connected socket fds, one per uid of uids (gid the same number),
    each connected by its own forked child that first drops root for good
    (setgroups(groups), setresgid, setresuid): the daemon's peer is an
    ordinary process of that uid, and SO_PEERCRED/SO_PEERGROUPS keep what
    connect() saw. No passwd entries are needed. Each child passes its fd
    back with SCM_RIGHTS and exits; at most `parallel` run at once."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fds = [None] * len(uids)
    running, nxt, got, failed = set(), 0, 0, 0
    try:
        while got + failed < len(uids):
            while nxt < len(uids) and len(running) < parallel:
                pid = os.fork()
                if pid == 0:
                    code = 1
                    try:
                        parent.close()
                        os.setgroups(list(groups))
                        os.setresgid(uids[nxt], uids[nxt], uids[nxt])
                        os.setresuid(uids[nxt], uids[nxt], uids[nxt])
                        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                        s.connect(path)
                        socket.send_fds(child, [struct.pack("<I", nxt)], [s.fileno()])
                        code = 0
                    except BaseException:
                        traceback.print_exc()
                    os._exit(code)
                running.add(pid)
                nxt += 1
            r, _, _ = select.select([parent], [], [], 0.05)
            if r:
                msg, rfds, _, _ = socket.recv_fds(parent, 4, 1)
                check(len(msg) == 4 and len(rfds) == 1, "fd passing: %r %r" % (msg, rfds))
                fds[struct.unpack("<I", msg)[0]] = rfds[0]
                got += 1
            for pid in list(running):
                wpid, status = os.waitpid(pid, os.WNOHANG)
                if wpid:
                    running.discard(pid)
                    if status:
                        failed += 1
    finally:
        for pid in running:
            os.waitpid(pid, 0)
        parent.close()
        child.close()
    check(not failed, "%d of %d children could not connect as their uid" %
          (failed, len(uids)))
    return fds


def raise_nofile(want):
    """Raises this process's soft fd limit to want (at most the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_cpu_s(pid):
    """utime + stime of a whole process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connect_as(path, uid, gid=None, timeout=T_CLIENT):
    """A RawConn whose peer credentials are uid's (see connect_fds_as)."""
    (fd,) = connect_fds_as(path, [uid], gid)
    c = RawConn.__new__(RawConn)
    c.sock = socket.socket(fileno=fd)
    c.sock.settimeout(timeout)
    c.buf = b""
    c.next_id = 1
    return c


def daemon_memory_kb(daemon):
    """(VmRSS, VmHWM) of the daemon in KiB."""
    st = proc_status(daemon.proc.pid)
    return int(st["VmRSS"].split()[0]), int(st["VmHWM"].split()[0])


def daemon_sanitized(daemon):
    """True if the daemon runs under ASan, whose quarantine keeps freed
    memory resident: its peak RSS says nothing about the daemon's own."""
    with open("/proc/%d/maps" % daemon.proc.pid) as f:
        return "libasan" in f.read()


def daemon_fds(daemon):
    return len(os.listdir("/proc/%d/fd" % daemon.proc.pid))


def short(obj, n=300):
    s = repr(obj)
    return s if len(s) <= n else s[:n] + "..."


# ---------------------------------------------------------------------------
# Processes: daemon, targets, clients.
# ---------------------------------------------------------------------------

def _kill_proc(p):
    if p.poll() is None:
        try:
            p.kill()
        except OSError:
            pass
    try:
        p.wait(timeout=30)
    except Exception:
        pass


class Daemon:
    """One shadowptd on a private socket."""

    def __init__(self, extra_args=(), wrapper=(), socket_path=None, wait=True, env_extra=None):
        self.dir = tmpdir()
        # The daemon drops to its own user (shadowpt, or --user) after
        # binding: it must still be able to remove its socket at exit.
        os.chmod(self.dir, 0o777)
        self.socket = socket_path or os.path.join(self.dir, "sock")
        self.logpath = os.path.join(self.dir, "daemon.log")
        self.logf = open(self.logpath, "wb")
        argv = list(wrapper) + [CFG.daemon, "--socket", self.socket] + daemon_default_args()
        argv += list(extra_args)
        self.argv = argv
        # Readiness comes the systemd way: READY=1 on $NOTIFY_SOCKET.
        self.notify_path = os.path.join(self.dir, "notify")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        os.chmod(self.notify_path, 0o777)  # the daemon may have dropped to its user
        self.notes = []
        self.notes_lock = threading.Lock()
        # Drain it all the time, as systemd does: a full datagram queue
        # (net.unix.max_dgram_qlen, 10 by default) would block sd_notify().
        threading.Thread(target=self._drain_notify, daemon=True).start()
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path)
        env.update(env_extra or {})
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT, start_new_session=True, env=env)
        at_exit(lambda: _kill_proc(self.proc))
        if wait:
            self.wait_ready()

    def _drain_notify(self):
        while True:
            try:
                data = self.notify.recv(4096)
            except OSError:
                return
            with self.notes_lock:
                self.notes.append(data.decode("utf-8", "replace").split("\n"))

    def notifications(self):
        """Every sd_notify datagram received so far, as lists of KEY=VALUE."""
        with self.notes_lock:
            return list(self.notes)

    def notified(self, key):
        return [ln for msg in self.notifications() for ln in msg if ln.startswith(key)]

    def wait_ready(self, timeout=T_START):
        wait_until(lambda: self.notified("READY=1") or self.proc.poll() is not None, timeout,
                   "shadowptd to send READY=1")

        def ready():
            if self.proc.poll() is not None:
                raise TestFailure("shadowptd exited with %s during start:\n%s" %
                                  (self.proc.returncode, self.log()))
            if not os.path.exists(self.socket):
                return False
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.socket)
                return True
            except OSError:
                return False
            finally:
                s.close()
        wait_until(ready, timeout, "shadowptd to listen on %s" % self.socket)

    def log(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=T_START):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("shadowptd did not exit within %.0fs after %s" %
                              (timeout, signal.Signals(sig).name))

    def check_alive(self):
        check(self.proc.poll() is None,
              "shadowptd died (status %s):\n%s" % (self.proc.returncode, self.log()))

    def connect(self, **kw):
        return RawConn(self.socket, **kw)

    def client(self, *args, **kw):
        return run_client(self.socket, list(args), **kw)

    def watcher(self, pid, *args, **kw):
        return Watcher(self.socket, pid, list(args), **kw)


def daemon_default_args():
    # The integration suite runs the daemon as root without dropping to a
    # dedicated user (none exists on a CI box) and on the procfs backend.
    # SHADOWPT_TEST_VERBOSE=1: debug logs (with SHADOWPT_TEST_KEEP=1 to read them).
    return ["--backend", "procfs", "--keep-root"] + (
        ["--verbose"] if os.environ.get("SHADOWPT_TEST_VERBOSE") else [])


class Target:
    """The workload program, driven one step at a time."""

    def __init__(self, user=None, argv_extra=(), cwd=None, tmp_subdir=None):
        """tmp_subdir: bytes, a directory made inside the private temp dir
        and given to the target as TMPDIR (odd names for mmap-file)."""
        self.dir = tmpdir()
        if user is not None:
            os.chown(self.dir, user, user)
        env = dict(os.environ, TMPDIR=self.dir)
        if tmp_subdir is not None:
            sub = os.path.join(os.fsencode(self.dir), tmp_subdir)
            os.mkdir(sub)
            if user is not None:
                os.chown(sub, user, user)
            env = dict(os.environ)
            env = {os.fsencode(k): os.fsencode(v) for k, v in env.items()}
            env[b"TMPDIR"] = sub
        argv = [CFG.target] + list(argv_extra)
        if user is not None:
            argv = as_user_cmd(argv, user, user)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     bufsize=0, env=env, cwd=cwd or self.dir)
        at_exit(self.kill)
        self.buf = b""
        line = self.read_line(T_START)
        m = re.match(r"ready (\d+)$", line)
        check(m, "target did not say ready: %r" % line)
        self.pid = int(m.group(1))
        self.last_err = ""  # the last 'err' answer step_maybe() saw
        self.children = []

    def kill(self):
        for c in self.children:
            try:
                os.kill(c, signal.SIGKILL)
            except OSError:
                pass
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
        _kill_proc(self.proc)

    def read_line(self, timeout=T_STEP):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TestFailure("target: no output line within %.0fs" % timeout)
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                data = os.read(self.proc.stdout.fileno(), 65536)
                if not data:
                    raise TestFailure("target exited (status %s) before answering" %
                                      self.proc.poll())
                self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def send(self, line):
        self.proc.stdin.write((line + "\n").encode())

    def step(self, line, timeout=T_STEP):
        """Runs one command; returns the values after 'ok <cmd>' (ints for hex)."""
        self.send(line)
        cmd = line.split()[0]
        while True:
            out = self.read_line(timeout)
            if out.startswith("map "):
                continue
            break
        parts = out.split()
        check(len(parts) >= 2 and parts[0] == "ok" and parts[1] == cmd,
              "target step %r failed: %r" % (line, out))
        vals = self._values(parts)
        if cmd == "fork-cow":
            self.children.append(vals[3])
        return vals

    def _values(self, parts):
        """The values after 'ok <cmd>', numbers as ints; kept as self.last."""
        vals = []
        for p in parts[2:]:
            try:
                vals.append(int(p, 0))
            except ValueError:
                vals.append(p)
        self.last = vals
        return vals

    def step_maybe(self, line, timeout=T_STEP):
        """Like step(), but returns None when the target answers 'err'
        (a step the kernel may not support, e.g. anon-name)."""
        self.send(line)
        out = self.read_line(timeout)
        parts = out.split()
        if parts and parts[0] == "err":
            log("target: %r not supported here: %s" % (line, out))
            self.last_err = out
            return None
        check(len(parts) >= 2 and parts[0] == "ok", "target step %r: %r" % (line, out))
        return self._values(parts)

    def stop(self):
        """SIGSTOP and wait until the kernel reports the task stopped."""
        os.kill(self.pid, signal.SIGSTOP)
        wait_until(lambda: proc_state(self.pid) in ("T", "t"), T_STEP,
                   "target %d to stop" % self.pid)

    def cont(self):
        os.kill(self.pid, signal.SIGCONT)
        wait_until(lambda: proc_state(self.pid) not in ("T", "t"), T_STEP,
                   "target %d to continue" % self.pid)


def proc_status(pid):
    """/proc/PID/status as a dict of field -> value text."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_state(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    return s[s.rindex(")") + 2]


class ClientResult:
    def __init__(self, rc, out, err, argv):
        self.rc, self.out, self.err, self.argv = rc, out, err, argv

    def events(self):
        return parse_jsonl(self.out)

    def __repr__(self):
        return "shadowctl %s -> rc %s\nstdout: %s\nstderr: %s" % (
            " ".join(self.argv[1:]), self.rc, short(self.out, 800), short(self.err, 800))


def client_argv(socket_path, args, user=None):
    argv = [CFG.client, "--socket", socket_path] + [str(a) for a in args]
    if user is not None:
        argv = as_user_cmd(argv, user, user)
    return argv


def run_client(socket_path, args, user=None, timeout=T_CLIENT, env=None):
    argv = client_argv(socket_path, args, user)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise TestFailure("shadowctl %s did not finish within %.0fs" % (args, timeout))
    return ClientResult(p.returncode, p.stdout.decode("utf-8", "replace"),
                        p.stderr.decode("utf-8", "replace"), argv)


def validate_event(ev):
    """What DESIGN.md section 3 and doc/json-schema.md promise of every
    JSON Lines object; page entries are runs of count pages."""
    check(isinstance(ev, dict), "JSON line is not an object: %r" % short(ev))
    for k in ("event", "pid", "seq"):
        check(k in ev, "JSON event without %r: %s" % (k, short(ev)))
    total = 0
    for p in ev.get("pages", []) or []:
        check(set(p) >= {"vaddr", "flags", "pfn", "count", "pfn_stride"}
              and isinstance(p["flags"], list) and p["vaddr"].startswith("0x")
              and (p["pfn"] is None or isinstance(p["pfn"], int))
              and isinstance(p["count"], int) and p["count"] >= 1
              and p["pfn_stride"] in (0, 1) and (p["pfn"] is not None or p["pfn_stride"] == 0),
              "bad page entry %r" % p)
        total += p["count"]
    if "pages" in ev:
        check(ev.get("page_count") == total,
              "page_count %s but the entries cover %d pages" % (ev.get("page_count"), total))


def parse_jsonl(text):
    evs = []
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln:
            continue
        try:
            ev = json.loads(ln)
        except ValueError:
            raise TestFailure("not JSON Lines: %r" % ln[:200])
        validate_event(ev)
        evs.append(ev)
    return evs


class Watcher:
    """`shadowctl watch PID --json` in the background, events collected by a
    reader thread and folded into a Table as they arrive."""

    def __init__(self, socket_path, pid, args=(), user=None, env=None):
        self.argv = client_argv(socket_path, ["watch", str(pid), "--json"] + list(args), user)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env)
        at_exit(lambda: _kill_proc(self.proc))
        self.cond = threading.Condition()
        self.events = []
        self.table = Table()
        self.error = None
        self.eof = False
        self.stderr = b""
        self.seq = None
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_err(self):
        data = self.proc.stderr.read()
        with self.cond:
            self.stderr = data

    def _read(self):
        for raw in self.proc.stdout:
            try:
                ev = json.loads(raw)
            except ValueError:
                with self.cond:
                    self.error = "not JSON: %r" % raw[:200]
                    self.cond.notify_all()
                continue
            with self.cond:
                self.events.append(ev)
                try:
                    validate_event(ev)
                    self.table.apply_event(ev)
                except Exception as e:  # a bad stream must fail the test
                    self.error = "cannot apply %s event: %s" % (ev.get("event"), e)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_for(self, pred, timeout=T_STEP, what="condition"):
        """pred(watcher) under the lock; returns its value."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                check(self.error is None, "watch stream broken: %s" % self.error)
                v = pred(self)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TestFailure("watcher: timed out after %.0fs waiting for %s; "
                                      "last events %s; stderr %s" %
                                      (timeout, what, [short(e, 200) for e in self.events[-3:]],
                                       self.stderr[-500:]))
                if self.eof and not v:
                    # Nothing more will come; give pred one last chance.
                    v = pred(self)
                    if v:
                        return v
                    raise TestFailure("watcher ended (rc %s) while waiting for %s; stderr %s"
                                      % (self.proc.poll(), what, self.stderr[-800:]))
                self.cond.wait(min(left, 0.5))

    def count(self, kind):
        with self.cond:
            return sum(1 for e in self.events if e.get("event") == kind)

    def wait_exit(self, timeout=T_CLIENT):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TestFailure("shadowctl watch did not exit within %.0fs" % timeout)
        self.wait_for(lambda w: w.eof, timeout, "end of watch output")
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout=T_CLIENT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()


# ---------------------------------------------------------------------------
# Tables: the viewer's reconstruction and the ground truth, same shape.
# ---------------------------------------------------------------------------

def parse_addr(v):
    if isinstance(v, int):
        return v
    return int(v, 0)


def flags_from_json(flags):
    if isinstance(flags, int):
        return flags & 7
    v = 0
    for name in flags:
        v |= SPEC_NAMES.get(name, 0)
    return v


EXT_NAMES = ("swapped", "soft-dirty", "exclusive", "thp", "file")


def ext_names(flags):
    if isinstance(flags, int):
        return frozenset()
    return frozenset(n for n in flags if n in EXT_NAMES)


def norm_perms(p):
    """Permissions as in /proc/PID/maps: 'rw-p', 'r--s'."""
    return p


class Table:
    """VMAs {start: (end, perms, kind, name)} and pages {vaddr: (flags, pfn)}
    with flags restricted to the three spec bits."""

    def __init__(self):
        self.vmas = {}
        self.pages = {}
        self.ext = {}  # vaddr -> frozenset of extended flag names (JSON only)
        self.seq = None
        self.snapshots = 0
        self.resyncs = 0
        self.deltas = 0
        self.exited = False
        self.pending = None  # a chunked snapshot being assembled

    @staticmethod
    def vma_from_json(v):
        return (parse_addr(v["start"]),
                (parse_addr(v["end"]), norm_perms(v.get("perms", "")), v.get("kind"),
                 v.get("name", "") or ""))

    @staticmethod
    def pages_from_json(p):
        """The pages of one entry: (vaddr, (spec flags, pfn)) for each of its count."""
        va, pfn = parse_addr(p["vaddr"]), p.get("pfn")
        flags, stride = flags_from_json(p.get("flags", [])), p.get("pfn_stride", 0)
        n = p.get("count", 1)
        check(n <= MAX_EXPANDED_RUN, "a run of %d pages is too big for this test's tables" % n)
        for i in range(n):
            yield va + i * PAGE, (flags, None if pfn is None else pfn + i * stride)

    def apply_event(self, ev):
        kind = ev.get("event")
        if kind == "snapshot":
            self.vmas = dict(self.vma_from_json(v) for v in ev.get("vmas", []))
            self.pages = {}
            self.ext = {}
            for p in ev.get("pages", []):
                for va, st in self.pages_from_json(p):
                    if st[0]:
                        self.pages[va] = st
                        self.ext[va] = ext_names(p.get("flags", []))
            self.seq = ev.get("seq")
            self.snapshots += 1
            if ev.get("resync"):
                self.resyncs += 1
        elif kind == "delta":
            if self.seq is not None and "base_seq" in ev:
                if ev["base_seq"] != self.seq:
                    raise ValueError("delta base_seq %s on top of seq %s" %
                                     (ev["base_seq"], self.seq))
            for r in ev.get("vmas_removed", []):
                s = parse_addr(r["start"])
                if s not in self.vmas:
                    raise ValueError("removal of unknown VMA 0x%x" % s)
                del self.vmas[s]
            for v in ev.get("vmas_added", []):
                s, rest = self.vma_from_json(v)
                self.vmas[s] = rest
            for p in ev.get("pages", []):
                for va, st in self.pages_from_json(p):
                    if st[0] == 0 and not p.get("flags"):
                        self.pages.pop(va, None)
                        self.ext.pop(va, None)
                    else:
                        self.pages[va] = st
                        self.ext[va] = ext_names(p.get("flags", []))
            self.seq = ev.get("seq")
            self.deltas += 1
        elif kind == "exit":
            self.exited = True

    def spec_view(self, with_pfn=True):
        """Comparable form: pages whose spec flags include MAPPED (or any)."""
        pages = {}
        for va, (fl, pfn) in self.pages.items():
            if fl:
                pages[va] = (fl, pfn if with_pfn else None)
        return pages


class Truth:
    """Ground truth read directly from /proc in Python."""

    def __init__(self, vmas, pages, ext=None):
        self.vmas = vmas  # {start: (end, perms, kind, name)}
        self.pages = pages  # {vaddr: (spec_flags, pfn)}
        self.ext = ext or {}  # {vaddr: frozenset(extended names)}, "thp" excluded


SPECIAL_NAMES = ("[vdso]", "[vvar]", "[vvar_vclock]", "[vsyscall]", "[uprobes]")


def vma_kind(perms, inode, name):
    """vma_is_anonymous() as seen from maps: private, no backing inode."""
    if name in SPECIAL_NAMES:
        return "special"
    shared = perms[3] == "s"
    if not shared and inode == 0:
        return "anon"  # "", [heap], [stack], [anon:NAME]
    if shared and (name.startswith("/dev/zero") or name.startswith("[anon_shmem:")
                   or name.startswith("/SYSV")):
        return "shared-anon"
    return "file"


def read_maps(pid):
    vmas = []
    # Names are bytes in the kernel: undecodable ones compare as U+FFFD,
    # which is what shadowctl's JSON prints for them.
    with open("/proc/%d/maps" % pid, encoding="utf-8", errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split(None, 5)
            addr, perms, off, dev, inode = parts[:5]
            name = parts[5].strip() if len(parts) > 5 else ""
            s, e = (int(x, 16) for x in addr.split("-"))
            vmas.append({"start": s, "end": e, "perms": perms, "offset": int(off, 16),
                         "inode": int(inode), "name": name,
                         "kind": vma_kind(perms, int(inode), name)})
    return vmas


PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_FILE = 1 << 61
PM_EXCLUSIVE = 1 << 56
PM_SOFT_DIRTY = 1 << 55
PFN_MASK = (1 << 55) - 1


def read_truth(pid, rng=None):
    lo, hi = rng if rng else (0, USER_ADDR_END)
    vmas = {}
    pages = {}
    ext = {}
    maps = read_maps(pid)
    fd = os.open("/proc/%d/pagemap" % pid, os.O_RDONLY)
    try:
        for v in maps:
            s, e = max(v["start"], lo), min(v["end"], hi)
            if s >= e:
                continue
            vmas[v["start"]] = (v["end"], v["perms"], v["kind"], v["name"])
            base = F_ALLOCATED | (F_ANONYMOUS if v["kind"] == "anon" else 0)
            n = (e - s) // PAGE
            off = (s // PAGE) * 8
            done = 0
            while done < n * 8:
                chunk = os.pread(fd, min(n * 8 - done, 1 << 20), off + done)
                if not chunk:
                    break
                base_va = s + (done // 8) * PAGE
                done += len(chunk)
                if not chunk.strip(b"\0"):
                    continue  # nothing in this stretch (big reservations)
                for i, (ent,) in enumerate(struct.iter_unpack("<Q", chunk)):
                    if not ent:
                        continue
                    va = base_va + i * PAGE
                    if ent & PM_PRESENT:
                        pages[va] = (base | F_MAPPED, ent & PFN_MASK)
                        names = {"exclusive"} if ent & PM_EXCLUSIVE else set()
                    elif ent & PM_SWAP:
                        pages[va] = (base, 0)
                        names = {"swapped"}
                    else:
                        continue
                    if ent & PM_SOFT_DIRTY:
                        names.add("soft-dirty")
                    if ent & PM_FILE:
                        names.add("file")
                    ext[va] = frozenset(names)
    finally:
        os.close(fd)
    return Truth(vmas, pages, ext)


KPF_THP = 22


def pmd_mapped_thp(pid, start):
    """True when [start, start + 2 MiB) is one PMD-mapped transparent huge
    page: smaps counts it in AnonHugePages and kpageflags marks it THP."""
    huge_kb = None
    with open("/proc/%d/smaps" % pid) as f:
        inside = False
        for line in f:
            m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) ", line)
            if m:
                inside = int(m.group(1), 16) <= start < int(m.group(2), 16)
            elif inside and line.startswith("AnonHugePages:"):
                huge_kb = int(line.split()[1])
    if not huge_kb or huge_kb < 2048:
        return False
    tr = read_truth(pid, (start, start + 512 * PAGE))
    first = tr.pages.get(start)
    if not first or len(tr.pages) != 512:
        return False
    if any(tr.pages.get(start + i * PAGE, (0, -1))[1] != first[1] + i for i in range(512)):
        return False
    try:
        with open("/proc/kpageflags", "rb") as f:
            f.seek(first[1] * 8)
            (kf,) = struct.unpack("<Q", f.read(8))
    except OSError:
        return False
    return bool(kf & (1 << KPF_THP))


def read_truth_stable(pid, rng=None, tries=20):
    """Reads the truth twice until two reads agree (khugepaged, compaction
    and reclaim may move pages even while the target is stopped)."""
    prev = read_truth(pid, rng)
    for _ in range(tries):
        cur = read_truth(pid, rng)
        if cur.vmas == prev.vmas and cur.pages == prev.pages and cur.ext == prev.ext:
            return cur
        prev = cur
        time.sleep(0.05)
    return prev


def clip_vmas(vmas, rng):
    if not rng:
        return dict(vmas)
    lo, hi = rng
    return {s: v for s, v in vmas.items() if s < hi and v[0] > lo}


def diff_ext(view_ext, truth):
    """Extended flags other than thp (which procfs cannot tell exactly)
    must equal what pagemap's own bits say."""
    diffs = []
    for va in sorted(truth.ext):
        want = truth.ext[va]
        got = view_ext.get(va, frozenset()) - {"thp"}
        if got != want:
            diffs.append("page 0x%x: viewer extended flags %s, pagemap says %s" %
                         (va, sorted(got), sorted(want)))
            if len(diffs) > 20:
                break
    return diffs


def diff_tables(view_vmas, view_pages, truth, pfn_mode="raw", rng=None):
    """Returns a list of human-readable differences (empty when equal).

    pfn_mode: "raw" (pfn must equal pagemap's), "hidden" (pfn must be
    null/absent/0), "token" (only equality classes checked), "ignore".
    VMAs compare start, end, rwx permissions, kind and name; VMAs that
    straddle the watched range may be reported clipped or whole.
    """
    diffs = []
    tv = truth.vmas
    vv = {}
    for s, (e, perms, kind, name) in view_vmas.items():
        vv[s] = (e, perms, kind, name)
    if rng:
        lo, hi = rng
        # Accept clipped boundary VMAs: map them back to the truth's start.
        fixed = {}
        for s, v in vv.items():
            if s == lo and s not in tv:
                for ts, tvv in tv.items():
                    if ts < lo < tvv[0]:
                        s = ts
                        v = (tvv[0] if v[0] == min(tvv[0], hi) else v[0],) + v[1:]
            if v[0] == hi and s in tv and tv[s][0] > hi:
                v = (tv[s][0],) + v[1:]
            fixed[s] = v
        vv = fixed
    for s in sorted(set(tv) | set(vv)):
        a, b = vv.get(s), tv.get(s)
        if a != b:
            diffs.append("vma 0x%x: viewer %s truth %s" % (s, fmt_vma(a), fmt_vma(b)))
    tokens = {}
    for va in sorted(set(view_pages) | set(truth.pages)):
        a, b = view_pages.get(va), truth.pages.get(va)
        if a is None or b is None:
            vma = [(s, v) for s, v in tv.items() if s <= va < v[0]]
            diffs.append("page 0x%x: viewer %s truth %s (in %s)" %
                         (va, a, b, "vma 0x%x %s" % (vma[0][0], fmt_vma(vma[0][1]))
                          if vma else "no vma"))
            continue
        if a[0] != b[0]:
            diffs.append("page 0x%x: viewer flags %d truth %d" % (va, a[0], b[0]))
            continue
        pfn_v, pfn_t = a[1], b[1]
        if not b[0] & F_MAPPED:
            continue
        if pfn_mode == "raw" and pfn_v != pfn_t:
            diffs.append("page 0x%x: viewer pfn %s truth pfn %s" % (va, pfn_v, pfn_t))
        elif pfn_mode == "hidden" and pfn_v not in (None, 0):
            diffs.append("page 0x%x: pfn %s leaked to an unprivileged viewer" % (va, pfn_v))
        elif pfn_mode == "token":
            if pfn_v is None:
                diffs.append("page 0x%x: no pfn token" % va)
            elif pfn_v == pfn_t and pfn_t > 0x1000:
                diffs.append("page 0x%x: token equals the raw pfn %s" % (va, pfn_t))
            else:
                tokens.setdefault(pfn_t, set()).add(pfn_v)
        if len(diffs) > 40:
            diffs.append("...")
            break
    if pfn_mode == "token":
        for pfn, toks in tokens.items():
            if len(toks) != 1:
                diffs.append("pfn %d shows as several tokens %s" % (pfn, toks))
        rev = {}
        for pfn, toks in tokens.items():
            for t in toks:
                rev.setdefault(t, set()).add(pfn)
        for t, pfns in rev.items():
            if len(pfns) != 1:
                diffs.append("token %s stands for several frames" % t)
    return diffs


def fmt_vma(v):
    if v is None:
        return "-"
    return "[..0x%x %s %s %r]" % v


def table_from_snapshot_events(events):
    t = Table()
    for ev in events:
        t.apply_event(ev)
    return t


def compare_until_stable(view_fn, pid, rng=None, pfn_mode="raw", tries=10):
    """view_fn() -> (vmas, pages) or (vmas, pages, ext); with ext, the
    extended flags are checked too. The target must be stopped. Retries
    when the kernel moved pages between the view and the truth."""
    last = None
    for _ in range(tries):
        before = read_truth_stable(pid, rng)
        view = view_fn()
        vmas, pages = view[0], view[1]
        after = read_truth_stable(pid, rng)
        if before.vmas != after.vmas or before.pages != after.pages or before.ext != after.ext:
            continue  # the truth moved under us: try again
        d = diff_tables(vmas, pages, after, pfn_mode, rng)
        if not d and len(view) > 2:
            d = diff_ext(view[2], after)
        if not d:
            return
        last = d
    raise TestFailure("viewer table != /proc ground truth:\n  " + "\n  ".join(last or ["unstable truth"]))


# ---------------------------------------------------------------------------
# Test runner.
# ---------------------------------------------------------------------------

def main(tests):
    """tests: list of functions. Runs each, prints PASS/FAIL/SKIP lines,
    exits 0 if none failed (77 if all skipped)."""
    global CFG
    ap = argparse.ArgumentParser()
    ap.add_argument("--daemon", required=True)
    ap.add_argument("--client", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--proto", required=True)
    ap.add_argument("only", nargs="*", help="run only these test functions")
    CFG = ap.parse_args()
    # meson passes build-relative paths; tests run programs from temp dirs.
    for k in ("daemon", "client", "target", "proto"):
        setattr(CFG, k, os.path.abspath(getattr(CFG, k)))
    if os.geteuid() != 0:
        print("SKIP: the integration suite needs root (pagemap PFNs, other uids)")
        sys.exit(77)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    failed = skipped = 0
    for fn in tests:
        if CFG.only and fn.__name__ not in CFG.only:
            continue
        t0 = time.monotonic()
        log("=== %s" % fn.__name__)
        try:
            fn()
            log("PASS %s (%.1fs)" % (fn.__name__, time.monotonic() - t0))
        except Skip as e:
            skipped += 1
            log("SKIP %s: %s" % (fn.__name__, e))
        except Exception as e:
            failed += 1
            log("FAIL %s: %s" % (fn.__name__, e))
            if not isinstance(e, TestFailure):
                traceback.print_exc()
        finally:
            _run_cleanups()
    log("%d failed, %d skipped" % (failed, skipped))
    if failed:
        sys.exit(1)
    if skipped and skipped == len(tests):
        sys.exit(77)
    sys.exit(0)


# ---------------------------------------------------------------------------
# A table rebuilt from raw protocol frames (decoded by the Proto codec).
# ---------------------------------------------------------------------------

KIND_NAMES = {"VMA_ANON": "anon", "VMA_SHARED_ANON": "shared-anon", "VMA_FILE": "file",
              "VMA_SPECIAL": "special"}


def perms_of(prot, shared):
    return ("r" if prot & 1 else "-") + ("w" if prot & 2 else "-") + \
           ("x" if prot & 4 else "-") + ("s" if shared else "p")


class RawTable(Table):
    """Table fed with decoded Frame dicts (snapshot chunks and deltas)."""

    def __init__(self):
        super().__init__()
        self.delta_chunk = None  # next chunk of a protocol 2 delta being applied
        self.runs_seen = 0  # PageRun entries (protocol 2) received
        self.pages_seen = 0  # Page entries (protocol 1) received

    @staticmethod
    def vma_from_pb(v):
        return v.get("start", 0), (v.get("end", 0), perms_of(v.get("prot", 0), v.get("shared", False)),
                                   KIND_NAMES.get(v.get("kind"), v.get("kind")), v.get("name", ""))

    def entries_of(self, msg):
        """(vaddr, flags, pfn) of every page a Snapshot or Delta names:
        protocol 1 Page entries, or protocol 2 PageRun entries expanded."""
        check(not (msg.get("pages") and msg.get("runs")), "a message with pages and runs")
        for p in msg.get("pages", []):
            self.pages_seen += 1
            yield p.get("vaddr", 0), p.get("flags", 0), p.get("pfn", 0)
        for r in msg.get("runs", []):
            self.runs_seen += 1
            n, stride = r.get("count", 1), r.get("pfn_stride", 0)
            check(1 <= n <= MAX_EXPANDED_RUN and stride in (0, 1), "bad run %r" % r)
            for i in range(n):
                yield r.get("vaddr", 0) + i * PAGE, r.get("flags", 0), r.get("pfn", 0) + i * stride

    def apply_frame(self, fr):
        """Returns the frame type applied."""
        kind = frame_type(fr)
        if kind == "snapshot":
            s = fr["snapshot"]
            chunk = s.get("chunk", 0)
            if chunk == 0:
                self.pending = ({}, {}, s.get("resync", False))
            elif self.pending is None:
                raise ValueError("snapshot chunk %d without chunk 0" % chunk)
            vmas, pages, _ = self.pending
            for v in s.get("vmas", []):
                a, rest = self.vma_from_pb(v)
                vmas[a] = rest
            for va, fl, pfn in self.entries_of(s):
                pages[va] = (fl & 7, pfn)
            if s.get("last_chunk"):
                self.vmas, self.pages, resync = self.pending
                self.pending = None
                self.seq = s.get("seq", 0)
                self.snapshots += 1
                if resync:
                    self.resyncs += 1
        elif kind == "delta":
            dl = fr["delta"]
            if self.seq is None:
                raise ValueError("delta before any snapshot")
            if dl.get("base_seq", 0) != self.seq:
                raise ValueError("delta base_seq %s on top of seq %s" %
                                 (dl.get("base_seq", 0), self.seq))
            # Protocol 2 chunks share seq and base_seq and apply in order.
            chunk = dl.get("chunk", 0)
            if chunk != (self.delta_chunk or 0):
                raise ValueError("delta chunk %d, expected %d" % (chunk, self.delta_chunk or 0))
            for r in dl.get("vmas_removed", []):
                if r.get("start", 0) not in self.vmas:
                    raise ValueError("removal of unknown VMA 0x%x" % r.get("start", 0))
                del self.vmas[r.get("start", 0)]
            for v in dl.get("vmas_added", []):
                a, rest = self.vma_from_pb(v)
                self.vmas[a] = rest
            for va, fl, pfn in self.entries_of(dl):
                if fl == 0:
                    self.pages.pop(va, None)
                else:
                    self.pages[va] = (fl & 7, pfn)
            if not dl.get("last_chunk", True):
                self.delta_chunk = chunk + 1
                return kind
            self.delta_chunk = None
            self.seq = dl.get("seq", 0)
            self.deltas += 1
        elif kind == "target_exited":
            self.exited = True
        return kind


def raw_status(daemon):
    """StatusReply (dict) over a fresh raw connection."""
    c = daemon.connect()
    try:
        c.hello()
        c.send(status={})
        fr, _ = c.recv_until(lambda f: frame_type(f) in ("status_reply", "error"),
                             what="status reply")
        check(frame_type(fr) == "status_reply", "status: %s" % short(fr))
        return fr["status_reply"]
    finally:
        c.close()


def session_status(d, pid):
    """The one session of pid in d's StatusReply (a check fails otherwise)."""
    sess = [s for s in raw_status(d).get("session", []) if s.get("pid") == pid]
    check(len(sess) == 1, "expected one session of pid %d, status shows %s" % (pid, sess))
    return sess[0]


def error_of(fr):
    check(frame_type(fr) == "error", "expected an Error frame, got %s" % short(fr))
    return fr["error"].get("code", "ERROR_UNSPECIFIED"), fr["error"].get("message", "")
