"""Training runs: requested once per taxonomy at a time, executed on the training queue."""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from labelling.models import AuditAction, Taxonomy
from labelling.services import audit
from training import defaults, pipeline
from training.artifacts import save_artifact
from training.backbones import POOLED, embedding_views, get_spec
from training.embedding_store import embeddings_ensure, load_pixels
from training.models import (
    ACTIVE_RUN_STATUSES,
    ModelMode,
    ModelVersion,
    RunPhase,
    RunStatus,
    TrainingRun,
)
from training.runtime import input_size_for
from training.selectors import active_version
from training.services.dataset import Dataset, NotEnoughData, gold_flags, verified_dataset
from training.services.embedding_map import embedding_maps_after_training
from training.services.evaluation import gold_answers_record, gold_test_set
from training.services.label_audit import label_audit_request
from training.services.policy import policy_compute
from training.services.versions import PROMOTION_NOTE, ActivationRefused, model_activate
from training.tasks import train

logger = logging.getLogger(__name__)

MAX_EPOCHS = {
    ModelMode.HEAD: defaults.MAX_EPOCHS["head"],
    ModelMode.FINETUNE: defaults.MAX_EPOCHS["finetune"],
}


class TrainingAlreadyRunning(Exception):
    pass


def training_request(
    *,
    taxonomy: Taxonomy,
    mode: str = defaults.DEFAULT_MODE,
    backbone: str | None = None,
    user=None,
) -> TrainingRun:
    """Queue a training run. Single flight: a second request while one is queued or
    running is refused (the database's partial unique constraint decides races)."""
    backbone = backbone or settings.DEFAULT_BACKBONE
    get_spec(backbone)  # unknown names fail here, with the list of known ones
    if mode not in ModelMode.values:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(ModelMode.values)}")
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                taxonomy=taxonomy,
                mode=mode,
                backbone=backbone,
                requested_by=user,
                max_epochs=MAX_EPOCHS[mode],
            )
            audit.record(
                user,
                AuditAction.TRAINING_STARTED,
                sector=taxonomy.sector,
                summary=f"Training of {taxonomy.name} requested ({mode}, {backbone}).",
                detail={"run": run.pk, "mode": mode, "backbone": backbone},
            )
    except IntegrityError:
        current = TrainingRun.objects.filter(
            taxonomy=taxonomy, status__in=ACTIVE_RUN_STATUSES
        ).first()
        since = f" since {current.created_at:%Y-%m-%d %H:%M}" if current else ""
        state = current.status if current else "queued"
        raise TrainingAlreadyRunning(
            f"A training run of {taxonomy.name} is already {state}{since}; "
            "wait for it to finish before starting another."
        ) from None
    transaction.on_commit(lambda: train.delay(run.pk))
    return run


def _report_phase(run: TrainingRun, phase: str, done: int = 0, total: int = 0) -> None:
    """Where the run is, for the progress bar: a phase, and how far into it."""
    run.phase, run.phase_done, run.phase_total = phase, done, total
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["phase", "phase_done", "phase_total", "heartbeat_at"])


def _report_epoch(run: TrainingRun, epoch: int, logs: dict) -> None:
    entry = {"epoch": epoch + 1, **{k: float(v) for k, v in logs.items() if np.isscalar(v)}}
    run.history = [*run.history, entry]
    run.epoch = epoch + 1
    run.phase = RunPhase.TRAINING
    run.heartbeat_at = timezone.now()
    run.save(update_fields=["history", "epoch", "phase", "heartbeat_at"])


def gold_split(dataset: Dataset, *, seed: int = 0):
    """Train / validation / gold-test indices: the test images are fixed by content hash;
    the rest is split 7:1, stratified by label, as the method's 70/10/20."""
    gold = gold_flags(dataset.images)
    return pipeline.split_with_gold(
        dataset.targets, gold, multi_label=dataset.multi_label, seed=seed
    )


def training_execute(*, run_id: int) -> TrainingRun | None:
    """Run a queued training run to the end: a new model version, activated when it is not
    worse than the active one on the same gold test images."""
    now = timezone.now()
    claimed = TrainingRun.objects.filter(pk=run_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None  # gone, or another worker has it
    run = TrainingRun.objects.select_related("taxonomy").get(pk=run_id)
    try:
        version = _train(run)
    except Exception as exc:
        logger.exception("training run %s failed", run.pk)
        run.status = RunStatus.FAILED
        run.message = (
            f"{type(exc).__name__}: {exc}"[:2000]
            if not isinstance(exc, NotEnoughData)
            else str(exc)
        )
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "message", "finished_at"])
        return run
    run.message = training_finish_promotion(model_version=version, user=run.requested_by)
    run.status = RunStatus.SUCCEEDED
    run.model_version = version
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "model_version", "finished_at", "message"])
    if (
        settings.LABEL_AUDIT_AFTER_TRAINING
        and version.mode == ModelMode.HEAD
        and not run.taxonomy.is_multi_label
    ):
        # A new model sees the labels afresh: audit them with it.
        label_audit_request(taxonomy=run.taxonomy, model_version=version, user=run.requested_by)
    # A version that reads other embeddings moves every image: lay the maps out again.
    embedding_maps_after_training(model_version=version)
    return run


