"""The verified images a taxonomy's model learns from, and the fixed gold test set."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from labelling.models import Image, ImageLabel, ImageStatus, Taxonomy
from labelling.models.images import LabelSource

# Which images are gold test images is decided by their content hash, not by a random draw
# per run: an image in the test set stays there for every later version, so versions are
# compared on the same images and no model is tested on what an earlier one trained on.
TEST_PERCENT = 20
MIN_IMAGES_PER_CLASS = 2


@dataclass
class Dataset:
    images: list[Image]
    targets: np.ndarray  # class indices (multi-class) or a 0/1 matrix (multi-label)
    class_labels: list[int]  # class index → label id
    class_names: list[str]
    multi_label: bool


class NotEnoughData(ValueError):
    pass


def is_gold_test(sha256: str) -> bool:
    bucket = int(hashlib.sha256(f"gold:{sha256}".encode()).hexdigest()[:8], 16) % 100
    return bucket < TEST_PERCENT


def gold_flags(images: list[Image]) -> np.ndarray:
    """Which of ``images`` are gold test images. Near-duplicates (labelling.perceptual_hash)
    go together, on the side of the earliest uploaded among them, so the same photo
    re-encoded or resized never sits in both the training and the gold test images."""
    from labelling.perceptual_hash import near_duplicate_groups

    order = sorted(range(len(images)), key=lambda i: images[i].pk)
    groups = near_duplicate_groups([images[i].dhash or None for i in order])
    flags = np.zeros(len(images), dtype=bool)
    for position, group in enumerate(groups):
        flags[order[position]] = is_gold_test(images[order[group]].sha256)
    return flags


def verified_dataset(taxonomy: Taxonomy) -> Dataset:
    """Images verified by people (or imported from a hand-tagged library) in every client
    of the taxonomy's sector whose client consents to train it (its model settings).
    Machine tags are left out: learning from them would only confirm the model's own
    mistakes; so are images excluded from training."""
    rows = (
        ImageLabel.objects.exclude(image__client__model_settings__trains_sector_model=False)
        .filter(
            image__client__sector_id=taxonomy.sector_id,
            image__status=ImageStatus.VERIFIED,
            label__taxonomy=taxonomy,
            label__is_active=True,
            source__in=[LabelSource.HUMAN, LabelSource.IMPORT],
        )
        # Reviewers took these out from the suspect-labels queue.
        .exclude(image__training_exclusion__isnull=False)
        .values_list("image_id", "label_id")
        .order_by("image_id")
    )
    labels_of: dict[int, set[int]] = {}
    for image_id, label_id in rows:
        labels_of.setdefault(image_id, set()).add(label_id)
    if not taxonomy.is_multi_label:
        # A multi-class model learns from images with exactly one label.
        labels_of = {i: labels for i, labels in labels_of.items() if len(labels) == 1}
    counts: dict[int, int] = {}
    for labels in labels_of.values():
        for label_id in labels:
            counts[label_id] = counts.get(label_id, 0) + 1
    label_rows = {
        label.pk: label
        for label in taxonomy.labels.filter(
            pk__in=[k for k, n in counts.items() if n >= MIN_IMAGES_PER_CLASS]
        )
    }
    class_labels = sorted(label_rows)
    if len(class_labels) < 2:
        raise NotEnoughData(
            f"{taxonomy} needs verified images of at least two labels "
            f"({MIN_IMAGES_PER_CLASS} each); it has {len(class_labels)} such label(s)."
        )
    index_of = {label_id: i for i, label_id in enumerate(class_labels)}
    kept = {
        image_id: [index_of[label] for label in labels if label in index_of]
        for image_id, labels in labels_of.items()
    }
    kept = {image_id: indices for image_id, indices in kept.items() if indices}
    images = list(Image.objects.filter(pk__in=kept).order_by("pk"))
    if taxonomy.is_multi_label:
        targets = np.zeros((len(images), len(class_labels)), dtype=np.float32)
        for row, image in enumerate(images):
            targets[row, kept[image.pk]] = 1.0
    else:
        targets = np.array([kept[image.pk][0] for image in images], dtype=np.int64)
    return Dataset(
        images=images,
        targets=targets,
        class_labels=class_labels,
        class_names=[label_rows[label_id].key for label_id in class_labels],
        multi_label=taxonomy.is_multi_label,
    )
