"""The accuracy study's pieces on a tiny class-folder tree: stored views, the embedding
cache keyed by file content, and a cross-validated candidate (the tiny backbone, 32 px)."""

import shutil

import numpy as np
import pytest

from bench.accuracy_cv import Candidate, TrainingDraw, cross_validate
from bench.embedding_cache import EmbeddingCache, file_key, view_of
from tests.bench.test_protocol import _make_tree

pytestmark = [pytest.mark.ml, pytest.mark.usefixtures("tiny_backbone")]


def test_views_are_the_mirror_image_and_crops_of_the_same_size():
    pixels = np.random.default_rng(0).integers(0, 256, (2, 20, 20, 3), dtype=np.uint8)
    np.testing.assert_array_equal(view_of(pixels, "flip"), pixels[:, :, ::-1])
    assert view_of(pixels, "orig") is pixels
    for view in ("zoom", "shift_tl", "shift_br"):
        assert view_of(pixels, view).shape == pixels.shape
    with pytest.raises(ValueError, match="unknown view"):
        EmbeddingCache("efficientnet_lite0", "pooled+grid", "tilt", 32)


def test_the_cache_knows_an_image_by_its_content_and_embeds_it_once(tmp_path):
    root = _make_tree(tmp_path / "tree", per_class=2)
    paths = sorted(root.rglob("*.*"))
    cache = EmbeddingCache("efficientnet_lite0", "pooled+grid", "orig", 32, root=tmp_path / "c")
    first = cache.get(paths)
    assert first.shape == (len(paths), 3008) and cache.embedded == len(paths)
    copy = tmp_path / "renamed.png"
    shutil.copy(paths[1], copy)
    again = EmbeddingCache("efficientnet_lite0", "pooled+grid", "orig", 32, root=tmp_path / "c")
    np.testing.assert_allclose(again.get([copy]), first[1:2])
    assert again.embedded == len(paths)  # read back from disk, nothing embedded anew


def test_a_candidate_is_scored_by_cross_validation_on_the_training_draw(tmp_path, monkeypatch):
    import bench.accuracy_cv as study
    import bench.embedding_cache as cache_module

    monkeypatch.setitem(study.INPUT_SIZES, "efficientnet_lite0", 32)
    monkeypatch.setattr(cache_module, "CACHE", tmp_path / "cache")
    root = _make_tree(tmp_path / "tree", per_class=10)
    paths = sorted(root.rglob("*.*"))
    y = np.array([["blue", "green", "red"].index(p.parent.name) for p in paths])
    draw = TrainingDraw(paths, [file_key(p) for p in paths], y, 3)
    candidate = Candidate(
        "tiny, +flip", train_views=("orig", "flip"), test_views=("orig", "flip"),
        head=(("max_epochs", 3),),
    )  # fmt: skip
    row = cross_validate(draw, candidate, folds=3, seed=0)
    assert 0.0 <= row["cv_accuracy"] <= 1.0 and len(row["epochs"]) == 3
    assert row["dim"] == 3008
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2  # orig and flip, kept
