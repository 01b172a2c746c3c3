"""Builders for the tests of the training API and pages: model version rows with realistic
metrics, policy and held-out probabilities (no model behind them), and photo-like images
a tiny real model can learn (for the few tests that train one)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image as PILImage

from labelling.models import ImageLabel, ImageStatus
from labelling.models.images import LabelSource
from tests import factories
from training.evaluation import evaluate
from training.models import ActiveModel, ModelActivation, ModelVersion, TrainingRun
from training.services.policy import policy_compute


def heldout_for(n_classes: int, *, accuracy: float, seed: int = 0, n: int = 60) -> dict:
    """Calibrated-looking held-out probabilities: right ``accuracy`` of the time, confident
    when right."""
    rng = np.random.default_rng(seed)

    def split(size):
        y = rng.integers(0, n_classes, size=size)
        right = rng.random(size) < accuracy
        guess = np.where(right, y, (y + 1) % n_classes)
        proba = np.full((size, n_classes), 0.0)
        top = np.where(right, rng.uniform(0.8, 0.99, size), rng.uniform(0.45, 0.7, size))
        proba[np.arange(size), guess] = top
        rest = (1 - top) / (n_classes - 1)
        for c in range(n_classes):
            proba[:, c] = np.where(guess == c, proba[:, c], rest)
        return {"proba": np.round(proba, 5).tolist(), "y": y.tolist()}

    # As training keeps them: out-of-fold answers over the training and validation images.
    return {"val": split(n), "test": split(n), "out_of_fold": split(260)}


def make_version(
    taxonomy,
    *,
    labels,
    number: int | None = None,
    accuracy: float = 0.9,
    active: bool = False,
    backbone: str = "efficientnet_lite0",
    mode: str = "head",
    seed: int = 0,
    user=None,
    stored: bool = False,
) -> ModelVersion:
    """A ModelVersion row as training makes it (metrics, policy, held-out), minus the model.

    ``stored``: a stand-in file behind the row whose bytes hash to the recorded checksum,
    which is all that activation reads before it moves the pointer (no model is loaded)."""
    class_labels = [label.pk for label in labels]
    heldout = heldout_for(len(class_labels), accuracy=accuracy, seed=seed)
    test = heldout["test"]
    metrics = evaluate(
        np.array(test["y"]), np.array(test["proba"]), class_names=[lb.name for lb in labels]
    )
    metrics["temperature"] = 1.0
    metrics["training"] = {
        "seconds": 1.5,
        "epochs": 12,
        "best_epoch": 9,
        "decay_epochs": [10],
        "n_train": 200,
        "n_val": 60,
        "n_test": 60,
    }
    policy = policy_compute(
        heldout, class_labels, target=taxonomy.auto_accept_target, multi_label=False
    )
    numbered = {} if number is None else {"number": number}
    version = factories.ModelVersionFactory(
        taxonomy=taxonomy,
        backbone=backbone,
        mode=mode,
        input_size=64,
        class_labels=class_labels,
        metrics=metrics,
        policy=policy,
        heldout=heldout,
        n_train=200,
        created_by=user,
        **numbered,
    )
    if stored:
        content = f"stand-in for {version}".encode()
        version.artifact = default_storage.save(version.artifact, ContentFile(content))
        version.artifact_sha256 = hashlib.sha256(content).hexdigest()
        version.save(update_fields=["artifact", "artifact_sha256"])
    if active:
        activate_row(version, user=user)
    return version


def activate_row(version: ModelVersion, *, user=None) -> None:
    """Move the pointer directly, as model_activate does once its checks pass."""
    pointer = ActiveModel.objects.filter(taxonomy=version.taxonomy).first()
    previous = pointer.model_version if pointer else None
    ActiveModel.objects.update_or_create(
        taxonomy=version.taxonomy, defaults={"model_version": version}
    )
    ModelActivation.objects.create(
        taxonomy=version.taxonomy, model_version=version, previous=previous, activated_by=user
    )


def finished_run(version: ModelVersion, *, epochs: int = 6) -> TrainingRun:
    history = [
        {"epoch": e, "loss": 1.0 / e, "val_loss": 1.2 / e + 0.01 * e, "lr": 0.001}
        for e in range(1, epochs + 1)
    ]
    return factories.TrainingRunFactory(
        taxonomy=version.taxonomy,
        mode=version.mode,
        backbone=version.backbone,
        status="succeeded",
        epoch=epochs,
        history=history,
        model_version=version,
        message=f"v{version.number} is now active.",
    )


def photo_bytes(rng, warm: bool) -> bytes:
    """A noisy 72×72 photo-like PNG: warm (reds) or cool (blues)."""
    base = np.array([200, 60, 40] if warm else [40, 80, 200], dtype=np.float64)
    pixels = base + rng.normal(0, 35, size=(72, 72, 3))
    buffer = io.BytesIO()
    PILImage.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def add_photo(client, rng, *, warm: bool, label=None, status=ImageStatus.VERIFIED):
    data = photo_bytes(rng, warm)
    image = factories.ImageFactory(
        client=client,
        file=ContentFile(data, name=f"images/{rng.integers(1 << 62)}.png"),
        sha256=hashlib.sha256(data).hexdigest(),
        format="PNG",
        status=status,
    )
    if label is not None:
        ImageLabel.objects.create(image=image, label=label, source=LabelSource.HUMAN)
    return image


def verified_library(world, n: int = 60):
    """``n`` verified photos of client A: warm ones 'smiling', cool ones 'building'."""
    rng = np.random.default_rng(0)
    for i in range(n):
        warm = i % 2 == 0
        label = world.labels.smiling if warm else world.labels.building
        add_photo(world.client_a, rng, warm=warm, label=label)
    return rng
