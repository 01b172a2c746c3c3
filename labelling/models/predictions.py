from django.db import models


class Prediction(models.Model):
    """What one model version said about one image: labels ranked by probability."""

    image = models.ForeignKey(
        "labelling.Image", on_delete=models.CASCADE, related_name="predictions"
    )
    model_version = models.ForeignKey(
        "training.ModelVersion", on_delete=models.CASCADE, related_name="predictions"
    )
    # [{"label": <label id>, "probability": 0.93}, ...], best first
    ranked = models.JSONField(default=list)
    top_label = models.ForeignKey(
        "labelling.Label", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    top_probability = models.FloatField(default=0.0)
    # The machine tag this version contradicted when it became active: the image went back
    # to review, and the reviewer sees what the previous version had said.
    overturned_label = models.ForeignKey(
        "labelling.Label", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["image", "model_version"], name="prediction_unique_per_version"
            ),
            models.CheckConstraint(
                condition=models.Q(top_probability__gte=0, top_probability__lte=1),
                name="prediction_probability_range",
            ),
        ]
        indexes = [models.Index(fields=["top_label", "-top_probability"])]

    def __str__(self) -> str:
        return f"image {self.image_id} by {self.model_version_id}: {self.top_label_id}"
