from django.conf import settings
from django.db import models


class ReviewDecision(models.TextChoices):
    ACCEPT = "accept", "Accepted the model's top label"
    CORRECT = "correct", "Chose other labels"
    REJECT = "reject", "Rejected: no label is to be given"
    NO_LABEL = "no_label", "None of the above: fits no label of the taxonomy"


class Review(models.Model):
    """One person's decision on one image. Reviews are appended, never edited: an undo
    marks the review undone and restores the image's previous state."""

    image = models.ForeignKey("labelling.Image", on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="reviews"
    )
    decision = models.CharField(max_length=10, choices=ReviewDecision.choices)
    labels = models.ManyToManyField("labelling.Label", blank=True, related_name="+")
    prediction = models.ForeignKey(
        "labelling.Prediction", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # True when the image had been auto-tagged and the person changed the machine's tags:
    # the count of these is the auto-accept policy's real error rate.
    corrected_auto_tag = models.BooleanField(default=False)
    previous_status = models.CharField(max_length=20, blank=True)
    seconds_spent = models.FloatField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} on image {self.image_id}"
