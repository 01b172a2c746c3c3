"""Metrics of a trained model on a held-out split, as a JSON-serializable dict.

Every number is a plain Python float or int so that the dict can go straight into a model
artifact's config and a database JSON field.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    log_loss,
    precision_recall_fscore_support,
)

Z_95 = 1.959963984540054  # two-sided 95 % normal quantile
ECE_BINS = 15


def wilson_interval(successes: int, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Unlike the normal approximation it stays inside [0, 1] and is honest near 0 and 1,
    where a good model's accuracy lives.
    """
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def _proportion(successes: int, n: int) -> dict:
    low, high = wilson_interval(successes, n)
    return {
        "value": successes / n if n else 0.0,
        "ci95_low": low,
        "ci95_high": high,
        "successes": int(successes),
        "n": int(n),
    }


def expected_calibration_error(confidence, correct, *, n_bins: int = ECE_BINS) -> float:
    """Support-weighted mean |accuracy − confidence| over equal-width confidence bins."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if len(confidence) == 0:
        return 0.0
    # Bins are (lo, hi]; confidence 0 joins the first bin.
    bins = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidence[in_bin].mean())
            total += in_bin.sum() * gap
    return float(total / len(confidence))


def _names(class_names, n_classes: int) -> list[str]:
    if class_names is None:
        return [str(i) for i in range(n_classes)]
    if len(class_names) != n_classes:
        raise ValueError(f"{len(class_names)} class names for {n_classes} classes")
    return [str(name) for name in class_names]


def _per_class(y_true, y_pred, names: list[str]) -> list[dict]:
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=np.arange(len(names)), zero_division=0
    )
    return [
        {
            "class": name,
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    ]


def _as_probabilities(proba, *, multi_label: bool) -> np.ndarray:
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2:
        raise ValueError(f"probabilities must be (n, n_classes), got shape {proba.shape}")
    proba = np.clip(proba, 0.0, 1.0)
    if not multi_label:
        # float32 softmax rows sum to 1 only within ~1e-7, which log_loss rejects.
        proba = proba / proba.sum(axis=1, keepdims=True).clip(min=1e-12)
    return proba


def evaluate(
    y_true,
    proba,
    *,
    class_names=None,
    multi_label: bool = False,
    threshold: float = 0.5,
) -> dict:
    """Metrics of probabilities ``proba`` (n, n_classes) against the truth.

    Multi-class: y_true holds class indices. Multi-label: y_true is an (n, n_labels) 0/1
    matrix and a label counts as predicted when its probability reaches ``threshold``.
    """
    proba = _as_probabilities(proba, multi_label=multi_label)
    n, n_classes = proba.shape
    if n == 0:
        raise ValueError("nothing to evaluate: no examples")
    names = _names(class_names, n_classes)
    if multi_label:
        return _evaluate_multi_label(np.asarray(y_true), proba, names, threshold)
    return _evaluate_multi_class(np.asarray(y_true).astype(np.int64), proba, names)


def _evaluate_multi_class(y_true: np.ndarray, proba: np.ndarray, names: list[str]) -> dict:
    n, n_classes = proba.shape
    if y_true.shape != (n,):
        raise ValueError(f"y_true must be ({n},) class indices, got shape {y_true.shape}")
    labels = np.arange(n_classes)
    predicted = proba.argmax(axis=1)
    correct = predicted == y_true
    k = min(3, n_classes)
    # A stable sort on the negated scores breaks ties towards the lower index, like argmax.
    top_k = np.argsort(-proba, axis=1, kind="stable")[:, :k]
    in_top_k = (top_k == y_true[:, None]).any(axis=1)
    return {
        "kind": "multi_class",
        "n": int(n),
        "classes": names,
        "top1_accuracy": _proportion(int(correct.sum()), n),
        "top3_accuracy": {**_proportion(int(in_top_k.sum()), n), "k": k},
        "macro_f1": float(
            f1_score(y_true, predicted, labels=labels, average="macro", zero_division=0)
        ),
        "per_class": _per_class(y_true, predicted, names),
        # Rows are the true class, columns the predicted one.
        "confusion_matrix": confusion_matrix(y_true, predicted, labels=labels).tolist(),
        "log_loss": float(log_loss(y_true, proba, labels=labels)),
        "ece": expected_calibration_error(proba.max(axis=1), correct),
    }


def _evaluate_multi_label(
    y_true: np.ndarray, proba: np.ndarray, names: list[str], threshold: float
) -> dict:
    n, n_labels = proba.shape
    if y_true.shape != (n, n_labels):
        raise ValueError(f"y_true must be a ({n}, {n_labels}) 0/1 matrix, got {y_true.shape}")
    truth = (y_true > 0).astype(np.int64)
    predicted = (proba >= threshold).astype(np.int64)
    exact = (truth == predicted).all(axis=1)
    micro = precision_recall_fscore_support(truth, predicted, average="micro", zero_division=0)
    eps = 1e-15
    clipped = np.clip(proba, eps, 1 - eps)
    binary_nll = -(truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped))
    return {
        "kind": "multi_label",
        "n": int(n),
        "labels": names,
        "threshold": float(threshold),
        "subset_accuracy": _proportion(int(exact.sum()), n),
        "micro_precision": float(micro[0]),
        "micro_recall": float(micro[1]),
        "micro_f1": float(micro[2]),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "per_label": _per_class(truth, predicted, names),
        "log_loss": float(binary_nll.mean()),
        # Each (image, label) probability is one binary forecast.
        "ece": expected_calibration_error(proba.ravel(), truth.ravel()),
    }
