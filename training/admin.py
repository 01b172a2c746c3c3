from django.contrib import admin

from training.models import ActiveModel, ModelActivation, ModelVersion, TrainingRun


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "taxonomy", "number", "backbone", "mode", "n_train", "created_at"]
    list_filter = ["taxonomy", "backbone", "mode"]
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
