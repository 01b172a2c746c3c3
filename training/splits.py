"""The method's 70/10/20 train/validation/test split, stratified by label.

Each class is shuffled with a seeded generator and cut on its own, so every split keeps the
class mix of the whole set. Per-class counts round half up, and train is filled first:

- a class with 1 or 2 items puts them all in train: a class the head never saw cannot be
  predicted at all, while one or two test items would measure nothing;
- a class with 3 or 4 items gets one test item and no validation item;
- from 5 items on, every split gets at least one.

The same labels and seed always give the same split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_FRACTIONS = (0.7, 0.1, 0.2)


@dataclass(frozen=True)
class Split:
    """Sorted index arrays into the original rows."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _round_half_up(x: float) -> int:
    # Python's round() is banker's rounding: round(0.5) == 0 would starve 5-item classes
    # of a validation item.
    return int(np.floor(x + 0.5))


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions):
        raise ValueError(f"fractions must be three non-negative numbers, got {fractions!r}")
    if not np.isclose(sum(fractions), 1.0):
        raise ValueError(f"fractions must sum to 1, got {fractions!r}")


def split_indices(
    labels,
    *,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Split:
    """Stratified train/val/test split of ``labels`` (any 1-D array of hashable labels)."""
    _check_fractions(fractions)
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    _, val_frac, test_frac = fractions
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    # np.unique sorts, so the generator is consumed in the same class order on every run.
    _, codes = np.unique(labels, return_inverse=True)
    for code in range(codes.max() + 1 if len(codes) else 0):
        members = rng.permutation(np.flatnonzero(codes == code))
        n = len(members)
        n_test = _round_half_up(n * test_frac)
        n_val = _round_half_up(n * val_frac)
        # Train keeps at least one item, then test is served before validation.
        n_test = min(n_test, n - 1)
        n_val = min(n_val, n - 1 - n_test)
        parts["test"].append(members[:n_test])
        parts["val"].append(members[n_test : n_test + n_val])
        parts["train"].append(members[n_test + n_val :])
    return Split(
        **{
            name: np.sort(np.concatenate(chunks)).astype(np.int64)
            if chunks
            else np.empty(0, np.int64)
            for name, chunks in parts.items()
        }
    )


def split_indices_multilabel(
    label_matrix,
    *,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> Split:
    """Split for multi-label data, ``label_matrix`` being an (n, n_labels) 0/1 array.

    Each row is stratified on its rarest positive label, so that rare labels are spread
    across the splits rather than swamped by the common ones they co-occur with; rows with
    no positive label form a stratum of their own. This is coarser than iterative
    stratification, and good enough at the method's scale.
    """
    matrix = np.asarray(label_matrix)
    if matrix.ndim != 2:
        raise ValueError(f"label_matrix must be 2-D, got shape {matrix.shape}")
    positive = matrix > 0
    frequency = positive.sum(axis=0)
    # Absent labels get an infinite count so that argmin never picks them.
    counts = np.where(positive, frequency[None, :], np.iinfo(np.int64).max)
    strata = np.where(positive.any(axis=1), counts.argmin(axis=1), -1)
    return split_indices(strata, fractions=fractions, seed=seed)
