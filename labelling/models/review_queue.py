"""The review queue's own rows: who holds which image now, and what an image was before a
review, so that the review can be undone."""

import uuid

from django.conf import settings
from django.db import models


class ReviewLease(models.Model):
    """One reviewer's hold on one image of the queue, until ``expires_at``.

    At most one row per image (the unique ``image``): a claim inserts rows and ignores the
    conflicts, then reads back which rows carry its tokens, so two reviewers never hold the
    same image, on SQLite (no SKIP LOCKED) as on PostgreSQL. An expired row may be taken over
    by anyone; until then it is still its holder's. Submitting, releasing or undoing deletes
    or replaces the row; expired rows left behind are harmless and swept."""

    image = models.OneToOneField(
        "labelling.Image", on_delete=models.CASCADE, related_name="review_lease"
    )
    client = models.ForeignKey("labelling.Client", on_delete=models.CASCADE, related_name="+")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_leases"
    )
    # Names this hold (not the image): a submission must quote it, so an answer given under
    # an expired hold that someone else has since taken over is refused.
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The image's status_changed_at when it was claimed: a change since makes a submission stale.
    image_changed_at = models.DateTimeField()
    claimed_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["client", "reviewer"], name="review_lease_holder")]

    def __str__(self) -> str:
        return f"image {self.image_id} held by {self.reviewer_id} until {self.expires_at:%H:%M:%S}"


class ReviewSnapshot(models.Model):
    """What an image was just before a review (its labels, when its status last changed) and
    what the review made of it: enough to undo the review exactly, and to refuse the undo
    when the image has changed again since."""

    review = models.OneToOneField(
        "labelling.Review", on_delete=models.CASCADE, primary_key=True, related_name="snapshot"
    )
    # The decisions sent together (a grid page) share one submission: undo takes them back
    # together.
    submission = models.UUIDField(db_index=True)
    # [{"label": id, "source": "machine", "probability": 0.97}, ...]
    previous_labels = models.JSONField(default=list)
    previous_changed_at = models.DateTimeField()
    result_status = models.CharField(max_length=20)
    result_changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"snapshot of review {self.review_id}"
