# SPDX-License-Identifier: GPL-2.0-or-later
"""Reads shadowctl recording files (doc/recording-format.md) independently
of client/recfile.c: the preamble, each record's length and CRC, and the
daemon frames inside frame records, decoded with the schema-driven codec
of harness.py."""

import struct
import zlib

from harness import proto

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
