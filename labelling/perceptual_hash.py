"""A perceptual hash (dHash) of an image: 64 bits, one per pair of neighbouring pixels of a
9×8 grey thumbnail, set when the left one is brighter. Re-encoding, resizing or a small
crop change a few bits; another photo differs in about half of them."""

from __future__ import annotations

import io

from PIL import Image as PILImage

# Bits that may differ between two copies of one image (re-encoded, resized, lightly
# edited); independent photos differ in ~32.
NEAR_DUPLICATE_BITS = 6


def dhash(data: bytes | PILImage.Image) -> str:
    """16 hex digits."""
    image = data if isinstance(data, PILImage.Image) else PILImage.open(io.BytesIO(data))
    grey = image.convert("L").resize((9, 8), PILImage.Resampling.LANCZOS)
    pixels = list(grey.getdata())
    value = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            value = (value << 1) | int(left > right)
    return f"{value:016x}"


# The index that finds near-duplicates without reading every hash (multi-index hashing): the
# 64 bits cut into 4 bands of 16, each stored as one key. Two hashes within 6 bits of each
# other cannot differ in 2 or more bits of every band (that would be 8), so in one band at
# least they differ by at most one bit: looking up each band's value and its 16 one-bit
# neighbours (68 keys) finds every near-duplicate, and on random hashes only about 4 × 17
# in 65,536 of the stored ones besides (13 of 50,000).
BANDS, BAND_BITS = 4, 16
assert BANDS * BAND_BITS == 64 and BANDS * 2 > NEAR_DUPLICATE_BITS


def _bands(value: str) -> list[int]:
    bits = int(value, 16)
    return [(bits >> (band * BAND_BITS)) & 0xFFFF for band in range(BANDS)]


def band_keys(value: str) -> list[int]:
    """The keys a hash is stored under in the index: band number × 2^16 + the band's bits."""
    return [(band << BAND_BITS) | part for band, part in enumerate(_bands(value))]


def probe_keys(value: str) -> list[int]:
    """The keys to look up for a hash's near-duplicates: each band's own key and the keys of
    its 16 one-bit neighbours."""
    keys = []
    for band, part in enumerate(_bands(value)):
        keys.append((band << BAND_BITS) | part)
        keys += [(band << BAND_BITS) | (part ^ (1 << bit)) for bit in range(BAND_BITS)]
    return keys


def distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def near_duplicate_groups(hashes: list[str | None]) -> list[int]:
    """Each row's group: the lowest row index it is linked to through near-duplicate pairs
    (rows without a hash are groups of their own). Candidate pairs share one of eight 8-bit
    bands, which any two hashes within NEAR_DUPLICATE_BITS (< 8) bits of each other do."""
    parent = list(range(len(hashes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    values = [int(h, 16) if h else None for h in hashes]
    for band in range(8):
        buckets: dict[int, list[int]] = {}
        for i, value in enumerate(values):
            if value is not None:
                buckets.setdefault((value >> (8 * band)) & 0xFF, []).append(i)
        for members in buckets.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    i, j = members[x], members[y]
                    if (values[i] ^ values[j]).bit_count() <= NEAR_DUPLICATE_BITS:
                        a, b = find(i), find(j)
                        if a != b:
                            parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(hashes))]
