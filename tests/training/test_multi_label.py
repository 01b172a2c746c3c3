"""The multi-label auto-tag rule: every likely label must reach its own threshold."""

import numpy as np
import pytest

from training.calibration import per_class_thresholds
from training.multi_label import absence_thresholds, accepted_labels, auto_tag_figures
from training.services.policy import policy_compute

THRESHOLDS = [0.9, 0.8, 2.0]  # the third label never reached its target


def test_it_tags_every_label_that_reaches_its_threshold_highest_first():
    assert accepted_labels([0.45, 0.95, 0.1], THRESHOLDS) == [1]
    assert accepted_labels([0.92, 0.95, 0.1], THRESHOLDS) == [1, 0]


def test_a_likely_label_short_of_its_threshold_sends_the_image_to_people():
    # Label 0 is likely (0.7) but under its 0.9: the model may not decide the set.
    assert accepted_labels([0.7, 0.95, 0.1], THRESHOLDS) == []
    # A likely label that can never be accepted does the same.
    assert accepted_labels([0.1, 0.95, 0.6], THRESHOLDS) == []


def test_an_image_with_no_likely_label_is_not_tagged():
    assert accepted_labels([0.2, 0.3, 0.1], THRESHOLDS) == []


def test_with_thresholds_of_absence_every_label_must_be_decided_one_way_or_the_other():
    absent = [0.1, 0.2, 0.05]
    # Label 2 at 0.3 is not likely, but not surely absent either: people decide.
    assert accepted_labels([0.95, 0.05, 0.3], THRESHOLDS, absent) == []
    assert accepted_labels([0.95, 0.05, 0.01], THRESHOLDS, absent) == [0]
    # A label that can never be called absent (-1) sends every image without it to people.
    assert accepted_labels([0.95, 0.05, 0.01], THRESHOLDS, [0.1, 0.2, -1.0]) == []


def test_a_threshold_of_absence_is_the_highest_probability_under_which_no_is_right():
    # Label 0: truly absent under 0.4 and present above; label 1: present everywhere.
    proba = np.array([[p, 0.9] for p in np.linspace(0.01, 0.99, 99)])
    truth = np.array([[int(p > 0.4), 1] for p in np.linspace(0.01, 0.99, 99)])
    absent = absence_thresholds(proba, truth, target_precision=0.9, min_support=5)
    assert 0.39 <= absent[0] <= 0.45
    assert absent[1] == -1.0


def test_thresholds_and_probabilities_must_match():
    with pytest.raises(ValueError, match="2 probabilities for 3 thresholds"):
        accepted_labels([0.5, 0.5], THRESHOLDS)


def test_the_figures_count_images_tags_and_exact_sets():
    proba = np.array(
        [
            [0.95, 0.9, 0.1],  # tags 0 and 1; truth 0 and 1: exact
            [0.95, 0.1, 0.1],  # tags 0; truth 0 and 2: one right tag, not exact
            [0.1, 0.85, 0.1],  # tags 1; truth 0: a wrong tag
            [0.6, 0.1, 0.1],  # label 0 likely, under its threshold: people decide
        ]
    )
    truth = np.array([[1, 1, 0], [1, 0, 1], [1, 0, 0], [1, 0, 0]])
    figures = auto_tag_figures(proba, truth, THRESHOLDS)
    assert figures["n"] == 4
    assert figures["auto_accepted"] == 3 and figures["coverage"] == 0.75
    assert figures["tags"] == 4 and figures["precision"] == 0.75
    assert figures["exact_match"] == pytest.approx(1 / 3)
    low, high = figures["precision_ci95"]
    assert low < 0.75 < high


def _separable(n, seed):
    """Three labels, each present half the time; a label's probability is high when present."""
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, 3)) < 0.5).astype(int)
    proba = np.where(truth == 1, rng.uniform(0.7, 0.99, (n, 3)), rng.uniform(0.01, 0.3, (n, 3)))
    return proba, truth


def test_the_rule_on_thresholds_chosen_per_label_keeps_the_target_on_new_images():
    proba_val, truth_val = _separable(400, seed=0)
    chosen = per_class_thresholds(
        proba_val, truth_val, target_precision=0.95, multi_label=True, min_support=5
    )
    proba_test, truth_test = _separable(200, seed=1)
    absent = absence_thresholds(proba_val, truth_val, target_precision=0.95, min_support=5)
    figures = auto_tag_figures(proba_test, truth_test, chosen.values, absent)
    assert figures["coverage"] > 0.9
    assert figures["precision"] >= 0.95 and figures["exact_match"] >= 0.9


def test_a_multi_label_policy_says_what_it_buys_on_the_gold_test_images():
    proba_val, truth_val = _separable(300, seed=2)
    proba_test, truth_test = _separable(80, seed=3)
    heldout = {
        "val": {"proba": proba_val.tolist(), "y": truth_val.tolist()},
        "test": {"proba": proba_test.tolist(), "y": truth_test.tolist()},
    }
    policy = policy_compute(heldout, [11, 12, 13], target=0.95, multi_label=True)
    assert set(policy["thresholds"]) == {"11", "12", "13"}
    assert set(policy["absent_thresholds"]) == {"11", "12", "13"}
    assert all(0.29 <= t < 0.8 for t in policy["absent_thresholds"].values())
    test = policy["test"]
    assert test["n"] == 80 and test["auto_accepted"] >= 70
    assert test["precision"] >= 0.95 and test["tags"] >= test["auto_accepted"]
    assert test["precision_ci95"][0] <= test["precision"] <= test["precision_ci95"][1]
