import numpy as np
import pytest
from scipy.special import softmax

from training.calibration import (
    NEVER_ACCEPT,
    apply_temperature,
    auto_accept,
    fit_temperature,
    needs_review_margin,
    per_class_thresholds,
)
from training.evaluation import wilson_interval

pytestmark = pytest.mark.ml


def _calibrated(n, n_classes=4, seed=0):
    """Probabilities that are calibrated by construction: labels drawn from them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, n_classes)) * 2.5
    proba = softmax(logits, axis=1)
    y = np.array([rng.choice(n_classes, p=p) for p in proba])
    return logits, proba, y


@pytest.mark.parametrize("true_t", [0.5, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    logits, _, y = _calibrated(4000, seed=1)
    # The model's logits are the calibrated ones sharpened (T > 1) or softened (T < 1).
    observed = logits * true_t
    assert fit_temperature(observed, y) == pytest.approx(true_t, rel=0.1)


def test_fit_temperature_works_for_sigmoid_outputs():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(4000, 3)) * 2
    y = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits))).astype(float)
    assert fit_temperature(logits * 3.0, y, multi_label=True) == pytest.approx(3.0, rel=0.1)


def test_temperature_keeps_the_ranking_and_softens_the_probabilities():
    logits = np.array([[3.0, 1.0, 0.0]])
    sharp, soft = apply_temperature(logits, 1.0), apply_temperature(logits, 2.0)
    assert sharp.argmax() == soft.argmax()
    assert soft.max() < sharp.max()
    np.testing.assert_allclose(soft.sum(), 1.0)


def test_thresholds_reach_the_target_precision_and_hold_on_new_data():
    _, proba_val, y_val = _calibrated(6000, seed=3)
    _, proba_test, y_test = _calibrated(6000, seed=4)
    result = per_class_thresholds(proba_val, y_val, target_precision=0.9, min_support=30)
    assert all(c.reachable for c in result.per_class)
    for c in result.per_class:
        assert c.precision >= 0.9 and c.accepted >= 30
    assert result.precision >= 0.9
    assert 0 < result.coverage < 1
    accepted = auto_accept(proba_test, result.values)
    correct = accepted & (proba_test.argmax(axis=1) == y_test)
    assert correct.sum() / accepted.sum() >= 0.88  # held out: near the target, not above it
    assert accepted.mean() == pytest.approx(result.coverage, abs=0.03)


def test_the_lowest_qualifying_threshold_is_chosen():
    # Class 0 predictions by confidence: 0.95 ✓, 0.9 ✓, 0.8 ✓, 0.7 ✗, 0.6 ✓, 0.55 ✗.
    top1 = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.55])
    proba = np.stack([top1, 1 - top1], axis=1)
    y = np.array([0, 0, 0, 1, 0, 1])
    result = per_class_thresholds(proba, y, target_precision=0.75, min_support=1)
    # Accepting down to 0.6 gives 4/5 = 0.8 ≥ 0.75; down to 0.55 gives 4/6.
    assert result.per_class[0].threshold == pytest.approx(0.6)
    assert result.per_class[0].accepted == 5
    assert result.per_class[0].precision == pytest.approx(0.8)


def test_a_class_that_cannot_reach_the_target_is_never_auto_accepted():
    proba = np.array([[0.9, 0.1]] * 10 + [[0.2, 0.8]] * 10)
    y = np.array([1] * 10 + [1] * 10)  # every class-0 prediction is wrong
    result = per_class_thresholds(proba, y, target_precision=0.9, min_support=5)
    assert result.per_class[0].threshold == NEVER_ACCEPT and not result.per_class[0].reachable
    assert result.per_class[1].reachable
    assert not auto_accept(np.array([[0.999, 0.001]]), result.values)[0]


def test_too_few_held_out_items_never_qualify():
    proba = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 40)
    y = np.array([0] * 4 + [1] * 40)
    result = per_class_thresholds(proba, y, target_precision=0.9, min_support=5)
    assert not result.per_class[0].reachable
    assert result.per_class[1].reachable


def test_a_threshold_never_splits_tied_probabilities():
    proba = np.array([[0.9, 0.1]] * 4 + [[0.8, 0.2]] * 4)
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    # At 0.8 the class gets 6/8; no cut inside the tied 0.8s can claim 6/6 or 5/5.
    result = per_class_thresholds(proba, y, target_precision=0.9, min_support=1)
    assert result.per_class[0].threshold == pytest.approx(0.9)
    assert result.per_class[0].accepted == 4


def test_the_wilson_lower_bound_is_more_cautious():
    _, proba, y = _calibrated(3000, seed=5)
    plain = per_class_thresholds(proba, y, target_precision=0.9, min_support=10)
    cautious = per_class_thresholds(
        proba, y, target_precision=0.9, min_support=10, lower_bound=True
    )
    assert (cautious.values >= plain.values).all()
    assert cautious.coverage < plain.coverage
    for c in cautious.per_class:
        if c.reachable:
            correct = round(c.precision * c.accepted)
            assert wilson_interval(correct, c.accepted)[0] >= 0.9


def test_multi_label_thresholds_are_per_label():
    rng = np.random.default_rng(6)
    proba = rng.random((3000, 2))
    y = (rng.random((3000, 2)) < proba).astype(int)
    result = per_class_thresholds(proba, y, target_precision=0.9, min_support=20, multi_label=True)
    for c in result.per_class:
        # Calibrated sigmoid: the items above t have mean probability (1 + t) / 2 ≥ 0.9.
        assert 0.7 <= c.threshold <= 0.85
    assert result.precision >= 0.9


def test_the_margin_rule_flags_close_top_two():
    proba = np.array([[0.5, 0.45, 0.05], [0.8, 0.1, 0.1], [0.34, 0.33, 0.33]])
    assert needs_review_margin(proba, 0.1).tolist() == [True, False, True]
    assert needs_review_margin(proba, 0.04).tolist() == [False, False, True]


def test_thresholds_serialise_to_a_dict():
    _, proba, y = _calibrated(500, seed=7)
    as_dict = per_class_thresholds(proba, y, target_precision=0.8, min_support=5).as_dict()
    assert set(as_dict) == {"target_precision", "coverage", "precision", "per_class"}
    assert set(as_dict["per_class"][0]) == {
        "threshold",
        "precision",
        "accepted",
        "predicted",
        "reachable",
    }
