"""Taking a decision back: the image's previous status and labels, from the snapshot the
decision kept."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from labelling.models import (
    AuditAction,
    Client,
    Image,
    ImageLabel,
    Review,
    ReviewDecision,
    ReviewLease,
    ReviewSnapshot,
)
from labelling.models.images import statuses_that_reach
from labelling.selectors.queue import QUEUE_STATUSES
from labelling.services import audit
from labelling.services.review.conflicts import (
    UNDO_REFUSED,
    NothingToUndo,
    ReviewConflict,
    already_undone,
    changed,
    changed_since_decided,
    not_restorable,
)
from labelling.services.review.leases import leases_hold_again
from labelling.services.review.queue import QueueItem, queue_items


@dataclass
class UndoOutcome:
    reviews: list[Review]
    items: list[QueueItem] = field(default_factory=list)


def review_undo(*, client: Client, reviewer, review_id: int | None = None) -> UndoOutcome:
    """Take back one review, or by default the reviewer's last submission (a grid page is
    one): each image gets its previous status and labels back, the reviews are marked undone,
    and the images the queue serves are held by the reviewer again, to be decided anew.
    Refused as a whole (ReviewConflict) when an image has changed since."""
    mine = ReviewSnapshot.objects.filter(
        review__image__client=client, review__reviewer=reviewer
    ).select_related("review")
    with transaction.atomic():
        if review_id is not None:
            snapshots = list(mine.filter(review_id=review_id))
            if not snapshots:
                raise NothingToUndo(f"You made no review {review_id} here that can be undone.")
            if snapshots[0].review.undone_at is not None:
                raise ReviewConflict([already_undone(snapshots[0].review)], outcome=UNDO_REFUSED)
        else:
            last = (
                mine.filter(review__undone_at__isnull=True)
                .order_by("-review__created_at", "-review_id")
                .first()
            )
            if last is None:
                raise NothingToUndo("Nothing to undo.")
            snapshots = list(
                mine.filter(submission=last.submission, review__undone_at__isnull=True)
            )
        ids = [s.review.image_id for s in snapshots]
        images = Image.objects.filter(client=client, pk__in=ids).in_bulk()
        conflicts = [
            changed_since_decided(images[s.review.image_id])
            for s in snapshots
            if images[s.review.image_id].status != s.result_status
            or images[s.review.image_id].status_changed_at != s.result_changed_at
        ] or [
            not_restorable(images[s.review.image_id], s.review.previous_status)
            for s in snapshots
            if not _may_return(s.result_status, s.review.previous_status)
        ]
        if conflicts:
            raise ReviewConflict(conflicts, outcome=UNDO_REFUSED)
        now = timezone.now()
        # In id order, as submissions do: two writers over the same images cannot deadlock.
        for s in sorted(snapshots, key=lambda snapshot: snapshot.review.image_id):
            moved = Image.objects.filter(
                pk=s.review.image_id, status=s.result_status, status_changed_at=s.result_changed_at
            ).move_status(s.review.previous_status, stay=True, now=now)
            if not moved:
                raise ReviewConflict([changed(images[s.review.image_id])], outcome=UNDO_REFUSED)
        ImageLabel.objects.filter(image_id__in=ids).delete()
        ImageLabel.objects.bulk_create(
            [
                ImageLabel(
                    image_id=s.review.image_id,
                    label_id=row["label"],
                    source=row["source"],
                    probability=row["probability"],
                )
                for s in snapshots
                for row in s.previous_labels
            ]
        )
        Review.objects.filter(pk__in=[s.review_id for s in snapshots]).update(undone_at=now)
        back_in_queue = [
            s.review.image_id for s in snapshots if s.review.previous_status in QUEUE_STATUSES
        ]
        ReviewLease.objects.filter(image_id__in=ids).delete()
        leases_hold_again(client=client, reviewer=reviewer, image_ids=back_in_queue, now=now)
        reviews = [s.review for s in snapshots]
        for review in reviews:
            review.undone_at = now
        _record_no_label_undone(client, reviewer, reviews)
    return UndoOutcome(reviews=reviews, items=queue_items(client, back_in_queue, reviewer=reviewer))


def _record_no_label_undone(client: Client, reviewer, reviews: list[Review]) -> None:
    ids = sorted(r.image_id for r in reviews if r.decision == ReviewDecision.NO_LABEL)
    if ids:
        audit.record(
            reviewer,
            AuditAction.NO_LABEL_UNDONE,
            client=client,
            summary=f"Took back “fits no label” on {len(ids)} image(s): "
            + ", ".join(str(pk) for pk in ids[:10]),
            detail={"images": ids},
        )


def _may_return(status: str, previous: str) -> bool:
    """Whether the image's transition table lets it go back from ``status`` to ``previous``
    (a decision that kept the status is undone in place)."""
    return status == previous or status in statuses_that_reach(previous)
