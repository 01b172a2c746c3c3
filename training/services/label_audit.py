"""The label-noise audit in the product: queued after each training run and on demand, run
on the training queue, its scores stored per image for the suspect-labels queue."""

from __future__ import annotations

import logging
from datetime import timedelta

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone

from labelling.models import Taxonomy
from training.backbones import embedding_views
from training.embedding_store import embeddings_ensure
from training.models import (
    ACTIVE_RUN_STATUSES,
    LabelAudit,
    LabelNoiseScore,
    ModelMode,
    ModelVersion,
    RunStatus,
)
from training.selectors import active_version
from training.services.dataset import NotEnoughData, verified_dataset
from training.tasks import audit_labels

logger = logging.getLogger(__name__)


def label_audit_request(
    *, taxonomy: Taxonomy, model_version: ModelVersion | None = None, user=None
) -> LabelAudit:
    """Queue an audit; while one is queued or running, that one is returned instead (its
    result will be as fresh as a second one's)."""
    try:
        with transaction.atomic():
            audit = LabelAudit.objects.create(
                taxonomy=taxonomy, model_version=model_version, requested_by=user
            )
    except IntegrityError:
        return LabelAudit.objects.get(taxonomy=taxonomy, status__in=ACTIVE_RUN_STATUSES)
    transaction.on_commit(lambda: audit_labels.delay(audit.pk))
    return audit


def label_audit_sweep_stale(*, stale_after: timedelta) -> int:
    """Fail audits whose worker died, so that single flight lets the next one start."""
    cutoff = timezone.now() - stale_after
    return LabelAudit.objects.filter(status=RunStatus.RUNNING, started_at__lt=cutoff).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        message="The worker stopped during this audit; it can be started again.",
    )


def label_audit_execute(*, audit_id: int) -> LabelAudit | None:
    now = timezone.now()
    claimed = LabelAudit.objects.filter(pk=audit_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now
    )
    if not claimed:
        return None
    audit = LabelAudit.objects.select_related("taxonomy", "model_version").get(pk=audit_id)
    try:
        n_suspects, n_images = _audit(audit)
    except Exception as exc:
        if not isinstance(exc, NotEnoughData | ValueError):
            logger.exception("label audit %s failed", audit.pk)
        audit.status = RunStatus.FAILED
        audit.message = str(exc)[:2000]
        audit.finished_at = timezone.now()
        audit.save(update_fields=["status", "message", "finished_at"])
        return audit
    audit.status = RunStatus.SUCCEEDED
    audit.n_images, audit.n_suspects = n_images, n_suspects
    audit.finished_at = timezone.now()
    audit.save(update_fields=["status", "n_images", "n_suspects", "finished_at", "model_version"])
    label_audit_prune(audit=audit)
    return audit


def label_audit_prune(*, audit: LabelAudit) -> int:
    """Drop the undecided scores of the taxonomy's older audits: the new one supersedes
    them (a library's every verified image, after every run, would otherwise pile up).
    Decided ones stay: they are what reviewers did, and a kept label is not asked again."""
    deleted, _ = (
        LabelNoiseScore.objects.filter(audit__taxonomy=audit.taxonomy_id, decision="")
        .exclude(audit=audit)
        .delete()
    )
    return deleted


