"""A new label made from images that fit none of the taxonomy's: the label is added
through the taxonomy editor's service (a new version, audited) and the images chosen get
it through the review services (one review per image, as cluster labelling gives), all in
one transaction: either the label exists with its images, or nothing changed."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction

from labelling.models import Client, Image, ImageStatus, Label, Review
from labelling.services.review import images_label_group
from labelling.services.taxonomy import label_create


def label_create_from_images(
    *,
    client: Client,
    user,
    key: str,
    name: str,
    image_ids: Sequence[int],
    parent: Label | None = None,
    description: str = "",
) -> tuple[Label, list[Review]]:
    """Add the label to the client's taxonomy and give it to ``image_ids``, which must be
    the client's images that fit no label. Raises ValidationError (nothing written) for an
    empty choice, an image that is not one of those, or a label the editor would refuse."""
    ids = list(dict.fromkeys(int(pk) for pk in image_ids))
    if not ids:
        raise ValidationError("Choose at least one image for the new label.")
    taxonomy = client.taxonomy
    if taxonomy is None:
        raise ValidationError(f"{client.name} has no taxonomy to add a label to.")
    waiting = set(
        Image.objects.for_client(client)
        .filter(pk__in=ids, status=ImageStatus.NO_LABEL)
        .values_list("pk", flat=True)
    )
    gone = [pk for pk in ids if pk not in waiting]
    if gone:
        raise ValidationError(
            f"Image {gone[0]} is not one of this client's images that fit no label "
            "(someone may have labelled it since): reload the page."
        )
    with transaction.atomic():
        label = label_create(
            taxonomy=taxonomy,
            key=key,
            name=name,
            parent=parent,
            description=description,
            user=user,
        )
        reviews = images_label_group(client=client, user=user, image_ids=ids, label=label.pk)
    return label, reviews
