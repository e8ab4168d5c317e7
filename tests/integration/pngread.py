# SPDX-License-Identifier: GPL-2.0-or-later
"""A PNG decoder in plain Python (zlib and struct only), so that the plot
tests read the pictures independently of the libpng and cairo that wrote
them: 8-bit RGB and RGBA, non-interlaced, every filter type."""

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Image:
    def __init__(self, width, height, channels, rows):
        self.width, self.height, self.channels, self.rows = width, height, channels, rows

    def pixel(self, x, y):
        """(r, g, b) at integer pixel x, y."""
        row = self.rows[y]
        i = x * self.channels
        return tuple(row[i:i + 3])

    def colours(self, step=4):
        """The set of distinct colours on a grid of every step-th pixel."""
        return {self.pixel(x, y) for y in range(0, self.height, step)
                for x in range(0, self.width, step)}


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read(path):
    data = open(path, "rb").read()
    if data[:8] != SIGNATURE:
        raise ValueError("%s: not a PNG" % path)
    pos, idat, ihdr = 8, bytearray(), None
    while pos + 8 <= len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if zlib.crc32(kind + body) != crc:
            raise ValueError("%s: bad CRC in chunk %r" % (path, kind))
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + n
    if not ihdr:
        raise ValueError("%s: no IHDR" % path)
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("%s: unsupported PNG (depth %d, colour type %d, interlace %d)" %
                         (path, depth, ctype, interlace))
    ch = 3 if ctype == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * ch
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - ch] if i >= ch else 0
            b = prev[i]
            c = prev[i - ch] if i >= ch else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                line[i] = (line[i] + _paeth(a, b, c)) & 255
            elif f != 0:
                raise ValueError("%s: bad filter %d in row %d" % (path, f, y))
        rows.append(line)
        prev = line
    return Image(width, height, ch, rows)
