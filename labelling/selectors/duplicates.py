"""Near-duplicates of an image among its client's images, by perceptual hash."""

from __future__ import annotations

from labelling.models import Image
from labelling.perceptual_hash import NEAR_DUPLICATE_BITS, distance


def near_duplicates(image: Image, *, limit: int = 5) -> list[tuple[int, int]]:
    """(image id, bits apart) of the client's other images that look like ``image``,
    closest first. One pass over the client's hashes: a 16-character column, so a library
    of 50,000 images is a few megabytes read."""
    if not image.dhash:
        return []
    rows = (
        Image.objects.for_client(image.client_id)
        .exclude(pk=image.pk)
        .exclude(dhash="")
        .values_list("pk", "dhash")
    )
    found = [(pk, distance(image.dhash, other)) for pk, other in rows.iterator()]
    near = sorted((d, pk) for pk, d in found if d <= NEAR_DUPLICATE_BITS)
    return [(pk, d) for d, pk in near[:limit]]
