"""PNG files built byte by byte for the image loader's tests: headers that claim any size."""

import struct
import zlib


def png_header(width: int, height: int, payload: bytes = b"\x00" * 16) -> bytes:
    """A PNG whose header claims width x height (8-bit greyscale) followed by a little compressed data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(payload))
        + chunk(b"IEND", b"")
    )
