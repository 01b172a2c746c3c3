"""Predicting images with a taxonomy's active model, and the auto-accept policy."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction

from labelling.models import Image, ImageLabel, ImageStatus, Prediction
from labelling.models.images import LabelSource
from training.embedding_store import embeddings_ensure, load_pixels
from training.inference import run_model  # TensorFlow is imported when a model first runs
from training.models import ModelMode, ModelVersion
from training.runtime import input_size_for, load_model_version
from training.selectors import active_version
from training.services.policy import auto_accepted_labels

logger = logging.getLogger(__name__)


@dataclass
class PredictOutcome:
    predicted: list[int] = field(default_factory=list)  # image ids given a new prediction
    skipped: list[int] = field(default_factory=list)  # already predicted by that version
    failed: dict[int, str] = field(default_factory=dict)  # image id → reason
    no_model: list[int] = field(default_factory=list)  # their taxonomy has no active model


def calibrate(proba: np.ndarray, temperature: float, *, multi_label: bool) -> np.ndarray:
    """Temperature-scaled probabilities, computed from the model's own probabilities (for
    softmax, log p differs from the logits by a per-row constant, which softmax ignores)."""
    if not temperature or temperature == 1.0:
        return proba
    eps = 1e-7
    p = np.clip(np.asarray(proba, dtype=np.float64), eps, 1 - eps)
    if multi_label:
        return 1.0 / (1.0 + np.exp(-np.log(p / (1 - p)) / temperature))
    z = np.log(p) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def model_probabilities(model_version: ModelVersion, images: list[Image]):
    """(calibrated probabilities for the images that could be read, their ids, failures)."""
    loaded = load_model_version(model_version)
    failures: dict[int, str] = {}
    if model_version.mode == ModelMode.HEAD:
        result = embeddings_ensure(images, model_version.backbone, model_version.embedding)
        failures.update(result.failures)
        ids = [i.pk for i in images if i.pk in result.vectors]
        inputs = np.stack([result.vectors[i] for i in ids]) if ids else None
    else:
        size = loaded.config.get("input_size") or input_size_for(model_version.backbone)
        ids, pixels = [], []
        for image in images:
            try:
                pixels.append(load_pixels(image, size))
                ids.append(image.pk)
            except Exception as exc:
                failures[image.pk] = f"cannot read the image: {exc}"[:500]
        inputs = np.stack(pixels) if pixels else None
    if inputs is None:
        return np.zeros((0, len(model_version.class_labels))), [], failures
    proba = np.asarray(run_model(loaded.model, inputs), dtype=np.float64)
    multi_label = bool(loaded.config.get("multi_label"))
    proba = calibrate(
        proba, float(loaded.config.get("temperature") or 1.0), multi_label=multi_label
    )
    return proba, ids, failures


def ranked_labels(row: np.ndarray, class_labels: list[int], top_n: int) -> list[dict]:
    order = np.argsort(-row, kind="stable")[:top_n]
    return [{"label": int(class_labels[i]), "probability": round(float(row[i]), 6)} for i in order]


# Predictions store this many ranked labels whatever was asked, so that a later request for
# more (up to the API's 20) is answered from the stored row.
STORED_RANKING = 20


def images_predict(
    *,
    image_ids,
    top_n: int | None = None,
    decide: bool = True,
    model_version: ModelVersion | None = None,
) -> PredictOutcome:
    """Predict images with their taxonomy's active model, once per (image, version).

    With ``decide``, images being ingested (status processing) move on: auto-tagged when the
    policy accepts, else to review; images the model cannot read become failed."""
    top_n = max(top_n or settings.PREDICTION_TOP_N, STORED_RANKING)
    outcome = PredictOutcome()
    images = list(
        Image.objects.filter(pk__in=list(image_ids)).select_related("client", "client__sector")
    )
    by_version: dict[int, tuple[ModelVersion, list[Image]]] = {}
    for image in images:
        taxonomy = image.client.taxonomy
        if model_version is not None:  # a prediction job pinned the version it asked
            version = (
                model_version if taxonomy and taxonomy.pk == model_version.taxonomy_id else None
            )
        else:
            version = active_version(taxonomy) if taxonomy else None
        if version is None:
            outcome.no_model.append(image.pk)
            continue
        by_version.setdefault(version.pk, (version, []))[1].append(image)
    for version, group in by_version.values():
        stored = dict(
            Prediction.objects.filter(model_version=version, image__in=group).values_list(
                "image_id", "ranked"
            )
        )
        done = set(stored)
        outcome.skipped.extend(sorted(done))
        if decide:
            # Predicted but not decided yet (asked for by a prediction job before ingestion
            # got to it, or a worker died in between): decide from the stored prediction,
            # rather than leave it for review whatever the policy says.
            for image in group:
                if stored.get(image.pk):
                    _decide(image, version, stored[image.pk])
        todo = [image for image in group if image.pk not in done]
        if not todo:
            continue
        proba, ids, failures = model_probabilities(version, todo)
        outcome.failed.update(failures)
        by_id = {image.pk: image for image in todo}
        for row, image_id in zip(proba, ids, strict=True):
            ranked = ranked_labels(row, version.class_labels, top_n)
            if _store_prediction(by_id[image_id], version, ranked):
                outcome.predicted.append(image_id)
                if decide:
                    _decide(by_id[image_id], version, ranked)
            else:
                outcome.skipped.append(image_id)
        if decide:
            for image_id, reason in failures.items():
                image = by_id[image_id]
                if image.status == ImageStatus.PROCESSING:
                    image.mark_failed(reason)
    return outcome


def _store_prediction(image: Image, version: ModelVersion, ranked: list[dict]) -> bool:
    try:
        with transaction.atomic():
            Prediction.objects.create(
                image=image,
                model_version=version,
                ranked=ranked,
                top_label_id=ranked[0]["label"],
                top_probability=ranked[0]["probability"],
            )
        return True
    except IntegrityError:  # a concurrent worker stored it first: same version, same answer
        return False


def _decide(image: Image, version: ModelVersion, ranked: list[dict]) -> None:
    if image.status != ImageStatus.PROCESSING:
        return  # a person already decided, or it was predicted on request: leave it
    # One label (multi-class), or several (multi-label), each at its own threshold.
    accepted = auto_accepted_labels(version, ranked, client_id=image.client_id)
    with transaction.atomic():
        if accepted:
            for entry in accepted:
                ImageLabel.objects.update_or_create(
                    image=image,
                    label_id=entry["label"],
                    defaults={"source": LabelSource.MACHINE, "probability": entry["probability"]},
                )
            image.transition_to(ImageStatus.AUTO_TAGGED)
        else:
            image.transition_to(ImageStatus.NEEDS_REVIEW)
