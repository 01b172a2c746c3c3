"""What the review API reads and writes. Input serializers only check shapes and ranges; what
a decision means is the review service's business."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelling.api.input import DbIntegerField
from labelling.models import ImageStatus, ReviewDecision
from labelling.selectors.queue import LEAST_CERTAIN, ORDERS, QUEUE_STATUSES
from labelling.services import review as review_service
from labelling.services.review_stats import MAX_DAYS

MODES = [("single", "One image at a time"), ("grid", "A page of one class")]
STATUSES = [(s.value, s.label) for s in QUEUE_STATUSES]


class NextParamsSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(choices=MODES, default="single")
    count = DbIntegerField(
        min_value=1,
        max_value=review_service.MAX_ITEMS,
        required=False,
        help_text="How many images to hold (default 5 in single mode, 24 in grid mode).",
    )
    status = serializers.ChoiceField(
        choices=STATUSES,
        default=ImageStatus.NEEDS_REVIEW,
        help_text="needs_review: what the model was unsure of; auto_tagged: check its own tags.",
    )
    label = DbIntegerField(
        required=False,
        allow_null=True,
        help_text="Only images the model put in this label (required in grid mode).",
    )
    batch = DbIntegerField(required=False, allow_null=True)
    order = serializers.ChoiceField(choices=list(ORDERS.items()), default=LEAST_CERTAIN)
    exclude = serializers.ListField(
        child=DbIntegerField(),
        required=False,
        max_length=2000,
        help_text="Images not to hand out (those skipped).",
    )

    def validate(self, attrs):
        if attrs["mode"] == "grid" and attrs.get("label") is None:
            raise serializers.ValidationError(
                {
                    "label": "Grid mode shows one class at a time: pass label=<id> "
                    "(GET …/review/labels/ lists the classes waiting)."
                }
            )
        attrs.setdefault("count", 24 if attrs["mode"] == "grid" else 5)
        return attrs


class SuggestionSerializer(serializers.Serializer):
    label = DbIntegerField()
    name = serializers.CharField()
    probability = serializers.FloatField()


class CurrentLabelSerializer(serializers.Serializer):
    label = DbIntegerField(source="label_id")
    name = serializers.SerializerMethodField()
    source = serializers.CharField()
    probability = serializers.FloatField(allow_null=True)

    def get_name(self, image_label) -> str:
        return self.context["label_names"].get(image_label.label_id, "")


class LeaseSerializer(serializers.Serializer):
    token = serializers.UUIDField()
    expires_at = serializers.DateTimeField()


class ReviewItemSerializer(serializers.Serializer):
    """One image handed to the reviewer (a review_service.QueueItem)."""

    id = DbIntegerField(source="image.pk")
    name = serializers.CharField(source="image.original_name")
    status = serializers.CharField(source="image.status")
    batch = DbIntegerField(source="image.batch_id", allow_null=True)
    created_at = serializers.DateTimeField(source="image.created_at")
    width = DbIntegerField(source="image.width")
    height = DbIntegerField(source="image.height")
    file = serializers.SerializerMethodField()
    thumbnail = serializers.SerializerMethodField()
    page = serializers.SerializerMethodField()
    model_version = DbIntegerField(
        source="prediction.model_version_id", allow_null=True, default=None
    )
    confidence = serializers.FloatField(
        source="prediction.top_probability", allow_null=True, default=None
    )
    overturned_label = DbIntegerField(
        source="prediction.overturned_label_id",
        allow_null=True,
        default=None,
        help_text="The machine tag that this prediction's version contradicted: the image "
        "came back to review when that version became active.",
    )
    suggestions = serializers.SerializerMethodField(
        help_text="The model's labels, best first, with the client's names."
    )
    suggested = serializers.ListField(
        child=DbIntegerField(), help_text="The labels that accepting gives."
    )
    labels = serializers.SerializerMethodField(help_text="The labels it carries now.")
    lease = LeaseSerializer(allow_null=True)

    def _url_args(self, item):
        return [self.context["client"].slug, item.image.pk]

    def get_file(self, item) -> str:
        return reverse("image-file", args=self._url_args(item))

    def get_thumbnail(self, item) -> str | None:
        if not item.image.thumbnail.name:
            return None
        return reverse("image-thumbnail", args=self._url_args(item))

    def get_page(self, item) -> str:
        return reverse("image-detail", args=self._url_args(item))

    @staticmethod
    def suggestions_of(item, label_names: dict[int, str], top_n: int) -> list[dict]:
        if item.prediction is None:
            return []
        ranked = [e for e in item.prediction.ranked if isinstance(e, dict) and "label" in e]
        return [
            {
                "label": int(entry["label"]),
                "name": label_names.get(int(entry["label"]), str(entry["label"])),
                "probability": float(entry.get("probability", 0.0)),
            }
            for entry in ranked[:top_n]
        ]

    @extend_schema_field(SuggestionSerializer(many=True))
    def get_suggestions(self, item) -> list[dict]:
        return self.suggestions_of(item, self.context["label_names"], self.context["top_n"])

    @extend_schema_field(CurrentLabelSerializer(many=True))
    def get_labels(self, item) -> list:
        return CurrentLabelSerializer(item.labels, many=True, context=self.context).data


class NextResponseSerializer(serializers.Serializer):
    items = ReviewItemSerializer(many=True)
    lease_seconds = DbIntegerField()


class DecisionSerializer(serializers.Serializer):
    image = DbIntegerField()
    lease = serializers.UUIDField(help_text="The token of the hold the image came with.")
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    labels = serializers.ListField(
        child=DbIntegerField(),
        required=False,
        default=list,
        max_length=100,
        help_text="correct: the right label(s); accept: none needed; reject and no_label: none.",
    )
    seconds_spent = serializers.FloatField(
        required=False, allow_null=True, min_value=0, help_text="Time the image was on screen."
    )


def decision_from(data: dict) -> review_service.Decision:
    """A validated DecisionSerializer (or CorrectionSerializer) row, for the service."""
    return review_service.Decision(
        image=data["image"],
        decision=data["decision"],
        labels=tuple(data.get("labels") or ()),
        lease=data.get("lease"),
        seconds_spent=data.get("seconds_spent"),
    )


class DecisionsSerializer(serializers.Serializer):
    decisions = DecisionSerializer(
        many=True, allow_empty=False, max_length=review_service.MAX_DECISIONS
    )


class CorrectionSerializer(DecisionSerializer):
    lease = None


class ReviewResultSerializer(serializers.Serializer):
    review = DbIntegerField(source="pk")
    image = DbIntegerField(source="image_id")
    decision = serializers.CharField()
    labels = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    corrected_auto_tag = serializers.BooleanField()

    def get_labels(self, review) -> list[int]:
        return list(review.label_ids)  # set by the review service

    def get_status(self, review) -> str:
        return {
            ReviewDecision.REJECT: ImageStatus.REJECTED,
            ReviewDecision.NO_LABEL: ImageStatus.NO_LABEL,
        }.get(review.decision, ImageStatus.VERIFIED)


class DecisionsResponseSerializer(serializers.Serializer):
    reviews = ReviewResultSerializer(many=True)


class ConflictItemSerializer(serializers.Serializer):
    image = DbIntegerField()
    code = serializers.CharField()
    message = serializers.CharField()


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField(
        help_text="duplicate, decided, taken, stale, no_lease, changed, undone or mixed"
    )
    conflicts = ConflictItemSerializer(many=True)


class UndoSerializer(serializers.Serializer):
    review = DbIntegerField(
        required=False, allow_null=True, help_text="Default: your last submission."
    )


class UndoResponseSerializer(serializers.Serializer):
    undone = serializers.ListField(child=DbIntegerField())
    items = ReviewItemSerializer(many=True)


class ReleaseSerializer(serializers.Serializer):
    leases = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=2000,
        help_text="The holds to end; none: all yours in this client.",
    )


class ReleaseResponseSerializer(serializers.Serializer):
    released = DbIntegerField()


class LabelsParamsSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUSES, default=ImageStatus.NEEDS_REVIEW)
    batch = DbIntegerField(required=False, allow_null=True)


class QueueLabelSerializer(serializers.Serializer):
    id = DbIntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    path = serializers.CharField()
    waiting = DbIntegerField()


class LabelsResponseSerializer(serializers.Serializer):
    kind = serializers.CharField()
    waiting = DbIntegerField()
    not_predicted = DbIntegerField()
    labels = QueueLabelSerializer(many=True)


class StatsParamsSerializer(serializers.Serializer):
    days = DbIntegerField(min_value=1, max_value=MAX_DAYS, default=14)
    reviewer = DbIntegerField(required=False, allow_null=True)


class TallySerializer(serializers.Serializer):
    decisions = DbIntegerField()
    accepted = DbIntegerField()
    corrected = DbIntegerField()
    rejected = DbIntegerField()
    no_label = DbIntegerField(help_text="None of the above: images said to fit no label.")
    undone = DbIntegerField()
    decisions_per_hour = serializers.FloatField(allow_null=True)
    seconds_per_decision = serializers.FloatField(allow_null=True)
    agreement = serializers.FloatField(allow_null=True)
    auto_tag_checked = DbIntegerField()
    auto_tag_corrected = DbIntegerField()
    auto_tag_precision = serializers.FloatField(allow_null=True)
    active_seconds = serializers.FloatField()


class ReviewerDaySerializer(serializers.Serializer):
    reviewer_id = DbIntegerField(allow_null=True)
    reviewer = serializers.CharField()
    day = serializers.DateField()
    tally = TallySerializer()


class ReviewerTotalSerializer(serializers.Serializer):
    reviewer_id = DbIntegerField(allow_null=True)
    reviewer = serializers.CharField()
    tally = TallySerializer()


class StatsResponseSerializer(serializers.Serializer):
    since = serializers.DateField()
    until = serializers.DateField()
    days = ReviewerDaySerializer(many=True)
    reviewers = ReviewerTotalSerializer(many=True)
    total = TallySerializer()


# --- Cluster labelling at cold start ---------------------------------------------------------


class GroupNextSerializer(serializers.Serializer):
    size = DbIntegerField(
        min_value=1,
        max_value=review_service.MAX_ITEMS,
        default=24,
        help_text="The most images in the group.",
    )
    exclude = serializers.ListField(
        child=DbIntegerField(),
        required=False,
        max_length=2000,
        help_text="Images not to offer again (those you deselected).",
    )


class GroupLabelSerializer(serializers.Serializer):
    images = serializers.ListField(
        child=DbIntegerField(),
        max_length=review_service.MAX_DECISIONS,
        allow_empty=False,
        error_messages={"empty": "Select at least one image to label."},
        help_text="The group's images you kept (each held for you).",
    )
    label = DbIntegerField(help_text="An active label of the client's taxonomy.")
    released = serializers.ListField(
        child=DbIntegerField(),
        required=False,
        max_length=review_service.MAX_DECISIONS,
        help_text="The group's images you deselected: they stay waiting, their holds end.",
    )


class GroupLabelResponseSerializer(serializers.Serializer):
    reviews = ReviewResultSerializer(many=True)
