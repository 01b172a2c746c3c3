"""Hostile images built in memory: tiny files that claim (or decode to) huge pixel counts."""

import io
import struct
import zlib

from PIL import Image as PILImage

_PNG_COLOUR_TYPES = {"L": (0, 1), "RGB": (2, 3), "RGBA": (6, 4)}


def png_of_zeros(width: int, height: int, *, mode: str = "RGBA", bits: int = 16) -> bytes:
    """A valid PNG of ``width`` × ``height`` zero pixels, compressed row by row so that a
    49-megapixel RGBA16 one costs a few hundred KB to make, not its 392 MB of pixels."""
    colour_type, bands = _PNG_COLOUR_TYPES[mode]
    row = b"\x00" * (1 + width * bands * bits // 8)  # filter byte, then the samples
    compressor = zlib.compressobj(1)  # zeros compress 1000:1 at any level
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bits, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND")


def lossless_webp(width: int, height: int, *, mode: str = "RGBA") -> bytes:
    """A flat lossless WebP: 7000 × 7000 compresses to a few dozen bytes."""
    buffer = io.BytesIO()
    PILImage.new(mode, (width, height)).save(buffer, format="WEBP", lossless=True, method=0)
    return buffer.getvalue()


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small real JPEG whose frame header is rewritten to claim ``width`` × ``height``:
    its scan is far too short for that, and libjpeg would fill the rest with grey."""
    buffer = io.BytesIO()
    PILImage.new("RGB", (64, 64), (200, 40, 40)).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    position = 2
    while data[position + 1] not in (0xC0, 0xC2):  # to the SOF0/SOF2 frame header
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    data[position + 5 : position + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _chunk(kind: bytes, body: bytes = b"") -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)
