"""Perceptual hashes and their index: stored with each image's hash (at upload, at ingest,
or by the backfill for images stored before either computed one)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from labelling.models import Image, ImageHashBand
from labelling.perceptual_hash import band_keys, dhash

logger = logging.getLogger(__name__)


def image_hash_bands_store(*, images: Iterable[Image], new: bool = False) -> int:
    """Index the hashes of ``images`` (saved rows, dhash set): their band rows, replacing any
    they had (``new``: rows just inserted, which have none). Called in the transaction that
    stores the hash. Returns the rows written."""
    images = [image for image in images if image.pk and image.dhash]
    if not images:
        return 0
    if not new:
        ImageHashBand.objects.filter(image_id__in=[image.pk for image in images]).delete()
    rows = [
        ImageHashBand(image_id=image.pk, client_id=image.client_id, key=key)
        for image in images
        for key in band_keys(image.dhash)
    ]
    ImageHashBand.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


def image_hashes_backfill(*, batch_size: int = 500) -> tuple[int, int]:
    """Hash every image that has a thumbnail and no hash yet, and index every hash that has
    no index rows (images hashed before the index existed); (hashed, unreadable)."""
    hashed = unreadable = 0
    last = 0
    while True:
        batch = list(
            Image.objects.filter(dhash="", pk__gt=last)
            .exclude(thumbnail="")
            .order_by("pk")
            .only("pk", "client_id", "thumbnail")[:batch_size]
        )
        if not batch:
            break
        for image in batch:
            try:
                with image.thumbnail.open("rb") as handle:
                    value = dhash(handle.read())
            except Exception as exc:  # a missing thumbnail costs that image's hash only
                logger.warning("cannot hash image %s: %s", image.pk, exc)
                unreadable += 1
                continue
            if Image.objects.filter(pk=image.pk, dhash="").update(dhash=value):
                image.dhash = value
                image_hash_bands_store(images=[image])
                hashed += 1
        last = batch[-1].pk
    _index_unindexed(batch_size=batch_size)
    return hashed, unreadable


def _index_unindexed(*, batch_size: int) -> None:
    last = 0
    while True:
        batch = list(
            Image.objects.exclude(dhash="")
            .filter(pk__gt=last, hash_bands__isnull=True)
            .order_by("pk")
            .only("pk", "client_id", "dhash")[:batch_size]
        )
        if not batch:
            return
        image_hash_bands_store(images=batch)
        last = batch[-1].pk
