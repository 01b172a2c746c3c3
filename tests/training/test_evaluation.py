import json

import numpy as np
import pytest

from training.evaluation import evaluate, expected_calibration_error, wilson_interval

pytestmark = pytest.mark.ml


def test_wilson_interval_matches_known_values():
    # 8 of 10: the textbook Wilson 95 % interval (also scipy's binomtest(...).proportion_ci).
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4901625, abs=1e-6)
    assert high == pytest.approx(0.9433178, abs=1e-6)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775328, abs=1e-6)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_ece_is_zero_when_confidence_matches_accuracy_and_the_gap_otherwise():
    assert expected_calibration_error([0.5, 0.5, 1.0, 1.0], [1, 0, 1, 1]) == pytest.approx(0.0)
    assert expected_calibration_error([0.9] * 10, [1] * 5 + [0] * 5) == pytest.approx(0.4)
    # Two bins of different support are weighted by it.
    ece = expected_calibration_error([0.9] * 4 + [0.3] * 2, [1, 1, 1, 1, 0, 0])
    assert ece == pytest.approx((4 * 0.1 + 2 * 0.3) / 6)


def _example():
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    proba = np.array(
        [
            [0.7, 0.1, 0.1, 0.1],  # 0 → 0
            [0.2, 0.5, 0.2, 0.1],  # 0 → 1, true class second
            [0.1, 0.8, 0.05, 0.05],  # 1 → 1
            [0.1, 0.2, 0.3, 0.4],  # 1 → 3, true class third
            [0.1, 0.1, 0.7, 0.1],  # 2 → 2
            [0.1, 0.1, 0.6, 0.2],  # 2 → 2
            [0.4, 0.3, 0.2, 0.1],  # 3 → 0, true class last
            [0.1, 0.1, 0.1, 0.7],  # 3 → 3
        ],
        dtype=np.float32,
    )
    return y, proba


def test_evaluate_reports_accuracies_with_intervals_and_per_class_figures():
    y, proba = _example()
    result = evaluate(y, proba, class_names=["a", "b", "c", "d"])
    assert result["n"] == 8
    assert result["top1_accuracy"]["value"] == pytest.approx(5 / 8)
    assert (
        result["top1_accuracy"]["ci95_low"],
        result["top1_accuracy"]["ci95_high"],
    ) == pytest.approx(wilson_interval(5, 8))
    assert result["top3_accuracy"]["value"] == pytest.approx(7 / 8)
    per_class = {row["class"]: row for row in result["per_class"]}
    assert per_class["c"]["precision"] == 1.0 and per_class["c"]["recall"] == 1.0
    assert per_class["a"]["precision"] == 0.5 and per_class["a"]["support"] == 2
    assert result["confusion_matrix"][0] == [1, 1, 0, 0]
    assert result["confusion_matrix"][3] == [1, 0, 0, 1]
    expected_nll = -np.mean(np.log(proba[np.arange(8), y].astype(np.float64)))
    assert result["log_loss"] == pytest.approx(expected_nll, rel=1e-5)
    assert 0 <= result["ece"] <= 1


def test_evaluate_is_strict_json():
    y, proba = _example()
    json.dumps(evaluate(y, proba), allow_nan=False)
    y_multi = np.array([[1, 0], [0, 1], [1, 1]])
    json.dumps(
        evaluate(y_multi, np.array([[0.9, 0.2], [0.3, 0.6], [0.8, 0.4]]), multi_label=True),
        allow_nan=False,
    )


def test_log_loss_counts_classes_missing_from_the_test_split():
    # Class 2 never occurs in y_true; labels= keeps the three columns meaningful.
    proba = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1]])
    result = evaluate([0, 1], proba)
    assert result["log_loss"] == pytest.approx(-(np.log(0.8) + np.log(0.7)) / 2)
    assert result["per_class"][2]["support"] == 0


def test_top3_on_two_classes_is_top2():
    result = evaluate([0, 1], np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert result["top3_accuracy"]["k"] == 2 and result["top3_accuracy"]["value"] == 1.0


def test_multi_label_evaluation_reports_micro_and_macro_f1_and_per_label_figures():
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 1]])
    proba = np.array([[0.9, 0.1, 0.8], [0.2, 0.7, 0.6], [0.6, 0.3, 0.1], [0.1, 0.2, 0.9]])
    result = evaluate(y, proba, class_names=["x", "y", "z"], multi_label=True)
    # Predicted: [1,0,1], [0,1,1], [1,0,0], [0,0,1]: tp=5, fp=1, fn=1.
    assert result["micro_precision"] == pytest.approx(5 / 6)
    assert result["micro_recall"] == pytest.approx(5 / 6)
    assert result["subset_accuracy"]["value"] == pytest.approx(2 / 4)
    per_label = {row["class"]: row for row in result["per_label"]}
    assert per_label["y"]["recall"] == 0.5 and per_label["y"]["precision"] == 1.0
    assert per_label["z"]["precision"] == pytest.approx(2 / 3)
    assert result["macro_f1"] == pytest.approx(np.mean([1.0, 2 / 3, 0.8]))


def test_evaluate_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        evaluate([0, 1, 1], np.array([[0.5, 0.5], [0.5, 0.5]]))
    with pytest.raises(ValueError):
        evaluate([0], np.array([[0.5, 0.5]]), class_names=["only one", "two", "three"])
