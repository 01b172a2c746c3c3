"""The audit log: who changed a sector's taxonomy, a client's names or target, or trained,
promoted or rolled back a model, and when. Rows are written once and never changed."""

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    TAXONOMY_EDITED = "taxonomy_edited", "Taxonomy edited"
    TAXONOMY_IMPORTED = "taxonomy_imported", "Taxonomy imported"
    LABEL_ADDED = "label_added", "Label added"
    LABEL_RENAMED = "label_renamed", "Label renamed"
    LABEL_MOVED = "label_moved", "Label moved"
    LABEL_MERGED = "label_merged", "Labels merged"
    LABEL_SPLIT = "label_split", "Label split"
    LABEL_RETIRED = "label_retired", "Label retired"
    CLIENT_LABEL_NAME_SET = "client_label_name_set", "Client label name set"
    AUTO_ACCEPT_TARGET_CHANGED = "auto_accept_target_changed", "Auto-accept target changed"
    TRAINING_STARTED = "training_started", "Training started"
    VERSION_PROMOTED = "version_promoted", "Version promoted"
    VERSION_ACTIVATED = "version_activated", "Version activated"
    VERSION_ROLLED_BACK = "version_rolled_back", "Version rolled back"
    RETRAINING_POLICY_CHANGED = "retraining_policy_changed", "Retraining policy changed"
    TRAINING_CONSENT_CHANGED = "training_consent_changed", "Training consent changed"
    TAGS_IMPORTED = "tags_imported", "Tags imported"
    LABEL_AUDIT_REQUESTED = "label_audit_requested", "Label audit requested"
    SUSPECT_LABEL_DECIDED = "suspect_label_decided", "Suspect label decided"
    NO_LABEL_MARKED = "no_label_marked", "Marked as fitting no label"
    NO_LABEL_UNDONE = "no_label_undone", "Fitting no label undone"
    MAP_GROUP_LABELLED = "map_group_labelled", "Group labelled from the map"


class AuditEventQuerySet(models.QuerySet):
    def visible_to(self, *, user, client):
        """What a client's admin sees: their client's events and their sector's (a
        sector's model and taxonomy concern every client in it). Site staff see all."""
        if user.is_staff:
            return self
        return self.filter(
            models.Q(client=client) | models.Q(client__isnull=True, sector=client.sector_id)
        )


class AuditEvent(models.Model):
    # Nullable: beat and the workers act for nobody in particular.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    sector = models.ForeignKey(
        "labelling.Sector",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    client = models.ForeignKey(
        "labelling.Client",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    summary = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["sector", "-created_at"], name="audit_sector_recent")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sector__isnull=False) | models.Q(client__isnull=False),
                name="audit_concerns_something",
            )
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_action_display()}: {self.summary}"
