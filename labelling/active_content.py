"""Where a file could be read as a web page or a script, for the upload check in
``labelling.image_validation``: pure bytes, no Pillow, no Django."""

from __future__ import annotations

import re

# What makes a file readable as a web page or script by a browser, a viewer or a mail client
# that sniffs: a tag, that is its name followed by what ends a tag name (whitespace, "/" or
# ">"). Searched case-insensitively in everything but the compressed pixel data of JPEG and
# PNG files (see readable_ranges): a PNG or JPEG can carry markup in a text chunk, a comment
# or after its end, while compressed pixels are random bytes in which "<svg" alone turned up
# in about one photo in 3,600. Photo metadata (EXIF, IPTC, XMP) has none of these tags.
# One compiled pattern: about 2 GB/s, where ten `in` tests on lower-cased bytes took 10× longer.
# Also: a tag name behind a namespace prefix (<x:script>, read as script in XHTML), an event
# handler in any tag (<img src=x onerror=...>, printable text only, as a browser reads it:
# random compressed bytes do not spell it), and the markers by which a PDF or PostScript
# viewer takes a file as its own.
ACTIVE_CONTENT = re.compile(
    rb"<(?:[a-z_][\w.-]{0,40}:)?"
    rb"(?:script|html|!doctype|svg|iframe|object|embed|body|style|meta|\?php|\?xml-stylesheet)"
    rb"[\s/>]"
    rb"|<[a-z][\w:.-]{0,40}[\s/][\x20-\x7e\t\r\n]{0,400}?[\s\"'/]on[a-z]{3,30}\s*="
    rb"|%PDF-|%!PS",
    re.IGNORECASE,
)


def jpeg_pixel_ranges(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of a JPEG's entropy-coded scans: its compressed pixels. Everything else
    (markers, APPn with EXIF and XMP, COM, tables, whatever follows the end) is not here."""
    ranges, position, end = [], 2, len(data)  # after SOI
    while position + 4 <= end and data[position] == 0xFF:
        marker = data[position + 1]
        if marker == 0xD9:  # EOI
            break
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            position += 2
            continue
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker != 0xDA:  # not SOS
            continue
        scan_start = position
        while True:  # to the next marker that is not a stuffed 0xFF byte or a restart
            position = data.find(b"\xff", position)
            if position < 0 or position + 1 >= end:
                ranges.append((scan_start, end))  # no end of image: the decoder reports it
                return ranges
            following = data[position + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                position += 2
                continue
            break
        ranges.append((scan_start, position))
    return ranges


def png_pixel_ranges(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of the data of a PNG's IDAT chunks: its compressed pixels."""
    ranges, position, end = [], 8, len(data)  # after the signature
    while position + 8 <= end:
        length = int.from_bytes(data[position : position + 4], "big")
        kind = data[position + 4 : position + 8]
        if kind == b"IDAT":
            ranges.append((position + 8, min(position + 8 + length, end)))
        if kind == b"IEND":
            break
        position += 12 + length
    return ranges


def readable_ranges(data: bytes, image_format: str | None) -> list[tuple[int, int]]:
    """What of a file could be read as text: all of it but the compressed pixels of JPEG
    and PNG files, whose structure is simple to walk. Readable segments next to each other
    make one range: the bytes are searched as a sniffer reads them, in file order."""
    pixels: list[tuple[int, int]] = []
    if image_format == "JPEG" and data[:2] == b"\xff\xd8":
        pixels = jpeg_pixel_ranges(data)
    elif image_format == "PNG" and data[:8] == b"\x89PNG\r\n\x1a\n":
        pixels = png_pixel_ranges(data)
    readable, position = [], 0
    for start, stop in pixels:
        if start > position:
            readable.append((position, start))
        position = max(position, stop)
    readable.append((position, len(data)))
    return readable


def find_marker(data: bytes, image_format: str | None = None) -> str | None:
    """The first active-content marker in the readable parts of ``data``, lower-cased
    (at most 60 characters), or None."""
    for start, stop in readable_ranges(data, image_format):
        found = ACTIVE_CONTENT.search(data, start, stop)
        if found is not None:
            return found.group()[:60].decode("ascii", "replace").lower()
    return None
