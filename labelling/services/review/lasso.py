"""Labelling from the embedding map: a person lassoes a group of neighbouring images and
gives them one label, through the same service as the grid's group labelling (one
submission: reviews with snapshots, audited and taken back by one undo like any decision).

The lasso is what the person drew, so it is cleaned before it is decided: images that can
no longer be decided (being ingested again, failed) and images that already carry exactly
that label from a person are left out and counted, rather than refusing the whole group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction

from labelling.models import AuditAction, Client, Image, ImageLabel, ImageStatus, Label, Review
from labelling.models.images import LabelSource
from labelling.services import audit
from labelling.services.review.decisions import DECIDABLE, images_label_group

# A lasso over a dense part of a 50,000-image map takes thousands; each is one conditional
# UPDATE in one transaction, about a second per thousand on SQLite.
MAX_LASSO = 5000


@dataclass
class LassoOutcome:
    reviews: list[Review]
    # why an image was left out → how many
    skipped: dict[str, int] = field(default_factory=dict)


def images_label_lasso(
    *, client: Client, user, image_ids: Sequence[int], label: int
) -> LassoOutcome:
    ids = list(dict.fromkeys(int(pk) for pk in image_ids))
    if not ids:
        raise ValidationError("Lasso at least one image to label.")
    if len(ids) > MAX_LASSO:
        raise ValidationError(
            f"At most {MAX_LASSO} images at a time; zoom in and lasso a smaller group."
        )
    status = dict(Image.objects.filter(client=client, pk__in=ids).values_list("pk", "status"))
    missing = [pk for pk in ids if pk not in status]
    if missing:
        raise ValidationError(f"No image {missing[0]} in this client.")
    decidable = [pk for pk in ids if status[pk] in DECIDABLE]
    skipped = {}
    if len(decidable) < len(ids):
        skipped["cannot be decided now"] = len(ids) - len(decidable)
    done = _already_labelled(decidable, label, status)
    todo = [pk for pk in decidable if pk not in done]
    if done:
        skipped["already had this label"] = len(done)
    if not todo:
        return LassoOutcome(reviews=[], skipped=skipped)
    with transaction.atomic():
        reviews = images_label_group(
            client=client, user=user, image_ids=todo, label=label, limit=MAX_LASSO
        )
        # One lasso can relabel thousands of images at once: besides each image's review,
        # the client's audit log says who did it, with what label, and to which images.
        labelled = sorted(review.image_id for review in reviews)
        name = Label.objects.filter(pk=label).values_list("name", flat=True).first()
        audit.record(
            user,
            AuditAction.MAP_GROUP_LABELLED,
            client=client,
            summary=f"labelled {len(labelled)} image(s) “{name}” from the map.",
            detail={"label": label, "images": labelled, "skipped": skipped},
        )
    return LassoOutcome(reviews=reviews, skipped=skipped)


def _already_labelled(ids: list[int], label: int, status: dict[int, str]) -> set[int]:
    """Verified images whose only label is ``label``, given by a person."""
    verified = [pk for pk in ids if status[pk] == ImageStatus.VERIFIED]
    labels: dict[int, set[tuple[int, str]]] = {}
    for image_id, label_id, source in ImageLabel.objects.filter(image_id__in=verified).values_list(
        "image_id", "label_id", "source"
    ):
        labels.setdefault(image_id, set()).add((label_id, source))
    return {pk for pk, have in labels.items() if have == {(label, LabelSource.HUMAN)}}
