# SPDX-License-Identifier: GPL-2.0-or-later
"""Reads shadowctl recording files (doc/recording-format.md) independently
of client/recfile.c: the preamble, each record's length and CRC, and the
daemon frames inside frame records, decoded with the schema-driven codec
of harness.py."""

import struct
import zlib

from harness import proto, read_varint

MAGIC = b"\x89SPTREC\n"
T_HEADER, T_FRAME, T_END = 1, 2, 3


def records(path):
    """[(offset, type, body_after_type)] of every complete record with a
    good CRC, and whether the file ended exactly after the last one."""
    data = open(path, "rb").read()
    if data[:8] != MAGIC:
        raise ValueError("%s: no recording magic" % path)
    out, off = [], 12
    while off + 8 <= len(data):
        n, crc = struct.unpack(">II", data[off:off + 8])
        body = data[off + 8:off + 8 + n]
        if len(body) < n or zlib.crc32(body) != crc:
            return out, False
        out.append((off, body[0], body[1:]))
        off += 8 + n
    return out, off == len(data)


def frames(path):
    """[(recv_ns, frame dict)] of the frame records."""
    recs, _ = records(path)
    out = []
    for _, t, body in recs:
        if t == T_FRAME:
            out.append((struct.unpack(">Q", body[:8])[0], proto().decode("Frame", body[8:])))
    return out


def start_monotonic_ns(path):
    """The header's start_monotonic_ns (client/recording.proto field 4), or 0."""
    recs, _ = records(path)
    for _, t, body in recs:
        if t != T_HEADER:
            continue
        pos = 0
        while pos < len(body):
            key, pos = read_varint(body, pos)
            num, wt = key >> 3, key & 7
            if wt == 0:
                v, pos = read_varint(body, pos)
                if num == 4:
                    return v
            elif wt == 2:
                n, pos = read_varint(body, pos)
                pos += n
            elif wt in (1, 5):
                pos += 8 if wt == 1 else 4
            else:
                raise ValueError("%s: header wire type %d" % (path, wt))
    return 0


def frame_time(t0, recv_ns, frame):
    """When the plot puts a frame (client/plot-build.c frame_time): the
    delta's event time, else its sample time, since t0; never after it
    arrived."""
    dl = frame.get("delta") or {}
    t = dl.get("event_time_ns") or dl.get("timestamp_ns") or 0
    if not t or not t0:
        return recv_ns
    return min(max(t - t0, 0), recv_ns)


def has_end(path):
    recs, _ = records(path)
    return bool(recs) and recs[-1][1] == T_END


def snapshot_complete(path):
    """Whether the file holds a whole snapshot (its last chunk)."""
    try:
        return any("snapshot" in f and f["snapshot"].get("last_chunk")
                   for _, f in frames(path))
    except (OSError, ValueError):
        return False
