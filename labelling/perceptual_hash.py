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
# 64 bits cut into 7 bands (one of 10 bits, six of 9). Two hashes within 6 bits of each other
# differ in at most 6 bands, so at least one of the 7 is the same in both: looking up an
# image's 7 band values finds every near-duplicate, and on random hashes only about 1 in 73
# of the stored ones besides (each band matches 1 in 512 by chance).
BAND_WIDTHS = (10, 9, 9, 9, 9, 9, 9)
assert sum(BAND_WIDTHS) == 64 and len(BAND_WIDTHS) > NEAR_DUPLICATE_BITS


def band_keys(value: str) -> list[int]:
    """The hash's 7 index keys: band number × 2^16 + the band's bits."""
    bits, keys, shift = int(value, 16), [], 0
    for band, width in enumerate(BAND_WIDTHS):
        keys.append((band << 16) | ((bits >> shift) & ((1 << width) - 1)))
        shift += width
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
