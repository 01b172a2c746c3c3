"""Rows that point at the machine learning: model versions, training runs, embeddings.

The learning itself lives in the pure modules beside this one; these rows record what was
trained, which version is active, and what each image's embedding is.
"""

import uuid

from django.conf import settings
from django.db import models


class ModelMode(models.TextChoices):
    HEAD = "head", "Head on stored embeddings"
    FINETUNE = "finetune", "Fine-tuned backbone"


class ModelVersion(models.Model):
    """An immutable trained model of one taxonomy. The artifact file holds weights and
    config; this row points at it and keeps what pages need without opening it."""

    taxonomy = models.ForeignKey(
        "labelling.Taxonomy", on_delete=models.PROTECT, related_name="model_versions"
    )
    number = models.PositiveIntegerField()
    backbone = models.CharField(max_length=40)
    mode = models.CharField(max_length=10, choices=ModelMode.choices)
    # The kind of stored embedding a head version reads (training.backbones.POOLED, ...).
    # Versions made before there was a choice read the pooled one.
    embedding = models.CharField(max_length=20, default="pooled")
    input_size = models.PositiveIntegerField()
    taxonomy_version = models.PositiveIntegerField()
    artifact = models.CharField(max_length=255)  # storage name of the artifact file
    artifact_sha256 = models.CharField(max_length=64)
    # class index → label id, in the order of the model's outputs
    class_labels = models.JSONField(default=list)
    metrics = models.JSONField(default=dict, blank=True)
    # The auto-accept policy: per-class thresholds on calibrated probability, chosen on the
    # validation images for the taxonomy's target precision, and what they bought on the
    # gold test images. Unlike the weights it may change: an admin can move the target.
    policy = models.JSONField(default=dict, blank=True)
    # Calibrated held-out probabilities and true class indices ({"val": {"proba": [[...]],
    # "y": [...]}, "test": {...}}), kept so a new target needs no retraining.
    heldout = models.JSONField(default=dict, blank=True)
    # Its top-1 label id for each gold test image it has answered ({"<image id>": label id}),
    # written by workers (training, evaluation): comparisons between versions read these,
    # so no web request runs a model.
    gold_answers = models.JSONField(default=dict, blank=True)
    n_train = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["taxonomy_id", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["taxonomy", "number"], name="model_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.taxonomy.name} v{self.number} ({self.backbone}, {self.mode})"


class ActiveModel(models.Model):
    """The pointer: which version serves a taxonomy now. Activation and rollback move it;
    versions themselves never change."""

    taxonomy = models.OneToOneField(
        "labelling.Taxonomy", on_delete=models.CASCADE, related_name="active_model"
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.taxonomy_id} → {self.model_version_id}"


class ModelActivation(models.Model):
    """Every move of the pointer, so a rollback knows where to go back to."""

    taxonomy = models.ForeignKey("labelling.Taxonomy", on_delete=models.CASCADE, related_name="+")
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, related_name="activations"
    )
    previous = models.ForeignKey(
        ModelVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    forced = models.BooleanField(default=False)
    is_rollback = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.model_version} ({self.created_at:%Y-%m-%d %H:%M})"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class RunPhase(models.TextChoices):
    """What a running run is doing now: its progress is counted within the phase."""

    WAITING = "", "Waiting for a worker"
    EMBEDDING = "embedding", "Embedding"
    READING = "reading", "Reading images"
    TRAINING = "training", "Training"
    MEASURING = "measuring", "Measuring"


