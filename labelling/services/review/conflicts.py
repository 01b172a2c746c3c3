"""Why a decision or an undo is refused, in words a reviewer can act on.

A refusal is a ReviewConflict carrying one entry per image ({"image", "code", "message"});
nothing of the submission (or undo) is stored."""

from __future__ import annotations

from labelling.models import Image, ImageStatus, Review, ReviewLease
from labelling.selectors.queue import QUEUE_STATUSES

UNDO_REFUSED = "Nothing was undone."


class ReviewConflict(Exception):
    """The submission (or undo) no longer matches what the database holds; nothing was
    stored. ``conflicts`` says, per image, why."""

    def __init__(self, conflicts: list[dict], *, outcome: str = "Nothing was stored."):
        self.conflicts = conflicts
        self.code = conflicts[0]["code"] if len({c["code"] for c in conflicts}) == 1 else "mixed"
        first = conflicts[0]["message"]
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        super().__init__(f"{first}{more} {outcome}")

    @property
    def message(self) -> str:
        return str(self)


class NothingToUndo(Exception):
    pass


def _image_moved(image: Image, why: str) -> dict:
    status = image.get_status_display().lower()
    return {"image": image.pk, "code": "changed", "message": why.format(pk=image.pk, now=status)}


def changed(image: Image) -> dict:
    return _image_moved(image, "Image {pk} changed since it was handed to you (it is {now} now).")


def not_decidable(image: Image) -> dict:
    return _image_moved(image, "Image {pk} is {now}: it cannot be decided now.")


def changed_since_decided(image: Image) -> dict:
    return _image_moved(
        image, "Image {pk} changed after your decision (it is {now} now): it cannot be undone."
    )


def not_restorable(image: Image, previous: str) -> dict:
    back = ImageStatus(previous).label.lower()
    return {
        "image": image.pk,
        "code": "not_allowed",
        "message": f"Image {image.pk} cannot go back from "
        f"{image.get_status_display().lower()} to {back}: it cannot be undone.",
    }


def already_undone(review: Review) -> dict:
    return {
        "image": review.image_id,
        "code": "undone",
        "message": f"Review {review.pk} was undone already.",
    }


def stale(image: Image, lease: ReviewLease | None, user, token) -> dict | None:
    """Why ``user`` may not answer ``image`` under the hold ``token``, or None."""
    mine = lease is not None and lease.reviewer_id == user.pk
    if mine and token is not None and lease.token == token:
        if image.status_changed_at != lease.image_changed_at or image.status not in QUEUE_STATUSES:
            return changed(image)
        return None
    if image.status not in QUEUE_STATUSES:
        last = (
            Review.objects.filter(image=image, undone_at__isnull=True)
            .select_related("reviewer")
            .order_by("-created_at", "-id")
            .first()
        )
        if last is not None and last.reviewer_id == user.pk:
            return {
                "image": image.pk,
                "code": "duplicate",
                "message": f"You already decided image {image.pk} "
                f"({last.get_decision_display().lower()}); undo it to change your answer.",
            }
        who = last.reviewer.get_username() if last and last.reviewer else "someone else"
        return {
            "image": image.pk,
            "code": "decided",
            "message": f"Image {image.pk} was decided by {who} in the meantime.",
        }
    if lease is not None and not mine:
        return {
            "image": image.pk,
            "code": "taken",
            "message": f"Your hold on image {image.pk} ended and another reviewer has it now.",
        }
    if token is None:
        return {
            "image": image.pk,
            "code": "no_lease",
            "message": f"Image {image.pk} is not held by you: ask for it with next, and send "
            "the lease it comes with.",
        }
    return {
        "image": image.pk,
        "code": "stale",
        "message": f"Your hold on image {image.pk} was released or replaced: ask for it again.",
    }
