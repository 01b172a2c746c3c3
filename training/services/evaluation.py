"""Evaluating model versions on the gold test images, and comparing two of them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.models import ModelVersion
from training.services.dataset import is_gold_test, verified_dataset
from training.services.versions import active_version


@dataclass
class Comparison:
    n: int
    candidate_top1: float
    active_top1: float

    @property
    def candidate_not_worse(self) -> bool:
        return self.candidate_top1 >= self.active_top1


def gold_test_set(model_version: ModelVersion):
    """(images, targets as label ids or label-id sets) of the taxonomy's gold test images."""
    dataset = verified_dataset(model_version.taxonomy)
    rows = [i for i, image in enumerate(dataset.images) if is_gold_test(image.sha256)]
    images = [dataset.images[i] for i in rows]
    if dataset.multi_label:
        truth = [
            {dataset.class_labels[j] for j in np.flatnonzero(dataset.targets[i])} for i in rows
        ]
    else:
        truth = [dataset.class_labels[int(dataset.targets[i])] for i in rows]
    return images, truth, dataset.multi_label


def top1_accuracy(
    model_version: ModelVersion, images, truth, multi_label: bool
) -> tuple[float, int]:
    """Top-1 accuracy of a version on images whose true label ids are ``truth``; an image
    whose label the version never learned counts as a miss for it."""
    from training.services.prediction import model_probabilities

    if not images:
        return 0.0, 0
    proba, ids, _failures = model_probabilities(model_version, images)
    answer = dict(
        zip(ids, (model_version.class_labels[int(i)] for i in proba.argmax(axis=1)), strict=True)
    )
    hits = 0
    for image, expected in zip(images, truth, strict=True):
        predicted = answer.get(image.pk)
        hits += int(predicted in expected) if multi_label else int(predicted == expected)
    return hits / len(images), len(images)


def compare_on_gold(*, candidate: ModelVersion) -> Comparison | None:
    """Candidate against the active version on the same gold test images; None when
    nothing is active (or there are no gold images yet)."""
    active = active_version(candidate.taxonomy)
    if active is None or active.pk == candidate.pk:
        return None
    images, truth, multi_label = gold_test_set(candidate)
    if not images:
        return None
    candidate_top1, n = top1_accuracy(candidate, images, truth, multi_label)
    active_top1, _ = top1_accuracy(active, images, truth, multi_label)
    return Comparison(n=n, candidate_top1=candidate_top1, active_top1=active_top1)


def model_evaluate(*, model_version: ModelVersion) -> dict:
    """Re-measure a version on today's gold test images (the set grows with the library)
    and keep the figures on the version row."""
    images, truth, multi_label = gold_test_set(model_version)
    top1, n = top1_accuracy(model_version, images, truth, multi_label)
    from training.evaluation import wilson_interval

    low, high = wilson_interval(round(top1 * n), n) if n else (0.0, 0.0)
    result = {"n": n, "top1": top1, "top1_ci95": [low, high]}
    metrics = dict(model_version.metrics or {})
    metrics["latest_gold_evaluation"] = result
    ModelVersion.objects.filter(pk=model_version.pk).update(metrics=metrics)
    model_version.metrics = metrics
    return result
