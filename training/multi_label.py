"""What a multi-label model may tag on its own, and what that buys on held-out images.

A multi-label head gives each label its own sigmoid probability, and each label its own
auto-accept threshold (``calibration.per_class_thresholds`` with ``multi_label``: the lowest
probability at which that label's held-out tags reach the target precision). An image is
tagged by the model alone when every label the model finds likely (probability at least
``LIKELY_AT``, what reviewers are offered to accept) reaches its threshold; it then carries
every label that reaches one. When a likely label falls short, a person decides the whole
image: a tag set with one doubtful member is not a decision the model can make.

Pure: arrays in, plain numbers out. Only numpy at import, so that the services that decide
each prediction can import it without loading scipy or sklearn.
"""

from __future__ import annotations

import numpy as np

# The same cut the review page offers multi-label suggestions at (sigmoid outputs).
LIKELY_AT = 0.5


def accepted_labels(proba_row, thresholds, *, likely_at: float = LIKELY_AT) -> list[int]:
    """Indices of the labels one image is auto-tagged with (highest first), or [] when a
    person must decide. ``thresholds[c]`` above 1 means label c is never auto-accepted."""
    row = np.asarray(proba_row, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if row.shape != thresholds.shape:
        raise ValueError(f"{row.shape[0]} probabilities for {thresholds.shape[0]} thresholds")
    accepted = row >= thresholds
    likely = row >= likely_at
    if not accepted.any() or (likely & ~accepted).any():
        return []
    order = np.argsort(-row, kind="stable")
    return [int(c) for c in order if accepted[c]]


def auto_tag_figures(proba, truth, thresholds, *, likely_at: float = LIKELY_AT) -> dict:
    """What the rule does on held-out images with known labels: the share of images tagged
    alone (coverage), the precision of their tags (each image-label pair one tag) with its
    Wilson 95 % interval, and how many tagged images got exactly their true set."""
    from training.evaluation import wilson_interval  # sklearn: only where figures are made

    proba = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(truth) > 0
    n = len(proba)
    images = tags = right = exact = 0
    for row, expected in zip(proba, truth, strict=True):
        chosen = accepted_labels(row, thresholds, likely_at=likely_at)
        if not chosen:
            continue
        images += 1
        tags += len(chosen)
        right += int(expected[chosen].sum())
        exact += int(set(chosen) == set(np.flatnonzero(expected).tolist()))
    low, high = wilson_interval(right, tags) if tags else (0.0, 1.0)
    return {
        "n": int(n),
        "auto_accepted": images,
        "coverage": images / n if n else 0.0,
        "tags": tags,
        "precision": right / tags if tags else None,
        "precision_ci95": [low, high],
        "exact_match": exact / images if images else None,
    }
