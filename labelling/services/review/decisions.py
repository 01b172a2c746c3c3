"""People's decisions on images: in the queue (``review_submit``) and outside it
(``image_correct``).

A submission quotes the hold it answers (its token); it is refused as a whole, with the
reason per image, when a hold is gone, has passed to someone else, or the image changed
since it was handed out (``status_changed_at``), so a stale or repeated answer never lands.
A decision replaces the image's labels with the person's (source human: the next training
set reads them), moves it to verified (or rejected: no label is to be given; or no_label:
it fits no label of the taxonomy, a candidate for a new one) and records a Review with a
snapshot of the image's previous labels, from which undo restores it. Saying that images fit
no label also writes an audit event (one per submission), since it asks the taxonomy's
maintainers for a label.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labelling.models import (
    AuditAction,
    Client,
    Image,
    ImageLabel,
    ImageStatus,
    Label,
    Review,
    ReviewDecision,
    ReviewSnapshot,
    Taxonomy,
)
from labelling.models.images import LabelSource
from labelling.selectors.queue import QUEUE_STATUSES, labels_of, latest_predictions
from labelling.services import audit
from labelling.services.review.conflicts import ReviewConflict, changed, not_decidable, stale
from labelling.services.review.leases import leases_end
from labelling.services.review.suggestions import is_multi_label, suggested_labels
from training.services.retraining import retraining_after_review

MAX_DECISIONS = 200  # per submission
MAX_SECONDS_SPENT = 3600.0
DECIDABLE = (*QUEUE_STATUSES, ImageStatus.VERIFIED, ImageStatus.REJECTED, ImageStatus.NO_LABEL)
RESULT_STATUS = {
    ReviewDecision.REJECT: ImageStatus.REJECTED,
    ReviewDecision.NO_LABEL: ImageStatus.NO_LABEL,
}


@dataclass(frozen=True)
class Decision:
    image: int
    decision: str
    labels: tuple[int, ...] = ()
    lease: uuid.UUID | None = None
    seconds_spent: float | None = None


def review_submit(*, client: Client, reviewer, decisions: Sequence[Decision]) -> list[Review]:
    """Store the decisions on images the reviewer holds, all or none: any stale or repeated
    one raises ReviewConflict and nothing is stored. Returns the reviews, in order."""
    return _decide(client=client, user=reviewer, decisions=decisions, with_leases=True)


def image_correct(*, client: Client, user, decision: Decision) -> Review:
    """A person's decision on one image outside the queue (a librarian correcting a model's
    tag from the library). Whoever holds the image in the queue loses the hold."""
    return _decide(client=client, user=user, decisions=[decision], with_leases=False)[0]


def images_label_group(
    *, client: Client, user, image_ids: Sequence[int], label: int
) -> list[Review]:
    """Cluster labelling: a person gives one label to a group of similar images they looked
    at together (the ones they deselected are not in ``image_ids``). All or none, as one
    submission of one decision per image."""
    decisions = [Decision(image=pk, decision="correct", labels=(label,)) for pk in image_ids]
    return _decide(client=client, user=user, decisions=decisions, with_leases=False)


class _Moved(Exception):
    """Inside the write: a hold or an image was no longer what the reads before it saw."""


def _decide(*, client: Client, user, decisions: Sequence[Decision], with_leases: bool):
    """Everything is read and checked first, outside any transaction; the transaction then
    only writes, and each of its writes is conditional on what was read (the hold's token,
    the image's status and status_changed_at), so a change in between rolls it all back.
    On SQLite this keeps the one write lock for as short as possible."""
    if not decisions:
        raise ValidationError("No decisions were sent.")
    if len(decisions) > MAX_DECISIONS:
        raise ValidationError(f"At most {MAX_DECISIONS} decisions at a time.")
    ids = [d.image for d in decisions]
    if len(set(ids)) != len(ids):
        raise ValidationError("An image appears twice in one submission.")
    taxonomy = client.taxonomy
    _check_label_ids(taxonomy, {label for d in decisions for label in d.labels})
    multi_label = is_multi_label(taxonomy)

    images = {
        image.pk: image
        for image in Image.objects.filter(client=client, pk__in=ids).select_related("review_lease")
    }
    missing = [pk for pk in ids if pk not in images]
    if missing:
        raise ValidationError(f"No image {missing[0]} in this client.")
    conflicts = _conflicts(images, decisions, user, with_leases=with_leases)
    if conflicts:
        raise ReviewConflict(conflicts)
    predictions = latest_predictions(ids)
    current = labels_of(ids)
    now = timezone.now()
    reviews, snapshots, new_labels = [], [], []
    for d in decisions:
        image = images[d.image]
        prediction = predictions.get(image.pk)
        labels_now = current.get(image.pk, [])
        kind, label_ids = _normalise(
            d,
            suggested_labels(prediction, labels_now, multi_label=multi_label),
            multi_label=multi_label,
        )
        new_status = RESULT_STATUS.get(kind, ImageStatus.VERIFIED)
        if new_status != image.status and not image.can_transition_to(new_status):
            raise ValidationError(f"Image {image.pk} cannot go from {image.status} there.")
        machine = {il.label_id for il in labels_now if il.source == LabelSource.MACHINE}
        review = Review(
            image=image,
            reviewer=user,
            decision=kind,
            prediction=prediction,
            corrected_auto_tag=image.status == ImageStatus.AUTO_TAGGED
            and set(label_ids) != machine,
            previous_status=image.status,
            seconds_spent=_seconds(d.seconds_spent),
        )
        review.label_ids = label_ids
        reviews.append(review)
        snapshots.append(
            ReviewSnapshot(
                previous_labels=[
                    {"label": il.label_id, "source": il.source, "probability": il.probability}
                    for il in labels_now
                ],
                previous_changed_at=image.status_changed_at,
                result_status=new_status,
                result_changed_at=now,
            )
        )
        new_labels += [
            ImageLabel(image_id=image.pk, label_id=label, source=LabelSource.HUMAN)
            for label in label_ids
        ]

    try:
        with transaction.atomic():
            # Images first, in id order: a claim that is taking over one of these holds has
            # locked its image (SKIP LOCKED) before the hold, so the same order here means
            # that the two wait for each other at most, never deadlock.
            for review, snapshot in sorted(
                zip(reviews, snapshots, strict=True), key=lambda pair: pair[0].image_id
            ):
                image = images[review.image_id]
                moved = Image.objects.filter(
                    pk=image.pk, status=image.status, status_changed_at=image.status_changed_at
                ).move_status(snapshot.result_status, stay=True, now=now)
                if not moved:
                    raise _Moved
            tokens = [d.lease for d in decisions] if with_leases else None
            if not leases_end(image_ids=ids, user=user, tokens=tokens):
                raise _Moved
            if current:
                ImageLabel.objects.filter(image_id__in=list(current)).delete()
            ImageLabel.objects.bulk_create(new_labels)
            Review.objects.bulk_create(reviews)
            Review.labels.through.objects.bulk_create(
                [
                    Review.labels.through(review_id=review.pk, label_id=label)
                    for review in reviews
                    for label in review.label_ids
                ]
            )
            submission = uuid.uuid4()
            for review, snapshot in zip(reviews, snapshots, strict=True):
                snapshot.review, snapshot.submission = review, submission
            ReviewSnapshot.objects.bulk_create(snapshots)
            _record_no_label(
                client, user, [r for r in reviews if r.decision == ReviewDecision.NO_LABEL]
            )
    except _Moved:
        # Read again to say what happened; nothing was written.
        fresh = Image.objects.filter(pk__in=ids).select_related("review_lease").in_bulk()
        conflicts = _conflicts(fresh, decisions, user, with_leases=with_leases) or [
            changed(fresh[pk]) for pk in ids
        ]
        raise ReviewConflict(conflicts) from None
    for review in reviews:
        image = images[review.image_id]
        image.status, image.status_changed_at = review.snapshot.result_status, now
    retraining_after_review(client=client)
    return reviews


def _record_no_label(client: Client, user, reviews: list[Review]) -> None:
    if not reviews:
        return
    ids = sorted(review.image_id for review in reviews)
    shown = ", ".join(str(pk) for pk in ids[:10]) + (" …" if len(ids) > 10 else "")
    audit.record(
        user,
        AuditAction.NO_LABEL_MARKED,
        client=client,
        summary=f"{len(ids)} image(s) fit no label of the taxonomy: {shown}",
        detail={"images": ids, "reviews": sorted(review.pk for review in reviews)},
    )


def _conflicts(images: dict[int, Image], decisions, user, *, with_leases: bool) -> list[dict]:
    if with_leases:
        return [
            conflict
            for d in decisions
            if (
                conflict := stale(
                    images[d.image], getattr(images[d.image], "review_lease", None), user, d.lease
                )
            )
        ]
    return [
        not_decidable(images[d.image]) for d in decisions if images[d.image].status not in DECIDABLE
    ]


def _normalise(d: Decision, suggested: list[int], *, multi_label: bool) -> tuple[str, list[int]]:
    """(decision, label ids) to store. Choosing exactly the model's labels is accepting them."""
    labels = list(dict.fromkeys(d.labels))
    if d.decision == ReviewDecision.REJECT:
        if labels:
            raise ValidationError(f"Image {d.image}: reject means none of the labels; send none.")
        return ReviewDecision.REJECT, []
    if d.decision == ReviewDecision.NO_LABEL:
        if labels:
            raise ValidationError(
                f"Image {d.image}: no_label means it fits none of the taxonomy's labels; send none."
            )
        return ReviewDecision.NO_LABEL, []
    if d.decision == ReviewDecision.ACCEPT:
        if not suggested:
            raise ValidationError(
                f"Image {d.image} has no suggestion to accept: choose its labels "
                "(decision correct)."
            )
        if labels and set(labels) != set(suggested):
            raise ValidationError(
                f"Image {d.image}: accept takes the model's labels; send decision correct "
                "to choose others."
            )
        return ReviewDecision.ACCEPT, suggested
    if d.decision != ReviewDecision.CORRECT:
        raise ValidationError(f"Unknown decision {d.decision!r}.")
    if not labels:
        raise ValidationError(f"Image {d.image}: a correction needs the right label.")
    if not multi_label and len(labels) != 1:
        raise ValidationError(f"Image {d.image}: this taxonomy gives one label per image.")
    if suggested and set(labels) == set(suggested):
        return ReviewDecision.ACCEPT, labels
    return ReviewDecision.CORRECT, labels


def _check_label_ids(taxonomy: Taxonomy | None, label_ids: set[int]) -> None:
    if not label_ids:
        return
    known = set(
        Label.objects.active()
        .filter(taxonomy=taxonomy, pk__in=label_ids)
        .values_list("pk", flat=True)
    )
    unknown = sorted(label_ids - known)
    if unknown:
        raise ValidationError(f"Label {unknown[0]} is not an active label of this taxonomy.")


def _seconds(value: float | None) -> float | None:
    if value is None:
        return None
    return min(max(float(value), 0.0), MAX_SECONDS_SPENT)
