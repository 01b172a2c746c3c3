"""The images people said fit no label of the taxonomy: candidates for new labels."""

from __future__ import annotations

from labelling.models import Client, Image, ImageStatus


def no_label_image_ids(client: Client) -> list[int]:
    """The client's images that fit no label, oldest decision first."""
    return list(
        Image.objects.for_client(client)
        .filter(status=ImageStatus.NO_LABEL)
        .order_by("status_changed_at", "pk")
        .values_list("pk", flat=True)
    )
