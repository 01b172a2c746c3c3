"""Serializers of the prediction and training API. Names are prefixed (Predict…, Training…,
ModelVersion…) so that they never clash with the labelling API's in the OpenAPI schema."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from labelling.api.input import DbIntegerField
from labelling.tenancy import person_shown
from training.models import ModelActivation, ModelMode, ModelVersion, TrainingRun
from training.presentation import version_summary
from training.services.prediction_jobs import JOB_STATUSES, MAX_IMAGE_IDS, MAX_TOP_N

# --- Prediction ---------------------------------------------------------------------------


class PredictRequestSerializer(serializers.Serializer):
    client = serializers.SlugField(help_text="The slug of the client whose images these are.")
    image_ids = serializers.ListField(
        child=DbIntegerField(min_value=1),
        required=False,
        max_length=MAX_IMAGE_IDS,
        help_text="Images already in the client's library (repeat the field in a form).",
    )
    top_n = DbIntegerField(
        required=False,
        min_value=1,
        max_value=MAX_TOP_N,
        help_text="Labels to return per image, best first (default: the server's setting).",
    )


MODE_HELP = "head (a head on stored embeddings) or finetune (a fine-tuned backbone)."


class PredictModelVersionSerializer(serializers.ModelSerializer):
    mode = serializers.CharField(read_only=True, help_text=MODE_HELP)

    class Meta:
        model = ModelVersion
        fields = ["id", "number", "backbone", "mode"]


class PredictProgressSerializer(serializers.Serializer):
    done = DbIntegerField(help_text="Images predicted (or found unreadable).")
    total = DbIntegerField()


class PredictFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    # Plain strings, not enums: the upload API's FileResult owns these choices in the schema.
    status = serializers.CharField(help_text="stored, duplicate or rejected.")
    code = serializers.CharField(help_text="Why a file was refused (empty when stored).")
    message = serializers.CharField()
    image = DbIntegerField(
        allow_null=True, help_text="The stored image (or the one it duplicates)."
    )


class PredictJobCreatedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField(help_text="Poll this for progress and results.")
    # The enum is documented once, on PredictJob (one component per choice set in the schema).
    status = serializers.CharField(help_text="queued, running or done.")
    progress = PredictProgressSerializer()
    model_version = PredictModelVersionSerializer()
    top_n = DbIntegerField()
    files = PredictFileSerializer(many=True)


class PredictRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    files = PredictFileSerializer(many=True, required=False)


class PredictLabelSerializer(serializers.Serializer):
    id = DbIntegerField(help_text="The label's id.")
    key = serializers.CharField(help_text="The sector taxonomy's key for the label.")
    name = serializers.CharField(help_text="The client's own name for the label.")
    probability = serializers.FloatField(help_text="Calibrated probability.")


class PredictImageSerializer(serializers.Serializer):
    id = DbIntegerField(source="pk")
    name = serializers.CharField(source="original_name")
    status = serializers.CharField()


class PredictResultSerializer(serializers.Serializer):
    image = PredictImageSerializer()
    state = serializers.ChoiceField(choices=["pending", "predicted", "failed"])
    labels = PredictLabelSerializer(many=True, help_text="Top-n labels, best first.")
    error = serializers.CharField(help_text="Why the image could not be predicted.")


class PredictJobSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    client = serializers.CharField(help_text="The client's slug.")
    status = serializers.ChoiceField(choices=JOB_STATUSES)
    progress = PredictProgressSerializer()
    model_version = PredictModelVersionSerializer()
    top_n = DbIntegerField()
    created_at = serializers.DateTimeField()
    results = PredictResultSerializer(many=True)


# --- Training runs and model versions -------------------------------------------------------


class TrainingRunRequestSerializer(serializers.Serializer):
    # A string checked below rather than a ChoiceField: the library API's ModelVersionRef owns
    # the head/finetune enum in the schema, and a second component using it would clash there.
    mode = serializers.CharField(default=ModelMode.HEAD, help_text=MODE_HELP)
    backbone = serializers.CharField(
        required=False, max_length=40, help_text="Default: the server's default backbone."
    )

    def validate_mode(self, value: str) -> str:
        if value not in ModelMode.values:
            raise serializers.ValidationError(f"Use one of: {', '.join(ModelMode.values)}.")
        return value


class TrainingRunSerializer(serializers.ModelSerializer):
    mode = serializers.CharField(read_only=True, help_text=MODE_HELP)
    requested_by = serializers.SerializerMethodField(
        help_text="The username when the person is of your client (or you maintain the "
        "sector); else their role only: another client's admin, a sector maintainer."
    )
    progress = serializers.FloatField(
        help_text="epoch / max_epochs (training usually stops early)."
    )
    model_version = PredictModelVersionSerializer(read_only=True, allow_null=True)

    class Meta:
        model = TrainingRun
        fields = [
            "id",
            "mode",
            "backbone",
            "status",
            "phase",
            "phase_done",
            "phase_total",
            "epoch",
            "max_epochs",
            "progress",
            "message",
            "history",
            "model_version",
            "requested_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_requested_by(self, run: TrainingRun) -> str | None:
        if run.requested_by is None:
            return None
        client, request = self.context.get("client"), self.context.get("request")
        if client is None or request is None:
            return None  # no client to judge by: name no one
        return person_shown(run.requested_by, client=client, viewer=request.user)


class ModelVersionSummarySerializer(serializers.Serializer):
    top1 = serializers.FloatField(allow_null=True, help_text="Top-1 accuracy on gold test images.")
    top1_ci95 = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="Wilson 95% interval."
    )
    top3 = serializers.FloatField(allow_null=True)
    log_loss = serializers.FloatField(allow_null=True)
    ece = serializers.FloatField(allow_null=True, help_text="Expected calibration error.")
    n_test = DbIntegerField(allow_null=True)


class ModelVersionListSerializer(serializers.ModelSerializer):
    mode = serializers.CharField(read_only=True, help_text=MODE_HELP)
    is_active = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "number",
            "backbone",
            "mode",
            "input_size",
            "taxonomy_version",
            "n_train",
            "is_active",
            "summary",
            "created_at",
        ]
        read_only_fields = fields

    def get_is_active(self, version: ModelVersion) -> bool:
        return version.pk == self.context.get("active_id")

    @extend_schema_field(ModelVersionSummarySerializer)
    def get_summary(self, version: ModelVersion) -> dict:
        return version_summary(version)


class ModelVersionDetailSerializer(ModelVersionListSerializer):
    class Meta(ModelVersionListSerializer.Meta):
        fields = [*ModelVersionListSerializer.Meta.fields, "class_labels", "metrics", "policy"]
        read_only_fields = fields


class ModelActivateSerializer(serializers.Serializer):
    force = serializers.BooleanField(
        default=False, help_text="Activate even if it did worse on the gold test images."
    )


class ModelActivationSerializer(serializers.ModelSerializer):
    model_version = PredictModelVersionSerializer(read_only=True)
    previous = PredictModelVersionSerializer(read_only=True, allow_null=True)
    activated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = ModelActivation
        fields = [
            "id",
            "model_version",
            "previous",
            "activated_by",
            "forced",
            "is_rollback",
            "note",
            "created_at",
        ]
        read_only_fields = fields


class ModelRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
