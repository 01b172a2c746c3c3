"""The multi-label mosaic benchmark's command line, on a tiny class-folder tree built here.

The backbone is the ``tiny_backbone`` configuration on random weights at 32 px: the figures
mean nothing, the mosaics, the interface and the JSON keys are what is under test.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.multilabel import compose, main, mosaic_groups, mosaic_targets

pytestmark = [pytest.mark.ml, pytest.mark.usefixtures("tiny_backbone")]

COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
FAST = ["--from-scratch", "--input-size", "32", "--max-epochs", "2", "--folds", "2"]


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tree") / "train"
    rng = np.random.default_rng(0)
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(30):
            pixels = np.clip(np.array(colour) + rng.normal(0, 20, (20, 20, 3)), 0, 255)
            Image.fromarray(pixels.astype(np.uint8)).save(root / name / f"img{i}.png")
    return root


def test_a_mosaic_carries_the_labels_of_its_four_photos_and_shows_each_in_a_quadrant(tree):
    paths = [tree / "red" / "img0.png", tree / "green" / "img0.png", tree / "red" / "img1.png"]
    paths.append(tree / "blue" / "img0.png")
    labels = np.array([0, 1, 0, 2])
    groups = np.array([[0, 1, 2, 3]])
    np.testing.assert_array_equal(mosaic_targets(groups, labels, 3), [[1, 1, 1]])
    np.testing.assert_array_equal(mosaic_targets(np.array([[0, 2, 0, 2]]), labels, 3), [[1, 0, 0]])
    [mosaic] = compose(paths, groups, 32)
    assert mosaic.shape == (32, 32, 3)
    quadrants = [mosaic[:16, :16], mosaic[:16, 16:], mosaic[16:, :16], mosaic[16:, 16:]]
    brightest = [int(q.reshape(-1, 3).mean(axis=0).argmax()) for q in quadrants]
    assert brightest == [0, 1, 0, 2]  # red, green, red, blue channels


def test_no_photo_is_used_twice_and_too_few_photos_is_a_clear_error():
    groups = mosaic_groups(10, 2, seed=0)
    assert groups.shape == (2, 4) and len(set(groups.ravel())) == 8
    from bench.folders import ProtocolError

    with pytest.raises(ProtocolError, match="3 mosaics need 12 photos, only 10"):
        mosaic_groups(10, 3, seed=0)


def test_it_reports_per_label_figures_exact_match_and_the_baseline_as_json(tree, tmp_path, capsys):
    out = tmp_path / "result.json"
    code = main(
        ["--train", str(tree), "--size", "14", "--test-size", "6", "--seed", "1", *FAST]
        + ["--target", "0.8", "--json", str(out)]
    )
    stdout = capsys.readouterr().out
    assert code == 0
    assert "exact match" in stdout and "one-vs-rest" in stdout
    result = json.loads(out.read_text())
    assert result["n_train"] == 14 and result["n_test"] == 6
    assert result["n_fit"] + result["n_val"] == 14
    assert result["classes"] == ["blue", "green", "red"]
    for side in ("product", "baseline"):
        figures = result[side]
        assert set(figures["per_label"]) == {"blue", "green", "red"}
        assert figures["exact_match"]["n"] == 6
        low, high = figures["exact_match"]["ci95"]
        assert 0 <= low <= high <= 1
    for rule in ("auto_accept", "auto_accept_likely_rule"):
        assert set(result["product"][rule]) >= {"coverage", "precision", "exact_match"}
    assert 1 <= result["labels_per_mosaic"]["test"] <= 3


def test_asking_for_more_mosaics_than_photos_fails_with_a_message(tree, capsys):
    code = main(["--train", str(tree), "--size", "30", "--test-size", "10", *FAST])
    assert code == 2
    assert "lower --size or --test-size" in capsys.readouterr().err
