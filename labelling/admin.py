from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction

from labelling.models import (
    ApiToken,
    AuditEvent,
    Client,
    ClientLabelName,
    Image,
    ImageHashBand,
    ImageLabel,
    Label,
    Membership,
    Prediction,
    Review,
    ReviewLease,
    ReviewSnapshot,
    Sector,
    Taxonomy,
    UploadBatch,
    WorkerHeartbeat,
)
from labelling.services.taxonomy import (
    LABEL_UPDATABLE_FIELDS,
    _check_parent,
    label_create,
    label_retire,
    label_update,
)


class TaxonomyInline(admin.TabularInline):
    model = Taxonomy
    extra = 0


@admin.register(Sector)
class SectorAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    # Maintainers edit the sector's taxonomy and train, promote and roll back its model.
    filter_horizontal = ["maintainers"]
    inlines = [TaxonomyInline]


class LabelInline(admin.TabularInline):
    # Read-only here: labels change through the label page (or the taxonomy editor), which
    # bumps the taxonomy's version and records who changed what.
    model = Label
    extra = 0
    fk_name = "taxonomy"
    fields = ["key", "name", "parent", "is_active"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Taxonomy)
class TaxonomyAdmin(admin.ModelAdmin):
    list_display = ["name", "sector", "kind", "version", "updated_at"]
    list_filter = ["sector", "kind"]
    readonly_fields = ["version"]
    inlines = [LabelInline]


class LabelAdminForm(forms.ModelForm):
    class Meta:
        model = Label
        fields = ["taxonomy", "key", "name", "parent", "description"]

    def clean(self):
        data = super().clean()
        taxonomy, parent = data.get("taxonomy") or self.instance.taxonomy, data.get("parent")
        if taxonomy is not None:
            try:
                _check_parent(taxonomy=taxonomy, parent=parent, label_id=self.instance.pk)
            except ValidationError as exc:
                self.add_error("parent", exc.message_dict["parent"])
        return data


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    """Labels are retired, never deleted (predictions and reviews point at them); every
    save goes through the taxonomy services, so the version goes up and the change is in
    the audit log."""

    form = LabelAdminForm
    list_display = ["key", "name", "taxonomy", "parent", "is_active"]
    list_filter = ["taxonomy", "is_active"]
    search_fields = ["key", "name"]
    actions = ["retire"]

    def get_readonly_fields(self, request, obj=None):
        return ["taxonomy", "is_active"] if obj is not None else ["is_active"]

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            made = label_create(
                taxonomy=data["taxonomy"],
                key=data["key"],
                name=data["name"],
                parent=data.get("parent"),
                description=data.get("description", ""),
                user=request.user,
            )
            obj.pk, obj.created_at = made.pk, made.created_at
            return
        fields = {f: data[f] for f in form.changed_data if f in LABEL_UPDATABLE_FIELDS}
        if fields:
            label_update(label=Label.objects.get(pk=obj.pk), data=fields, user=request.user)

    @admin.action(description="Retire the selected labels")
    def retire(self, request, queryset):
        done, refused = 0, []
        for label in queryset.filter(is_active=True):
            try:
                with transaction.atomic():
                    label_retire(label=label, user=request.user)
                done += 1
            except ValidationError as exc:
                refused.extend(exc.messages)
        if done:
            self.message_user(request, f"Retired {done} label{'s' if done != 1 else ''}.")
        for problem in refused:
            self.message_user(request, problem, level=messages.ERROR)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class ClientLabelNameInline(admin.TabularInline):
    model = ClientLabelName
    extra = 0


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "sector", "created_at"]
    list_filter = ["sector"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline, ClientLabelNameInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "client", "role"]
    list_filter = ["role", "client"]


@admin.register(ClientLabelName)
class ClientLabelNameAdmin(admin.ModelAdmin):
    list_display = ["client", "label", "name"]
    list_filter = ["client"]


@admin.register(UploadBatch)
class UploadBatchAdmin(admin.ModelAdmin):
    list_display = ["__str__", "client", "created_by", "created_at"]
    list_filter = ["client"]


class ImageLabelInline(admin.TabularInline):
    model = ImageLabel
    extra = 0


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ["__str__", "client", "status", "width", "height", "created_at"]
    list_filter = ["status", "client"]
    search_fields = ["original_name", "sha256"]
    # The status moves only through the product (Image.objects.move_status checks the
    # transition table), and the files are the stored upload and its derivatives: neither is
    # edited by hand.
    readonly_fields = [
        "file",
        "thumbnail",
        "status",
        "status_changed_at",
        "failure_reason",
        "sha256",
        "dhash",
        "width",
        "height",
        "size_bytes",
        "format",
    ]
    inlines = [ImageLabelInline]


@admin.register(ImageHashBand)
class ImageHashBandAdmin(admin.ModelAdmin):
    # The near-duplicate index, written with the image's hash: read here, never edited.
    list_display = ["image", "client", "key"]
    readonly_fields = ["image", "client", "key"]


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = ["image", "model_version", "top_label", "top_probability", "created_at"]


class ReviewSnapshotInline(admin.StackedInline):
    # What an undo restores: read-only, it is the record of the image before the review.
    model = ReviewSnapshot
    can_delete = False
    readonly_fields = ["submission", "previous_labels", "previous_changed_at", "result_status"]
    fields = readonly_fields


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["image", "reviewer", "decision", "created_at", "undone_at"]
    list_filter = ["decision"]
    inlines = [ReviewSnapshotInline]


@admin.register(ReviewLease)
class ReviewLeaseAdmin(admin.ModelAdmin):
    # Who holds which image in the review queue now; deleting a lease frees its image.
    list_display = ["image", "client", "reviewer", "expires_at"]
    readonly_fields = ["image", "client", "reviewer", "expires_at"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    list_display = ["hostname", "seen_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    # Keys are not stored, so the admin can see and revoke tokens but never make one here
    # (users make theirs on the API tokens page, or `manage.py create_api_token`).
    list_display = [
        "name",
        "user",
        "shown",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "shown"]
    readonly_fields = ["user", "digest", "shown", "created_at", "last_used_at"]
    fields = [
        "user",
        "name",
        "shown",
        "digest",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    ]

    def has_add_permission(self, request):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    # The record of who did what: read, never written or changed by hand.
    list_display = ["created_at", "actor", "action", "sector", "client", "summary"]
    list_filter = ["action", "sector"]
    search_fields = ["summary", "actor__username"]
    readonly_fields = ["created_at", "actor", "action", "sector", "client", "summary", "detail"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
