"""Stored embeddings: each image is embedded once per (backbone, kind of embedding) and
reused by training, prediction, similarity and the label-noise audit."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from labelling.models import Image
from training.backbones import POOLED, embedding_key
from training.models import ImageEmbedding

BATCH_SIZE = 32


@dataclass
class EmbeddingResult:
    vectors: dict[int, np.ndarray] = field(default_factory=dict)  # image id → embedding
    failures: dict[int, str] = field(default_factory=dict)  # image id → why it failed


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes, dim: int) -> np.ndarray:
    vector = np.frombuffer(bytes(data), dtype="<f4")
    if vector.shape != (dim,):
        raise ValueError(f"stored embedding has {vector.size} values, expected {dim}")
    return vector


def load_pixels(image: Image, size: int) -> np.ndarray:
    """The image's pixels as the backbone wants them (raw RGB, size × size), read from the
    small model-input derivative made at ingestion when there is one (a fraction of the
    original's decode time), else from the original."""
    from django.core.files.storage import default_storage

    from labelling.storage_names import model_input_name
    from training.backbones.preprocess import load_image_for_backbone

    try:
        derivative = model_input_name(image.file.name)
    except ValueError:  # not stored under the upload naming scheme: no derivative
        derivative = None
    if derivative and default_storage.exists(derivative):
        with default_storage.open(derivative, "rb") as handle:
            return load_image_for_backbone(handle, size)
    with image.file.open("rb") as handle:
        return load_image_for_backbone(handle, size)


def stored_embeddings(image_ids, backbone: str, embedding: str = POOLED) -> dict[int, np.ndarray]:
    rows = ImageEmbedding.objects.filter(
        image_id__in=list(image_ids), key=embedding_key(backbone, embedding)
    )
    return {
        image_id: from_bytes(vector, dim)
        for image_id, vector, dim in rows.values_list("image_id", "vector", "dim").iterator()
    }


def embeddings_ensure(
    images: list[Image], backbone: str, embedding: str = POOLED, *, progress=None
) -> EmbeddingResult:
    """Embeddings of ``images`` under ``backbone``: the stored ones, plus the missing ones
    computed in batches and stored. An image that cannot be read is reported, not raised.
    ``progress(done, total)``, when given, hears how many of ``images`` have one so far."""
    from training.inference import run_model
    from training.runtime import backbone_model, input_size_for

    key = embedding_key(backbone, embedding)
    result = EmbeddingResult(vectors=stored_embeddings([i.pk for i in images], backbone, embedding))
    missing = [image for image in images if image.pk not in result.vectors]
    if progress is not None:
        progress(len(images) - len(missing), len(images))
    if not missing:
        return result
    model = backbone_model(backbone, embedding)
    size = input_size_for(backbone)
    for start in range(0, len(missing), BATCH_SIZE):
        batch, pixels = [], []
        for image in missing[start : start + BATCH_SIZE]:
            try:
                pixels.append(load_pixels(image, size))
                batch.append(image)
            except Exception as exc:  # a corrupt or vanished file fails that image only
                result.failures[image.pk] = f"cannot read the image: {exc}"[:500]
        if not batch:
            continue
        vectors = np.asarray(run_model(model, np.stack(pixels)), dtype=np.float32)
        ImageEmbedding.objects.bulk_create(
            [
                ImageEmbedding(image=image, key=key, dim=vector.size, vector=to_bytes(vector))
                for image, vector in zip(batch, vectors, strict=True)
            ],
            ignore_conflicts=True,  # another worker stored the same one meanwhile
        )
        result.vectors.update(
            {image.pk: vector for image, vector in zip(batch, vectors, strict=True)}
        )
        if progress is not None:
            done = len(images) - len(missing) + min(start + BATCH_SIZE, len(missing))
            progress(done, len(images))
    return result
