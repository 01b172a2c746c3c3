"""Serializers of a client's image library. Labels are shown by the client's own names
(``context["display_names"]``: label id → name), falling back to the taxonomy's."""

import math

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelling.api.input import DbIntegerField
from labelling.models import Image, ImageLabel, ImageStatus, Label, Prediction, Review
from training.models import ModelVersion

IMAGE_ORDERINGS = {
    "newest": "Newest first (the default).",
    "oldest": "Oldest first.",
    "most_confident": "Highest confidence first: the probability of `label` when it is "
    "given (a label set by a person counts as 1), else the latest prediction's top "
    "probability. Images without one come last.",
    "least_confident": "Lowest confidence first, as most_confident; images without one come last.",
}


def display_name(context: dict, label: Label) -> str:
    return context.get("display_names", {}).get(label.pk, label.name)


class UserRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = get_user_model()
        fields = ["id", "username"]


class LabelRefSerializer(serializers.ModelSerializer):
    name = serializers.SerializerMethodField(help_text="The client's name for the label.")

    class Meta:
        model = Label
        fields = ["id", "key", "name"]

    def get_name(self, label: Label) -> str:
        return display_name(self.context, label)


class ImageLabelSerializer(serializers.ModelSerializer):
    id = DbIntegerField(source="label_id", help_text="The label's id.")
    key = serializers.CharField(source="label.key")
    name = serializers.SerializerMethodField(help_text="The client's name for the label.")

    class Meta:
        model = ImageLabel
        fields = ["id", "key", "name", "source", "probability"]
        read_only_fields = fields

    def get_name(self, image_label: ImageLabel) -> str:
        return display_name(self.context, image_label.label)


class ImageSerializer(serializers.ModelSerializer):
    uploaded_by = UserRefSerializer(read_only=True, allow_null=True)
    labels = ImageLabelSerializer(source="image_labels", many=True, read_only=True)

    class Meta:
        model = Image
        fields = [
            "id",
            "original_name",
            "status",
            "format",
            "width",
            "height",
            "size_bytes",
            "batch",
            "uploaded_by",
            "created_at",
            "status_changed_at",
            "labels",
        ]
        read_only_fields = fields


class ModelVersionRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["id", "number", "backbone", "mode"]


class RankedLabelSerializer(serializers.Serializer):
    label = LabelRefSerializer()
    probability = serializers.FloatField()


class PredictionSerializer(serializers.ModelSerializer):
    model_version = ModelVersionRefSerializer(read_only=True)
    top_label = LabelRefSerializer(read_only=True, allow_null=True)
    ranked = serializers.SerializerMethodField(help_text="Labels by probability, best first.")

    class Meta:
        model = Prediction
        fields = ["id", "model_version", "top_label", "top_probability", "ranked", "created_at"]

    @extend_schema_field(RankedLabelSerializer(many=True))
    def get_ranked(self, prediction: Prediction) -> list[dict]:
        labels = self.context.get("labels", {})
        entries = [
            {"label": labels[entry["label"]], "probability": entry["probability"]}
            for entry in prediction.ranked
            if isinstance(entry, dict) and entry.get("label") in labels
        ]
        return RankedLabelSerializer(entries, many=True, context=self.context).data


class ReviewSerializer(serializers.ModelSerializer):
    reviewer = UserRefSerializer(read_only=True, allow_null=True)
    labels = LabelRefSerializer(many=True, read_only=True)

    class Meta:
        model = Review
        fields = [
            "id",
            "reviewer",
            "decision",
            "labels",
            "corrected_auto_tag",
            "previous_status",
            "seconds_spent",
            "undone_at",
            "created_at",
        ]


class ImageDetailSerializer(ImageSerializer):
    predictions = PredictionSerializer(
        source="latest_predictions",
        many=True,
        read_only=True,
        help_text="The latest predictions, newest first.",
    )
    reviews = ReviewSerializer(
        many=True, read_only=True, help_text="Every review of the image, newest first."
    )

    class Meta(ImageSerializer.Meta):
        fields = [
            *ImageSerializer.Meta.fields,
            "sha256",
            "failure_reason",
            "predictions",
            "reviews",
        ]
        read_only_fields = fields


class ImageFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=ImageStatus.choices,
        required=False,
        error_messages={
            "invalid_choice": "“{input}” is not a status; use one of: "
            + ", ".join(ImageStatus.values)
            + "."
        },
    )
    batch = DbIntegerField(required=False, min_value=1, help_text="Upload batch id.")
    label = DbIntegerField(
        required=False, min_value=1, help_text="Only images that carry this label (id)."
    )
    uploaded_by = DbIntegerField(required=False, min_value=1, help_text="User id.")
    min_probability = serializers.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        help_text="With `label`: only images whose probability for it is at least this "
        "(a label set by a person always qualifies).",
    )
    created_after = serializers.DateTimeField(
        required=False, help_text="ISO 8601; uploaded at or after this moment."
    )
    created_before = serializers.DateTimeField(
        required=False, help_text="ISO 8601; uploaded before this moment."
    )
    ordering = serializers.ChoiceField(
        choices=list(IMAGE_ORDERINGS.items()),
        required=False,
        default="newest",
        error_messages={
            "invalid_choice": "“{input}” is not an ordering; use one of: "
            + ", ".join(IMAGE_ORDERINGS)
            + "."
        },
    )

    def validate_min_probability(self, value: float) -> float:
        if math.isnan(value):
            raise serializers.ValidationError("A number between 0 and 1 is required.")
        return value

    def validate(self, attrs: dict) -> dict:
        if attrs.get("min_probability") is not None and attrs.get("label") is None:
            raise serializers.ValidationError(
                {"min_probability": "min_probability needs label: the probability of which label?"}
            )
        after, before = attrs.get("created_after"), attrs.get("created_before")
        if after is not None and before is not None and after >= before:
            raise serializers.ValidationError(
                {"created_before": "created_before must be later than created_after."}
            )
        return attrs
