"""Near-duplicates of images among their client's images, by perceptual hash, through the
hash-band index (labelling.perceptual_hash): one indexed query reads the images that have a
band equal to, or one bit from, a band of the ones asked about, and only those are compared
bit by bit."""

from __future__ import annotations

from collections.abc import Mapping

from labelling.models import Image, ImageHashBand
from labelling.perceptual_hash import NEAR_DUPLICATE_BITS, distance, probe_keys


def near_duplicates_of(
    client_id: int, hashes: Mapping[int, str], *, limit: int = 5
) -> dict[int, list[tuple[int, int]]]:
    """For each image id in ``hashes`` (id → its dHash), the (image id, bits apart) of the
    client's other images within NEAR_DUPLICATE_BITS of it, closest first (then oldest),
    at most ``limit``. One query whatever the number of images asked about."""
    wanted = {pk: value for pk, value in hashes.items() if value}
    found: dict[int, list[tuple[int, int]]] = {pk: [] for pk in hashes}
    if not wanted:
        return found
    keys_of = {pk: set(probe_keys(value)) for pk, value in wanted.items()}
    all_keys = set().union(*keys_of.values())
    candidates: dict[int, tuple[str, set[int]]] = {}
    rows = ImageHashBand.objects.filter(client_id=client_id, key__in=all_keys).values_list(
        "image_id", "key", "image__dhash"
    )
    for other, key, value in rows.iterator():
        candidates.setdefault(other, (value, set()))[1].add(key)
    for pk, value in wanted.items():
        mine = keys_of[pk]
        near = sorted(
            (distance(value, other_value), other)
            for other, (other_value, keys) in candidates.items()
            if other != pk and keys & mine and other_value
        )
        found[pk] = [(other, bits) for bits, other in near if bits <= NEAR_DUPLICATE_BITS][:limit]
    return found


def near_duplicates(image: Image, *, limit: int = 5) -> list[tuple[int, int]]:
    """(image id, bits apart) of the client's other images that look like ``image``."""
    return near_duplicates_of(image.client_id, {image.pk: image.dhash}, limit=limit)[image.pk]
