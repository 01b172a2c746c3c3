"""The review queue as rows: which images wait, in what order, with what the model said."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, F, FloatField, OuterRef, QuerySet, Subquery

from labelling.models import Client, Image, ImageLabel, ImageStatus, Prediction

# The queue serves images the model was unsure of; auto-tagged ones can be queued too, to
# check the model's own tags (their corrections measure the auto-accept policy's precision).
QUEUE_STATUSES = (ImageStatus.NEEDS_REVIEW, ImageStatus.AUTO_TAGGED)

# An image's latest prediction is its newest model version's (versions only ever grow, and
# there is one prediction per image and version): ordering by the version walks the unique
# (image, version) index, where "most recently created" would sort each image's predictions,
# which costs a third more when a whole queue is ordered.
LATEST = ("-model_version_id",)

LEAST_CERTAIN, MOST_CERTAIN, OLDEST = "least_certain", "most_certain", "oldest"
ORDERS = {
    LEAST_CERTAIN: "Least certain first",
    MOST_CERTAIN: "Most certain first",
    OLDEST: "Oldest first",
}


@dataclass(frozen=True)
class QueueFilters:
    status: str = ImageStatus.NEEDS_REVIEW
    label: int | None = None  # the model's top label
    batch: int | None = None
    order: str = LEAST_CERTAIN


def review_queue(client: Client, filters: QueueFilters) -> QuerySet[Image]:
    """The client's images waiting for review under ``filters``, in queue order, annotated
    with the latest prediction's ``confidence`` and ``predicted_label``."""
    latest = Prediction.objects.filter(image=OuterRef("pk")).order_by(*LATEST)
    images = Image.objects.filter(client=client, status=filters.status).annotate(
        confidence=Subquery(latest.values("top_probability")[:1], output_field=FloatField()),
        predicted_label=Subquery(latest.values("top_label")[:1]),
    )
    if filters.batch is not None:
        images = images.filter(batch_id=filters.batch)
    if filters.label is not None:
        images = images.filter(predicted_label=filters.label)
    if filters.order == OLDEST:
        return images.order_by("created_at", "id")
    # Images the model has not seen yet come after those it is unsure of: there is nothing to
    # suggest for them.
    if filters.order == MOST_CERTAIN:
        return images.order_by(F("confidence").desc(nulls_last=True), "created_at", "id")
    return images.order_by(F("confidence").asc(nulls_last=True), "created_at", "id")


def waiting_per_label(
    client: Client, *, status: str, batch: int | None = None
) -> dict[int | None, int]:
    """How many images wait per label the model put them in (``None``: not predicted)."""
    images = review_queue(client, QueueFilters(status=status, batch=batch)).order_by()
    rows = images.values("predicted_label").annotate(n=Count("pk")).order_by()
    return {row["predicted_label"]: row["n"] for row in rows}


def latest_predictions(image_ids: Iterable[int]) -> dict[int, Prediction]:
    """image id → its latest prediction, for the images that have one."""
    latest: dict[int, Prediction] = {}
    # The top label comes along: a retired one is no suggestion (suggested_labels).
    rows = (
        Prediction.objects.filter(image_id__in=list(image_ids))
        .select_related("top_label")
        .order_by("image_id", *LATEST)
    )
    for prediction in rows:
        latest.setdefault(prediction.image_id, prediction)
    return latest


def labels_of(image_ids: Iterable[int]) -> dict[int, list[ImageLabel]]:
    """image id → the labels it carries now, most probable first (a person's first)."""
    by_image: dict[int, list[ImageLabel]] = {}
    for image_label in ImageLabel.objects.filter(image_id__in=list(image_ids)).order_by(
        "image_id", F("probability").desc(nulls_first=True), "label_id"
    ):
        by_image.setdefault(image_label.image_id, []).append(image_label)
    return by_image