def _train(run: TrainingRun) -> ModelVersion:
    taxonomy = run.taxonomy
    dataset = verified_dataset(taxonomy)
    started = time.monotonic()
    # A head reads the backbone's preferred kind of stored embedding; a fine-tuned model
    # carries its own backbone, which pools.
    embedding = get_spec(run.backbone).default_embedding if run.mode == ModelMode.HEAD else POOLED
    if run.mode == ModelMode.HEAD:
        embedded = embeddings_ensure(
            dataset.images,
            run.backbone,
            embedding,
            progress=lambda done, total: _report_phase(run, RunPhase.EMBEDDING, done, total),
        )
        keep = [i for i, image in enumerate(dataset.images) if image.pk in embedded.vectors]
        dataset = Dataset(
            images=[dataset.images[i] for i in keep],
            targets=dataset.targets[keep],
            class_labels=dataset.class_labels,
            class_names=dataset.class_names,
            multi_label=dataset.multi_label,
        )
        inputs = np.stack([embedded.vectors[image.pk] for image in dataset.images])
    else:
        _report_phase(run, RunPhase.READING, 0, len(dataset.images))
        inputs = _pixels(dataset, run.backbone)
    _report_phase(run, RunPhase.TRAINING)
    train_idx, val_idx, test_idx = gold_split(dataset)
    if len(val_idx) == 0 or len(test_idx) == 0:
        raise NotEnoughData(
            f"{taxonomy.name} has too few verified images to hold out validation and test images "
            f"({len(dataset.images)} in all)."
        )
    y = dataset.targets
    progress = lambda epoch, logs: _report_epoch(run, epoch, logs)  # noqa: E731
    trained = pipeline.fit(
        run.mode,
        inputs[train_idx],
        y[train_idx],
        inputs[val_idx],
        y[val_idx],
        n_classes=len(dataset.class_labels),
        multi_label=dataset.multi_label,
        backbone=run.backbone,
        input_size=inputs.shape[1] if run.mode == ModelMode.FINETUNE else None,
        max_epochs=run.max_epochs,
        views=embedding_views(embedding),
        progress=progress,
    )
    seconds = time.monotonic() - started

    _report_phase(run, RunPhase.MEASURING)
    measured = pipeline.measure(
        trained.logits_model,
        inputs[val_idx],
        y[val_idx],
        inputs[test_idx],
        y[test_idx],
        class_names=dataset.class_names,
        multi_label=dataset.multi_label,
    )
    metrics = measured.metrics
    metrics["training"] = {
        "seconds": round(seconds, 2),
        "epochs": trained.epochs_run,
        "best_epoch": trained.best_epoch,
        "decay_epochs": trained.decay_epochs,
        "n_train": len(train_idx),
        "n_val": len(val_idx),
        "n_test": len(test_idx),
    }
    head = getattr(trained, "head", None)  # fine-tuning trains its head first
    if head is not None:
        metrics["training"]["head_epochs"] = head.epochs_run
    # Rounded: the held-out answers are stored with the version, for the policy.
    heldout = {
        "val": {"proba": np.round(measured.val_proba, 5).tolist(), "y": y[val_idx].tolist()},
        "test": {"proba": np.round(measured.test_proba, 5).tolist(), "y": y[test_idx].tolist()},
    }
    folds = settings.AUTO_ACCEPT_FOLDS
    if run.mode == ModelMode.HEAD and folds >= 2:
        # Heads train in seconds, so the thresholds can be chosen on every non-gold image,
        # each scored out of fold, rather than on the validation split's few dozen.
        rest = np.concatenate([train_idx, val_idx])
        oof_proba, kept = pipeline.out_of_fold_proba(
            inputs[rest],
            y[rest],
            n_classes=len(dataset.class_labels),
            multi_label=dataset.multi_label,
            folds=folds,
            max_epochs=run.max_epochs,
            views=embedding_views(embedding),
        )
        heldout["out_of_fold"] = {
            "proba": np.round(oof_proba, 5).tolist(),
            "y": y[rest][kept].tolist(),
            # Whose they are: the label audit after this run reuses them instead of
            # training its own folds over the same images.
            "image_ids": [dataset.images[i].pk for i in rest[kept]],
        }
        metrics["training"]["n_out_of_fold"] = len(kept)
    policy = policy_compute(
        heldout,
        dataset.class_labels,
        target=taxonomy.auto_accept_target,
        multi_label=dataset.multi_label,
    )
    return _store_version(
        run,
        dataset,
        trained.model,
        metrics,
        measured.temperature,
        policy=policy,
        heldout=heldout,
        input_size=_input_size(run, inputs),
        embedding=embedding,
        # The test split is the gold test set: the version's answers on it, for comparisons.
        gold_answers={
            str(dataset.images[i].pk): int(dataset.class_labels[int(k)])
            for i, k in zip(test_idx, measured.test_top1, strict=True)
        },
    )


