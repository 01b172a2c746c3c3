"""Perceptual hashes for images stored before ingest computed them."""

from __future__ import annotations

import logging

from labelling.models import Image
from labelling.perceptual_hash import dhash

logger = logging.getLogger(__name__)


def image_hashes_backfill(*, batch_size: int = 500) -> tuple[int, int]:
    """Hash every image that has a thumbnail and no hash yet; (hashed, unreadable)."""
    hashed = unreadable = 0
    last = 0
    while True:
        batch = list(
            Image.objects.filter(dhash="", pk__gt=last)
            .exclude(thumbnail="")
            .order_by("pk")
            .only("pk", "thumbnail")[:batch_size]
        )
        if not batch:
            return hashed, unreadable
        for image in batch:
            try:
                with image.thumbnail.open("rb") as handle:
                    value = dhash(handle.read())
            except Exception as exc:  # a missing thumbnail costs that image's hash only
                logger.warning("cannot hash image %s: %s", image.pk, exc)
                unreadable += 1
                continue
            hashed += Image.objects.filter(pk=image.pk, dhash="").update(dhash=value)
        last = batch[-1].pk
