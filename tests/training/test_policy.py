"""Auto-accept thresholds hold their target on unseen images: a precision measured on few
held-out images is luck, so few images auto-accept less, or nothing."""

import numpy as np
import pytest

from training.services.policy import policy_compute

pytestmark = pytest.mark.ml

LABELS = [11, 22]


def _heldout(n_per_class, *, wrong_share=0.0, seed=0):
    """Held-out answers at 0.99 confidence, each class right but for ``wrong_share``."""
    rng = np.random.default_rng(seed)
    proba, y = [], []
    for c in (0, 1):
        for _ in range(n_per_class):
            row = [0.01, 0.01]
            row[c] = 0.99
            proba.append(row)
            y.append(1 - c if rng.random() < wrong_share else c)
    return {"proba": proba, "y": y}


def test_a_tiny_validation_set_auto_accepts_nothing():
    # Ten out of ten right is a point precision of 1.0, but its lower bound is about 0.72.
    policy = policy_compute({"val": _heldout(10)}, LABELS, target=0.95, multi_label=False)
    assert policy["thresholds"] == {}
    assert policy["chosen_on"] == "val"


def test_enough_held_out_images_at_the_target_auto_accept():
    policy = policy_compute({"val": _heldout(200)}, LABELS, target=0.95, multi_label=False)
    assert set(policy["thresholds"]) == {"11", "22"}


def test_a_point_precision_at_the_target_is_not_enough():
    # 97 % right on 100 images per class: the point estimate clears 0.95, its bound not.
    heldout = {"val": _heldout(100, wrong_share=0.03, seed=1)}
    policy = policy_compute(heldout, LABELS, target=0.95, multi_label=False)
    assert policy["thresholds"] == {}


def test_thresholds_are_chosen_on_the_out_of_fold_images_where_kept():
    heldout = {"val": _heldout(5), "out_of_fold": _heldout(200)}
    policy = policy_compute(heldout, LABELS, target=0.95, multi_label=False)
    assert policy["chosen_on"] == "out_of_fold"
    assert set(policy["thresholds"]) == {"11", "22"}
    assert policy["validation"]["per_class"][0]["predicted"] == 200
