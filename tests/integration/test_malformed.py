#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Malformed input on one connection gets an Error frame (code + message,
fatal) and a close, while a concurrent viewer on the same daemon keeps
being served and new connections still get a Welcome."""

import socket
import struct

from harness import (Daemon, Target, check, diff_tables, encode_frame, error_of, frame_type,
                     main, read_truth, short, varint, PAGE, T_STEP)


class Env:
    def __init__(self):
        self.d = Daemon()
        self.t = Target()
        self.a, _ = self.t.step("mmap-anon 16")
        self.rng = (self.a, self.a + 16 * PAGE)
        self.w = self.d.watcher(self.t.pid, "--range", "0x%x:0x%x" % self.rng)
        self.w.wait_for(lambda w: w.table.snapshots >= 1, T_STEP, "the first snapshot")
        self.n = 0

    def viewer_still_served(self):
        """The concurrent viewer follows one more step."""
        self.n += 1
        if self.n % 2:
            self.t.step("touch-write 0x%x 16" % self.a)
        else:
            self.t.step("madvise-dontneed 0x%x 16" % self.a)
        self.t.stop()
        try:
            self.w.wait_for(lambda w: not diff_tables(w.table.vmas, w.table.pages,
                                                      read_truth(self.t.pid, self.rng),
                                                      "raw", self.rng),
                            T_STEP, "the concurrent viewer to follow the target")
        finally:
            self.t.cont()
        c = self.d.connect()
        c.hello()
        c.close()
        self.d.check_alive()


def expect_fatal_error(c, codes, what):
    """Reads to EOF; the first frame must be a fatal Error with a code in
    codes and a message."""
    frames = c.expect_eof(timeout=T_STEP)
    check(frames, "%s: connection closed without an Error frame" % what)
    code, msg = error_of(frames[0])
    check(code in codes, "%s: error code %s, expected %s (%r)" % (what, code, codes, msg))
    check(msg, "%s: Error frame without a message" % what)
    check(frames[0]["error"].get("fatal") is True, "%s: Error not marked fatal" % what)
    check(len(frames) == 1, "%s: frames after the fatal error: %s" % (what, short(frames[1:])))
    return code, msg


CASES = []


def case(fn):
    CASES.append(fn)
    return fn


@case
def garbage_payload(env):
    c = env.d.connect()
    c.send_raw(struct.pack(">I", 8) + b"\xff\xff\xff\xff\xff\xff\xff\xff")
    expect_fatal_error(c, ("ERROR_MALFORMED_FRAME",), "undecodable payload")


@case
def garbage_text(env):
    c = env.d.connect()
    # "GET " as a length prefix is ~1.2 GB: refused before any allocation.
    c.send_raw(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    expect_fatal_error(c, ("ERROR_FRAME_TOO_LARGE",), "HTTP garbage")


@case
def oversize_length(env):
    c = env.d.connect()
    c.hello()
    c.send_raw(struct.pack(">I", 64 * 1024 + 1))
    expect_fatal_error(c, ("ERROR_FRAME_TOO_LARGE",), "length 64 KiB + 1")


@case
def oversize_length_with_body(env):
    c = env.d.connect()
    body = b"\x00" * (128 * 1024)
    try:
        c.send_raw(struct.pack(">I", len(body)) + body)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the daemon may close before reading it all
    try:
        expect_fatal_error(c, ("ERROR_FRAME_TOO_LARGE",), "128 KiB frame")
    except ConnectionResetError:
        pass  # unread body bytes make close() send RST: acceptable


@case
def truncated_then_close(env):
    c = env.d.connect()
    c.hello()
    full = encode_frame({"request_id": 9, "ping": {"nonce": 42}})
    c.send_raw(full[:-2])
    c.sock.shutdown(socket.SHUT_WR)
    frames = c.expect_eof(timeout=T_STEP)
    # The daemon sees EOF inside a frame: it closes, with an Error if it
    # reports one, never with a Pong.
    for fr in frames:
        check(frame_type(fr) == "error", "truncated frame answered with %s" % short(fr))
        check(error_of(fr)[0] == "ERROR_MALFORMED_FRAME", "truncated frame: %s" % short(fr))


@case
def truncated_varint(env):
    c = env.d.connect()
    c.send_raw(struct.pack(">I", 3) + b"\x08\xff\xff")  # request_id varint cut short
    expect_fatal_error(c, ("ERROR_MALFORMED_FRAME",), "truncated varint")


@case
def watch_before_hello(env):
    c = env.d.connect()
    c.watch(env.t.pid)
    expect_fatal_error(c, ("ERROR_UNEXPECTED_MESSAGE",), "Watch before Hello")


@case
def server_message_from_client(env):
    c = env.d.connect()
    c.hello()
    c.send(welcome={"protocol_version": 1, "server_version": "evil"})
    expect_fatal_error(c, ("ERROR_UNEXPECTED_MESSAGE",), "Welcome sent by a client")


@case
def snapshot_from_client(env):
    c = env.d.connect()
    c.hello()
    c.send(snapshot={"watch_id": 1, "seq": 1, "last_chunk": True})
    expect_fatal_error(c, ("ERROR_UNEXPECTED_MESSAGE",), "Snapshot sent by a client")


@case
def empty_frame(env):
    c = env.d.connect()
    c.hello()
    c.send_raw(struct.pack(">I", 0))
    expect_fatal_error(c, ("ERROR_UNEXPECTED_MESSAGE", "ERROR_MALFORMED_FRAME"),
                       "empty Frame")


@case
def unknown_field_only(env):
    c = env.d.connect()
    c.hello()
    body = varint(1 << 3) + varint(5) + varint(99 << 3) + varint(1)  # request_id + field 99
    c.send_raw(struct.pack(">I", len(body)) + body)
    expect_fatal_error(c, ("ERROR_UNEXPECTED_MESSAGE", "ERROR_MALFORMED_FRAME"),
                       "Frame with no known message")


@case
def future_protocol_version(env):
    """A client newer than the daemon is answered with the daemon's version."""
    c = env.d.connect()
    c.send(hello={"protocol_version": 999, "client_name": "future"})
    fr = c.recv(expect="welcome")
    check(fr["welcome"].get("protocol_version") == 2, "Welcome: %s" % short(fr))


