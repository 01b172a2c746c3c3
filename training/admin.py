from django.contrib import admin

from training.models import (
    ActiveModel,
    ClientModelSettings,
    ImageEmbedding,
    LabelAudit,
    LabelNoiseScore,
    ModelActivation,
    ModelVersion,
    NoLabelGrouping,
    PredictionJob,
    RetrainingPolicy,
    TrainingExclusion,
    TrainingRun,
)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "taxonomy",
        "number",
        "backbone",
        "mode",
        "embedding",
        "n_train",
        "created_at",
    ]
    list_filter = ["taxonomy", "backbone", "mode", "embedding"]
    readonly_fields = [f.name for f in ModelVersion._meta.fields]


@admin.register(ActiveModel)
class ActiveModelAdmin(admin.ModelAdmin):
    list_display = ["taxonomy", "model_version", "updated_at"]


@admin.register(ModelActivation)
class ModelActivationAdmin(admin.ModelAdmin):
    list_display = ["taxonomy", "model_version", "previous", "is_rollback", "forced", "created_at"]


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["taxonomy", "mode", "backbone", "status", "epoch", "max_epochs", "created_at"]
    list_filter = ["status", "mode"]


@admin.register(ImageEmbedding)
class ImageEmbeddingAdmin(admin.ModelAdmin):
    # Vectors are computed by workers and shared by every version that reads their key.
    list_display = ["image", "key", "dim", "created_at"]
    list_filter = ["key"]
    readonly_fields = ["image", "key", "dim", "created_at"]
    exclude = ["vector"]


@admin.register(PredictionJob)
class PredictionJobAdmin(admin.ModelAdmin):
    list_display = ["__str__", "client", "model_version", "top_n", "created_at"]
    readonly_fields = [f.name for f in PredictionJob._meta.fields]
    exclude = ["images"]  # thousands, at times: the job API lists them


@admin.register(RetrainingPolicy)
class RetrainingPolicyAdmin(admin.ModelAdmin):
    list_display = ["taxonomy", "enabled", "after_verified", "every_hours", "last_fired_at"]
    # What it last did is the policy's own record: the admin edits the rule, not its history.
    readonly_fields = ["verified_at_last_run", "last_fired_at", "last_reason", "last_run"]


@admin.register(ClientModelSettings)
class ClientModelSettingsAdmin(admin.ModelAdmin):
    list_display = ["client", "auto_accept_target", "trains_sector_model", "updated_at"]
    # The thresholds are chosen from the target by the product (the models page), not typed.
    readonly_fields = ["policy", "updated_by", "updated_at"]


@admin.register(LabelNoiseScore)
class LabelNoiseScoreAdmin(admin.ModelAdmin):
    # Thousands per audit: a filtered list, not an inline on the audit.
    list_display = ["audit", "rank", "image", "label", "suggested", "score", "decision"]
    list_filter = ["is_suspect", "decision"]
    readonly_fields = [f.name for f in LabelNoiseScore._meta.fields]


@admin.register(LabelAudit)
class LabelAuditAdmin(admin.ModelAdmin):
    # An audit's record is what the audit found: read here, decided in the suspects queue.
    list_display = ["__str__", "taxonomy", "model_version", "n_images", "n_suspects", "created_at"]
    readonly_fields = [f.name for f in LabelAudit._meta.fields]


@admin.register(TrainingExclusion)
class TrainingExclusionAdmin(admin.ModelAdmin):
    list_display = ["image", "excluded_by", "reason", "created_at"]
    readonly_fields = ["image", "excluded_by", "created_at"]


@admin.register(NoLabelGrouping)
class NoLabelGroupingAdmin(admin.ModelAdmin):
    list_display = ["client", "computed_at", "requested_at", "silhouette"]
    readonly_fields = [f.name for f in NoLabelGrouping._meta.fields]
