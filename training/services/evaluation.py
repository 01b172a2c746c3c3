"""Evaluating model versions on the gold test images, and comparing two of them.

Each version keeps its answer (the top-1 label id) for every gold test image it has seen:
written by the worker when the version is trained (its test split is the gold set of that
day) and extended by ``model_evaluate``. Comparisons read those stored answers, so that
activating, rolling back and comparing on a page never load a model in a web process; only
workers run models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.models import ModelVersion
from training.selectors import active_version
from training.services import prediction
from training.services.dataset import gold_flags, verified_dataset


@dataclass
class Comparison:
    n: int  # gold test images both versions have answered
    candidate_top1: float
    active_top1: float

    @property
    def candidate_not_worse(self) -> bool:
        return self.candidate_top1 >= self.active_top1


def gold_test_set(model_version: ModelVersion):
    """(images, targets as label ids or label-id sets) of the taxonomy's gold test images."""
    dataset = verified_dataset(model_version.taxonomy)
    rows = [int(i) for i in np.flatnonzero(gold_flags(dataset.images))]
    images = [dataset.images[i] for i in rows]
    if dataset.multi_label:
        truth = [
            {dataset.class_labels[j] for j in np.flatnonzero(dataset.targets[i])} for i in rows
        ]
    else:
        truth = [dataset.class_labels[int(dataset.targets[i])] for i in rows]
    return images, truth, dataset.multi_label


def gold_answers_record(model_version: ModelVersion, images) -> dict[str, int]:
    """Run the version on those of ``images`` it has not answered yet and store its top-1
    label ids beside the others. Loads the model: for workers only. An image the model
    cannot read gets no answer (and is left out of comparisons)."""
    answers = dict(model_version.gold_answers or {})
    todo = [image for image in images if str(image.pk) not in answers]
    if todo:
        proba, ids, _failures = prediction.model_probabilities(model_version, todo)
        for image_id, index in zip(ids, proba.argmax(axis=1), strict=True):
            answers[str(image_id)] = int(model_version.class_labels[int(index)])
        ModelVersion.objects.filter(pk=model_version.pk).update(gold_answers=answers)
        model_version.gold_answers = answers
    return answers


def _hits(answers: dict, images, truth, multi_label: bool) -> int:
    hits = 0
    for image, expected in zip(images, truth, strict=True):
        answer = answers.get(str(image.pk))
        hits += int(answer in expected) if multi_label else int(answer == expected)
    return hits


def head_to_head(a: ModelVersion, b: ModelVersion) -> tuple[int, float, float] | None:
    """(n, top-1 of a, top-1 of b) on today's gold test images that both have answered;
    None when the taxonomy has no gold test images yet. An image whose label a version never
    learned counts as a miss for it."""
    images, truth, multi_label = gold_test_set(a)
    if not images:
        return None
    answers_a, answers_b = a.gold_answers or {}, b.gold_answers or {}
    shared = [
        (image, expected)
        for image, expected in zip(images, truth, strict=True)
        if str(image.pk) in answers_a and str(image.pk) in answers_b
    ]
    if not shared:
        return 0, 0.0, 0.0
    images, truth = [s[0] for s in shared], [s[1] for s in shared]
    n = len(images)
    return (
        n,
        _hits(answers_a, images, truth, multi_label) / n,
        _hits(answers_b, images, truth, multi_label) / n,
    )


def against_reference(
    reference: ModelVersion, versions: list[ModelVersion]
) -> dict[int, tuple[int, float, float]]:
    """For each of ``versions`` (the reference left out): (n, its top-1, the reference's
    top-1) on the gold test images both have answered, from stored answers; the gold set is
    read once. Empty when there are no gold test images yet; n is 0 with nothing in common."""
    images, truth, multi_label = gold_test_set(reference)
    if not images:
        return {}
    ref = reference.gold_answers or {}
    result = {}
    for version in versions:
        if version.pk == reference.pk:
            continue
        own = version.gold_answers or {}
        shared = [
            (image, expected)
            for image, expected in zip(images, truth, strict=True)
            if str(image.pk) in own and str(image.pk) in ref
        ]
        if not shared:
            result[version.pk] = (0, 0.0, 0.0)
            continue
        picked, expected = [x[0] for x in shared], [x[1] for x in shared]
        n = len(picked)
        result[version.pk] = (
            n,
            _hits(own, picked, expected, multi_label) / n,
            _hits(ref, picked, expected, multi_label) / n,
        )
    return result


def compare_on_gold(*, candidate: ModelVersion) -> Comparison | None:
    """Candidate against the active version on the same gold test images, from their stored
    answers; None when nothing is active (or there are no gold images yet). n is 0 when the
    two have not answered any gold image in common."""
    active = active_version(candidate.taxonomy)
    if active is None or active.pk == candidate.pk:
        return None
    result = head_to_head(candidate, active)
    if result is None:
        return None
    n, candidate_top1, active_top1 = result
    return Comparison(n=n, candidate_top1=candidate_top1, active_top1=active_top1)


def model_evaluate(*, model_version: ModelVersion) -> dict:
    """Re-measure a version on today's gold test images (the set grows with the library),
    keep the figures on the version row and its answers for comparisons. For workers."""
    images, truth, multi_label = gold_test_set(model_version)
    answers = gold_answers_record(model_version, images)
    n = len(images)
    # An image the model could not read has no answer: a miss, as it would be for a user.
    top1 = _hits(answers, images, truth, multi_label) / n if n else 0.0
    from training.evaluation import wilson_interval  # sklearn: workers only, not web processes

    low, high = wilson_interval(round(top1 * n), n) if n else (0.0, 0.0)
    result = {"n": n, "top1": top1, "top1_ci95": [low, high]}
    metrics = dict(model_version.metrics or {})
    metrics["latest_gold_evaluation"] = result
    ModelVersion.objects.filter(pk=model_version.pk).update(metrics=metrics)
    model_version.metrics = metrics
    return result