@case
def protocol_version_zero(env):
    c = env.d.connect()
    c.send(hello={"client_name": "no-version"})
    expect_fatal_error(c, ("ERROR_UNSUPPORTED_VERSION",), "Hello without a version")


@case
def second_hello(env):
    c = env.d.connect()
    c.hello()
    c.send(hello={"protocol_version": 1})
    expect_fatal_error(c, ("ERROR_UNEXPECTED_MESSAGE",), "second Hello")


@case
def request_id_echoed(env):
    """Not malformed: a sanity check that replies echo request_id."""
    c = env.d.connect()
    c.send(request_id=77, hello={"protocol_version": 1, "client_name": "x"})
    fr = c.recv(expect="welcome")
    check(fr.get("request_id") == 77, "Welcome request_id %s != 77" % fr.get("request_id"))
    check(fr["welcome"].get("protocol_version") == 1, "Welcome: %s" % short(fr))
    c.send(request_id=78, ping={"nonce": 12345})
    fr = c.recv(expect="pong")
    check(fr.get("request_id") == 78 and fr["pong"].get("nonce") == 12345,
          "Pong: %s" % short(fr))
    c.close()


def make_test(fn):
    def test():
        env = Env()
        try:
            fn(env)
            env.viewer_still_served()
        except AssertionError as e:
            raise AssertionError("%s\ndaemon log:\n%s" % (e, env.d.log()[-1500:]))
        env.w.stop()
    test.__name__ = "test_" + fn.__name__
    return test


if __name__ == "__main__":
    main([make_test(fn) for fn in CASES])
