"""What a multi-label model may tag on its own, and what that buys on held-out images.

A multi-label head gives each label its own sigmoid probability, and each label two
thresholds chosen on held-out images for the target precision (``absence_thresholds`` and
``calibration.per_class_thresholds`` with ``multi_label``):

- *present*: the lowest probability at which that label's tags are right often enough;
- *absent*: the highest probability under which saying "not this label" is right as often.

An image is tagged by the model alone when every label is decided one way or the other and
at least one is present; it then carries the present ones. When any label falls between its
two thresholds, a person decides the whole image: a tag set with one doubtful member, or a
missing label the model was unsure of, is not a decision the model can make. Versions
trained before absence thresholds existed treat a label under ``LIKELY_AT`` as absent.

Pure: arrays in, plain numbers out. Only numpy at import, so that the services that decide
each prediction can import it without loading scipy or sklearn.
"""

from __future__ import annotations

import numpy as np

# The same cut the review page offers multi-label suggestions at (sigmoid outputs).
LIKELY_AT = 0.5


def absence_thresholds(
    proba, truth, *, target_precision: float, min_support: int, lower_bound: bool = True
) -> np.ndarray:
    """Per label, the highest probability p such that the held-out items at or under p are
    truly without the label at ``target_precision`` (at its Wilson lower bound with
    ``lower_bound``), over at least ``min_support`` of them; -1 where none is (the label is
    then never taken to be absent, so its images go to people unless it is present)."""
    from training.calibration import per_class_thresholds  # scipy: where policies are made

    proba = np.asarray(proba, dtype=np.float64)
    absent = (np.asarray(truth) <= 0).astype(np.int64)
    # "Absent" is a tag of its own, on the complementary probability.
    chosen = per_class_thresholds(
        1.0 - proba,
        absent,
        target_precision=target_precision,
        min_support=min_support,
        multi_label=True,
        lower_bound=lower_bound,
    )
    return np.array([1.0 - c.threshold if c.reachable else -1.0 for c in chosen.per_class])


def accepted_labels(
    proba_row, thresholds, absent=None, *, likely_at: float = LIKELY_AT
) -> list[int]:
    """Indices of the labels one image is auto-tagged with (highest first), or [] when a
    person must decide. ``thresholds[c]`` above 1 means label c is never taken as present;
    ``absent[c]`` below 0, never as absent. Without ``absent``, a label under ``likely_at``
    counts as absent."""
    row = np.asarray(proba_row, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if row.shape != thresholds.shape:
        raise ValueError(f"{row.shape[0]} probabilities for {thresholds.shape[0]} thresholds")
    accepted = row >= thresholds
    if absent is None:
        undecided = ~accepted & (row >= likely_at)
    else:
        absent = np.asarray(absent, dtype=np.float64)
        if absent.shape != row.shape:
            raise ValueError(f"{row.shape[0]} probabilities for {absent.shape[0]} absences")
        undecided = ~accepted & (row > absent)
    if not accepted.any() or undecided.any():
        return []
    order = np.argsort(-row, kind="stable")
    return [int(c) for c in order if accepted[c]]


def auto_tag_figures(
    proba, truth, thresholds, absent=None, *, likely_at: float = LIKELY_AT
) -> dict:
    """What the rule does on held-out images with known labels: the share of images tagged
    alone (coverage), the precision of their tags (each image-label pair one tag) with its
    Wilson 95 % interval, and how many tagged images got exactly their true set."""
    from training.evaluation import wilson_interval  # sklearn: only where figures are made

    proba = np.asarray(proba, dtype=np.float64)
    truth = np.asarray(truth) > 0
    n = len(proba)
    images = tags = right = exact = 0
    for row, expected in zip(proba, truth, strict=True):
        chosen = accepted_labels(row, thresholds, absent, likely_at=likely_at)
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