class TrainingRun(models.Model):
    taxonomy = models.ForeignKey(
        "labelling.Taxonomy", on_delete=models.CASCADE, related_name="training_runs"
    )
    mode = models.CharField(max_length=10, choices=ModelMode.choices, default=ModelMode.HEAD)
    backbone = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    epoch = models.PositiveIntegerField(default=0)
    max_epochs = models.PositiveIntegerField(default=0)
    # per-epoch history: [{"epoch": 1, "loss": ..., "val_loss": ..., "lr": ...}, ...]
    history = models.JSONField(default=list, blank=True)
    phase = models.CharField(max_length=10, choices=RunPhase.choices, default="", blank=True)
    # Images embedded (or read) so far, of how many, in the embedding phase.
    phase_done = models.PositiveIntegerField(default=0)
    phase_total = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched at the start and after every epoch; a running run that stops touching it had
    # its worker killed, and the sweeper fails it so that the taxonomy can train again.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Single flight: at most one queued or running run per taxonomy, enforced by the
            # database so two simultaneous requests cannot both start one.
            models.UniqueConstraint(
                fields=["taxonomy"],
                condition=models.Q(status__in=["queued", "running"]),
                name="training_run_single_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"Training of {self.taxonomy_id} ({self.mode}, {self.status})"

    @property
    def progress(self) -> float:
        return min(1.0, self.epoch / self.max_epochs) if self.max_epochs else 0.0


class ImageEmbedding(models.Model):
    """A frozen backbone's embedding of an image, computed once and reused by training,
    prediction, similarity and the label-noise audit."""

    image = models.ForeignKey(
        "labelling.Image", on_delete=models.CASCADE, related_name="embeddings"
    )
    # The backbone and the kind of embedding (training.backbones.embedding_key): the bare
    # backbone name for its pooled embedding, "backbone/kind" for another kind.
    key = models.CharField(max_length=64)
    dim = models.PositiveIntegerField()
    vector = models.BinaryField()  # float32, little-endian
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["image", "key"], name="embedding_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.key} embedding of image {self.image_id}"


class PredictionJob(models.Model):
    """A request to predict some images, answered later: no HTTP request waits for a
    model. Progress is counted from the Prediction rows of the job's model version."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client = models.ForeignKey(
        "labelling.Client", on_delete=models.CASCADE, related_name="prediction_jobs"
    )
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    images = models.ManyToManyField("labelling.Image", related_name="+")
    top_n = models.PositiveSmallIntegerField(default=5)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Prediction job {self.id}"


class RetrainingPolicy(models.Model):
    """When a taxonomy retrains by itself: after enough new verified labels, and/or on a
    schedule; with what it last did, so the admin sees when and why it fired."""

    taxonomy = models.OneToOneField(
        "labelling.Taxonomy", on_delete=models.CASCADE, related_name="retraining_policy"
    )
    enabled = models.BooleanField(default=True)
    # Retrain once this many images were verified since the last run it started (0: never).
    after_verified = models.PositiveIntegerField(default=50)
    # Also retrain this often when anything new was verified (0: no schedule).
    every_hours = models.PositiveIntegerField(default=24)
    verified_at_last_run = models.PositiveIntegerField(default=0)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_reason = models.CharField(max_length=300, blank=True)
    last_run = models.ForeignKey(
        TrainingRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retraining policies"

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"Retraining of {self.taxonomy_id} ({state})"


class ClientModelSettings(models.Model):
    """What one client decides about its sector's shared model: its own auto-accept target
    (thresholds chosen for it from the active version's calibration, so that a change moves
    only this client's decisions) and whether its verified images train the model (consent).
    A client without a row takes the version's own thresholds and consents."""

    client = models.OneToOneField(
        "labelling.Client", on_delete=models.CASCADE, related_name="model_settings"
    )
    # None: the thresholds the version was trained with (the taxonomy's target then).
    auto_accept_target = models.FloatField(null=True, blank=True)
    trains_sector_model = models.BooleanField(default=True)
    # The thresholds chosen for the target above: {"model_version": id, "target_precision":
    # t, "thresholds": {...}, "test": {...}}; chosen again when another version serves.
    policy = models.JSONField(default=dict, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "client model settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(auto_accept_target__isnull=True)
                | models.Q(auto_accept_target__gte=0.5, auto_accept_target__lte=1.0),
                name="client_target_in_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Model settings of {self.client_id}"


class LabelAudit(models.Model):
    """One run of the label-noise audit over a taxonomy's verified images: after each
    training run and on demand. Its scores are the suspect-labels queue."""

    taxonomy = models.ForeignKey(
        "labelling.Taxonomy", on_delete=models.CASCADE, related_name="label_audits"
    )
    # The version whose output gives the spread signal and whose embeddings are read.
    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10, choices=RunStatus.choices, default=RunStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    n_images = models.PositiveIntegerField(default=0)
    n_suspects = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["taxonomy"],
                condition=models.Q(status__in=["queued", "running"]),
                name="label_audit_single_flight",
            ),
        ]

    def __str__(self) -> str:
        return f"Label audit of {self.taxonomy_id} ({self.status})"


class SuspectDecision(models.TextChoices):
    KEEP = "keep", "Keep the label"
    RELABEL = "relabel", "Relabelled"
    EXCLUDE = "exclude", "Excluded from training"


class LabelNoiseScore(models.Model):
    """What one audit thinks of one verified image's label, and why."""

    audit = models.ForeignKey(LabelAudit, on_delete=models.CASCADE, related_name="scores")
    image = models.ForeignKey("labelling.Image", on_delete=models.CASCADE, related_name="+")
    label = models.ForeignKey("labelling.Label", on_delete=models.CASCADE, related_name="+")
    suggested = models.ForeignKey("labelling.Label", on_delete=models.CASCADE, related_name="+")
    rank = models.PositiveIntegerField()  # 1 = most suspect
    score = models.FloatField()  # combined, 0..1, higher is more suspect
    self_confidence = models.FloatField()  # out-of-sample probability of the label
    suggested_probability = models.FloatField()
    neighbour_disagreement = models.FloatField()
    neighbour_labels = models.JSONField(default=list)  # label ids of the k nearest neighbours
    confident_learning = models.BooleanField(default=False)
    spread = models.FloatField(null=True, blank=True)
    votes = models.PositiveSmallIntegerField(default=0)
    is_suspect = models.BooleanField(default=False)
    decision = models.CharField(max_length=10, choices=SuspectDecision.choices, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["audit_id", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["audit", "image"], name="noise_score_unique"),
        ]
        indexes = [models.Index(fields=["audit", "is_suspect", "rank"])]

    def __str__(self) -> str:
        return f"Image {self.image_id}: rank {self.rank} in audit {self.audit_id}"


class TrainingExclusion(models.Model):
    """An image a reviewer took out of training (its label may be right, but the image
    teaches the wrong thing): the training dataset leaves it out until the row is gone."""

    image = models.OneToOneField(
        "labelling.Image", on_delete=models.CASCADE, related_name="training_exclusion"
    )
    excluded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Image {self.image_id} excluded from training"


class NoLabelGrouping(models.Model):
    """The latest grouping of a client's images that fit no label (by their stored
    embeddings), offered to the taxonomy's maintainers as candidates for new labels.
    Computed by a worker (scikit-learn stays out of web processes); a page that finds images
    it does not cover asks for another."""

    client = models.OneToOneField(
        "labelling.Client", on_delete=models.CASCADE, related_name="no_label_grouping"
    )
    embedding_key = models.CharField(max_length=64, blank=True)
    groups = models.JSONField(default=list)  # [[image id, ...], ...], largest first
    apart = models.JSONField(default=list)  # image ids without a stored embedding
    silhouette = models.FloatField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"No-label grouping of client {self.client_id}"