def _audit(audit: LabelAudit) -> tuple[int, int]:
    from training.noise_heads import audit_with_product_heads
    from training.services.prediction import model_probabilities

    taxonomy = audit.taxonomy
    if taxonomy.is_multi_label:
        raise ValueError(
            f"{taxonomy.name} is multi-label: the label-noise audit scores one label per image."
        )
    version = audit.model_version or active_version(taxonomy)
    if version is None or version.mode != ModelMode.HEAD:
        raise NotEnoughData(
            f"{taxonomy.name} has no active head model whose embeddings the audit can read."
        )
    audit.model_version = version
    dataset = verified_dataset(taxonomy)
    embedded = embeddings_ensure(dataset.images, version.backbone, version.embedding)
    keep = [i for i, image in enumerate(dataset.images) if image.pk in embedded.vectors]
    images = [dataset.images[i] for i in keep]
    labels = dataset.targets[keep]
    X = np.stack([embedded.vectors[image.pk] for image in images])

    # The spread signal reads the version's own output, over its own classes.
    proba, ids, _ = model_probabilities(version, images)
    row_of = {image_id: row for row, image_id in enumerate(ids)}
    column = {label_id: j for j, label_id in enumerate(version.class_labels)}
    wanted = np.array([column.get(label_id, -1) for label_id in dataset.class_labels])
    n_classes = len(dataset.class_labels)
    model_proba = np.full((len(images), n_classes), 1 / n_classes)
    for i, image in enumerate(images):
        if image.pk in row_of:
            model_proba[i, wanted >= 0] = proba[row_of[image.pk], wanted[wanted >= 0]]
    model_proba /= model_proba.sum(axis=1, keepdims=True).clip(min=1e-12)

    result = audit_with_product_heads(
        X,
        labels,
        n_classes=n_classes,
        model_proba=model_proba,
        known_proba=_known_out_of_sample(
            version, images, labels, dataset.class_labels, proba=proba, row_of=row_of
        ),
        views=embedding_views(version.embedding),
    )
    class_labels = np.asarray(dataset.class_labels)
    suggested = result.out_of_sample_proba.argmax(axis=1)
    votes = _votes(result, labels)
    rank = np.empty(len(images), dtype=np.int64)
    rank[result.ranking] = np.arange(1, len(images) + 1)
    suspects = {s.index for s in result.suspects}
    rows = [
        LabelNoiseScore(
            audit=audit,
            image_id=image.pk,
            label_id=int(class_labels[labels[i]]),
            suggested_id=int(class_labels[suggested[i]]),
            rank=int(rank[i]),
            score=float(result.score[i]),
            self_confidence=float(result.self_confidence[i]),
            suggested_probability=float(result.out_of_sample_proba[i, suggested[i]]),
            neighbour_disagreement=float(result.neighbour_disagreement[i]),
            neighbour_labels=[int(class_labels[labels[j]]) for j in result.neighbours[i]],
            confident_learning=bool(result.confident_learning[i]),
            spread=None if result.spread is None else float(result.spread[i]),
            votes=int(votes[i]),
            is_suspect=i in suspects,
        )
        for i, image in enumerate(images)
    ]
    with transaction.atomic():
        LabelNoiseScore.objects.bulk_create(rows, batch_size=500)
    return len(suspects), len(images)


def _known_out_of_sample(
    version: ModelVersion,
    images,
    labels,
    class_labels: list[int],
    *,
    proba: np.ndarray,
    row_of: dict[int, int],
) -> np.ndarray:
    """The out-of-sample probabilities the version's training already computed, in the
    audit's rows and columns (NaN rows where there are none): the out-of-fold scores its
    thresholds were chosen on, for an image whose label is still the one they were computed
    for; and the version's own output (``proba``, rows by image id in ``row_of``) for its
    gold test images, which it never trained on. The audit trains folds only for what is
    left: images verified since, or that no fold could score."""
    known = np.full((len(images), len(class_labels)), np.nan)
    column = {label_id: j for j, label_id in enumerate(version.class_labels)}
    wanted = np.array([column.get(label_id, -1) for label_id in class_labels])

    def in_audit_columns(row: np.ndarray) -> np.ndarray:
        # A label the version does not know gets nothing from it.
        return np.where(wanted >= 0, row[wanted.clip(min=0)], 0.0)

    stored = (version.heldout or {}).get("out_of_fold") or {}
    stored_row = {int(pk): r for r, pk in enumerate(stored.get("image_ids") or [])}
    if stored_row:
        stored_proba = np.asarray(stored["proba"], dtype=np.float64)
        stored_y = stored["y"]
        for i, image in enumerate(images):
            r = stored_row.get(image.pk)
            if r is not None and version.class_labels[stored_y[r]] == class_labels[labels[i]]:
                known[i] = in_audit_columns(stored_proba[r])
    gold = {int(pk) for pk in version.gold_answers or {}}
    for i, image in enumerate(images):
        if image.pk in gold and image.pk in row_of:
            known[i] = in_audit_columns(proba[row_of[image.pk]])
    return known


def _votes(result, labels) -> np.ndarray:
    codes = np.asarray(labels)
    return (
        (result.out_of_sample_proba.argmax(axis=1) != codes).astype(int)
        + (result.neighbour_disagreement > 0.5).astype(int)
        + result.confident_learning.astype(int)
    )