def _input_size(run: TrainingRun, inputs: np.ndarray) -> int:
    return int(inputs.shape[1]) if run.mode == ModelMode.FINETUNE else input_size_for(run.backbone)


def _pixels(dataset: Dataset, backbone: str) -> np.ndarray:
    size = input_size_for(backbone)
    return np.stack([load_pixels(image, size) for image in dataset.images])


def _store_version(
    run,
    dataset,
    model,
    metrics,
    temperature,
    *,
    policy: dict,
    heldout: dict,
    input_size: int,
    embedding: str,
    gold_answers: dict[str, int],
) -> ModelVersion:
    taxonomy = run.taxonomy
    number = (
        ModelVersion.objects.filter(taxonomy=taxonomy).aggregate(n=Max("number"))["n"] or 0
    ) + 1
    config = {
        "backbone": run.backbone,
        "embedding": embedding,
        "input_size": input_size,
        "mode": run.mode,
        "taxonomy_id": taxonomy.pk,
        "taxonomy_version": taxonomy.version,
        "class_labels": dataset.class_labels,
        "class_names": dataset.class_names,
        "multi_label": dataset.multi_label,
        "temperature": float(temperature),
        "n_train": metrics["training"]["n_train"],
        "metrics": metrics,
    }
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / "version.taxmodel"
        sha256 = save_artifact(local, model, config)
        # A new key every time: an artifact, once written, is never overwritten.
        name = f"models/{taxonomy.pk}/v{number}-{uuid.uuid4().hex[:12]}.taxmodel"
        with open(local, "rb") as handle:
            stored = default_storage.save(name, File(handle, name=name))
    return ModelVersion.objects.create(
        taxonomy=taxonomy,
        number=number,
        backbone=run.backbone,
        mode=run.mode,
        embedding=embedding,
        input_size=input_size,
        taxonomy_version=taxonomy.version,
        artifact=stored,
        artifact_sha256=sha256,
        class_labels=dataset.class_labels,
        metrics=metrics,
        policy=policy,
        heldout=heldout,
        gold_answers=gold_answers,
        n_train=metrics["training"]["n_train"],
        created_by=run.requested_by,
    )


def training_finish_promotion(*, model_version: ModelVersion, user=None) -> str:
    """After training: activate when not worse than the active version on gold images.

    Runs in the worker, so it can first have the active version answer today's gold images
    it has not seen (those verified since it was trained, or all of them for a version made
    before answers were stored): the comparison then covers the whole gold set."""
    active = active_version(model_version.taxonomy)
    if active is not None and active.pk != model_version.pk:
        images, _truth, _multi_label = gold_test_set(model_version)
        try:
            gold_answers_record(active, images)
        except Exception as exc:  # an unreadable active artifact must not lose the new version
            logger.warning("could not have %s answer the gold images: %s", active, exc)

    try:
        model_activate(model_version=model_version, user=user, note=PROMOTION_NOTE)
    except ActivationRefused as exc:
        return str(exc)
    return f"v{model_version.number} is now active."


def training_sweep_stale(*, stale_after: timedelta) -> list[int]:
    """Fail runs whose worker died (killed, restarted, out of memory): they stay RUNNING
    with no heartbeat, and single flight would otherwise block the taxonomy for good."""
    cutoff = timezone.now() - stale_after
    stale = list(
        TrainingRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).values_list(
            "pk", flat=True
        )
    )
    TrainingRun.objects.filter(pk__in=stale, status=RunStatus.RUNNING).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        message=(
            "The worker stopped during this run (killed or restarted) and it made no progress "
            f"for {int(stale_after.total_seconds() // 60)} minutes; start the training again."
        ),
    )
    return stale


def training_requeue_waiting(*, waiting_after: timedelta) -> list[int]:
    """Send again the runs still queued after ``waiting_after``: their message may be lost
    (a whole worker killed takes the messages it had reserved with it until the visibility timeout),
    and a queued run that never starts would block its taxonomy for good. A run that was
    merely waiting behind others is harmless to send twice: the task claims it first, and
    the copy finds it taken. Each run is sent again at most once per period."""
    now = timezone.now()
    cutoff = now - waiting_after
    waiting = TrainingRun.objects.filter(status=RunStatus.QUEUED).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff)
    )
    with transaction.atomic():
        ids = list(waiting.values_list("pk", flat=True))
        # heartbeat_at of a queued run: when its message was last sent again.
        TrainingRun.objects.filter(pk__in=ids, status=RunStatus.QUEUED).update(heartbeat_at=now)
        for pk in ids:
            transaction.on_commit(lambda pk=pk: train.delay(pk))
    if ids:
        logger.warning("training runs %s were still queued: sent again", ids)
    return ids
