"""The images people said fit no label of the taxonomy: candidates for new labels."""

from __future__ import annotations

import hashlib

from labelling.models import Client, Image, ImageStatus


def no_label_image_ids(client: Client) -> list[int]:
    """The client's images that fit no label, oldest decision first."""
    return list(
        Image.objects.for_client(client)
        .filter(status=ImageStatus.NO_LABEL)
        .order_by("status_changed_at", "pk")
        .values_list("pk", flat=True)
    )


def image_set_fingerprint(image_ids) -> str:
    """Names a set of images: the same ids give the same string, whatever their order."""
    digest = hashlib.sha256(",".join(str(pk) for pk in sorted(image_ids)).encode())
    return digest.hexdigest()
