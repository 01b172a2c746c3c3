"""Deciding which predictions to auto-accept and which to send to review.

The method sends an image to review when its top-1 and top-2 probabilities are close
(``needs_review_margin``). We do better when held-out data allow it: probabilities are
calibrated by temperature scaling on the validation split, then each predicted class gets
the lowest threshold on calibrated top-1 probability whose held-out precision reaches a
target, and the coverage that buys is reported with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import expit, log_expit, log_softmax, softmax

from training.evaluation import Z_95

# Above any probability: a class with this threshold is never auto-accepted.
NEVER_ACCEPT = 2.0

_LOG_T_BOUNDS = (np.log(0.05), np.log(20.0))


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float, multi_label: bool) -> float:
    scaled = logits / temperature
    if multi_label:
        return float(-(y * log_expit(scaled) + (1 - y) * log_expit(-scaled)).mean())
    return float(-log_softmax(scaled, axis=1)[np.arange(len(y)), y].mean())


def fit_temperature(logits, y, *, multi_label: bool = False) -> float:
    """The temperature T that minimises the negative log-likelihood of softmax(logits / T).

    One scalar, so it never changes which class is ranked first: it only makes the
    probabilities honest. T > 1 softens an over-confident model. Fitted on the validation
    split (never on test, which must stay untouched to report on).
    """
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    if len(logits) == 0:
        return 1.0
    y = y.astype(np.float64) if multi_label else y.astype(np.int64)
    # Searching over log T keeps T positive and treats "twice as sharp" and "twice as soft"
    # alike.
    result = minimize_scalar(
        lambda log_t: _nll(logits, y, float(np.exp(log_t)), multi_label),
        bounds=_LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(np.exp(result.x))


def apply_temperature(logits, temperature: float, *, multi_label: bool = False) -> np.ndarray:
    """Calibrated probabilities from logits."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    return expit(scaled) if multi_label else softmax(scaled, axis=1)


@dataclass(frozen=True)
class ClassThreshold:
    threshold: float  # NEVER_ACCEPT when the target cannot be reached
    precision: float  # held-out precision of what the threshold accepts (0 if nothing)
    accepted: int  # held-out items it accepts
    predicted: int  # held-out items predicted as this class at all
    reachable: bool


@dataclass(frozen=True)
class Thresholds:
    target_precision: float
    per_class: list[ClassThreshold]
    coverage: float  # fraction of all held-out items auto-accepted
    precision: float  # precision over everything auto-accepted (0 if nothing)

    @property
    def values(self) -> np.ndarray:
        return np.array([c.threshold for c in self.per_class])

    def as_dict(self) -> dict:
        return {
            "target_precision": self.target_precision,
            "coverage": self.coverage,
            "precision": self.precision,
            "per_class": [c.__dict__.copy() for c in self.per_class],
        }


def _wilson_low(successes: np.ndarray, n: np.ndarray, z: float = Z_95) -> np.ndarray:
    # Vectorised lower end of evaluation.wilson_interval, one value per candidate cut.
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - half) / (1 + z * z / n)


def _class_threshold(
    scores: np.ndarray,
    hits: np.ndarray,
    *,
    target_precision: float,
    min_support: int,
    lower_bound: bool,
) -> ClassThreshold:
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], hits[order]
    accepted = np.arange(1, len(scores) + 1)
    correct = np.cumsum(hits)
    precision = correct / np.maximum(accepted, 1)
    if lower_bound:
        reaches = _wilson_low(correct, accepted) >= target_precision
    else:
        reaches = precision >= target_precision
    # A cut is only possible after the last of a run of tied scores: a threshold cannot
    # accept half of the items that share one probability.
    at_tie_end = np.append(scores[1:] != scores[:-1], True) if len(scores) else scores.astype(bool)
    ok = reaches & at_tie_end & (accepted >= min_support)
    if not ok.any():
        return ClassThreshold(NEVER_ACCEPT, 0.0, 0, len(scores), False)
    # The lowest threshold that reaches the target is the one accepting the most items.
    cut = int(np.flatnonzero(ok)[-1])
    return ClassThreshold(
        float(scores[cut]), float(precision[cut]), int(accepted[cut]), len(scores), True
    )


def per_class_thresholds(
    proba_val,
    y_val,
    *,
    target_precision: float,
    min_support: int = 20,
    multi_label: bool = False,
    lower_bound: bool = False,
) -> Thresholds:
    """Per-class auto-accept thresholds on calibrated held-out probabilities.

    Multi-class: for each class c, among the items whose top-1 prediction is c, the lowest
    threshold t on top-1 probability such that the items with probability ≥ t are correct at
    least ``target_precision`` of the time, and are at least ``min_support`` of them (a
    precision measured on three items is luck). Multi-label: the same per label, over every
    item's probability for that label. With ``lower_bound`` the Wilson 95 % lower bound of
    the precision must reach the target instead of the point estimate: fewer items pass, but
    the target holds on new data more often.
    """
    proba = np.asarray(proba_val, dtype=np.float64)
    y = np.asarray(y_val)
    n, n_classes = proba.shape
    per_class = []
    if multi_label:
        truth = y > 0
        for c in range(n_classes):
            per_class.append(
                _class_threshold(
                    proba[:, c],
                    truth[:, c],
                    target_precision=target_precision,
                    min_support=min_support,
                    lower_bound=lower_bound,
                )
            )
        decisions = proba >= np.array([c.threshold for c in per_class])[None, :]
        accepted_total = int(decisions.sum())
        correct_total = int((decisions & truth).sum())
        coverage = accepted_total / max(decisions.size, 1)
    else:
        y = y.astype(np.int64)
        predicted = proba.argmax(axis=1)
        top1 = proba.max(axis=1)
        for c in range(n_classes):
            mine = predicted == c
            per_class.append(
                _class_threshold(
                    top1[mine],
                    y[mine] == c,
                    target_precision=target_precision,
                    min_support=min_support,
                    lower_bound=lower_bound,
                )
            )
        accepted = auto_accept(proba, [c.threshold for c in per_class])
        accepted_total = int(accepted.sum())
        correct_total = int((accepted & (predicted == y)).sum())
        coverage = accepted_total / max(n, 1)
    return Thresholds(
        target_precision=float(target_precision),
        per_class=per_class,
        coverage=float(coverage),
        precision=float(correct_total / accepted_total) if accepted_total else 0.0,
    )


def auto_accept(proba, thresholds) -> np.ndarray:
    """Multi-class: True where the top-1 probability reaches its class's threshold."""
    proba = np.asarray(proba, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    predicted = proba.argmax(axis=1)
    return proba[np.arange(len(proba)), predicted] >= thresholds[predicted]


def needs_review_margin(proba, margin: float) -> np.ndarray:
    """The method's rule: review when top-1 minus top-2 probability is below ``margin``."""
    proba = np.asarray(proba, dtype=np.float64)
    if proba.shape[1] < 2:
        return proba[:, 0] < margin
    top2 = np.sort(proba, axis=1)[:, -2:]
    return (top2[:, 1] - top2[:, 0]) < margin
