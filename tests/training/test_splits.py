import numpy as np
import pytest

from training.splits import split_indices, split_indices_multilabel

pytestmark = pytest.mark.ml


def _all(split):
    return np.concatenate([split.train, split.val, split.test])


def test_it_splits_each_class_70_10_20():
    labels = np.repeat([0, 1, 2], 100)
    split = split_indices(labels, seed=1)
    for c in range(3):
        assert (labels[split.train] == c).sum() == 70
        assert (labels[split.val] == c).sum() == 10
        assert (labels[split.test] == c).sum() == 20


def test_the_splits_are_disjoint_and_cover_every_row():
    labels = np.random.default_rng(0).integers(0, 7, 503)
    split = split_indices(labels, seed=0)
    everything = _all(split)
    assert len(everything) == len(labels)
    assert sorted(everything.tolist()) == list(range(len(labels)))


def test_it_keeps_the_class_mix_in_every_split():
    labels = np.array([0] * 900 + [1] * 100)
    split = split_indices(labels, seed=0)
    for part in (split.train, split.val, split.test):
        assert (labels[part] == 1).mean() == pytest.approx(0.1, abs=0.01)


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    labels = np.random.default_rng(0).integers(0, 4, 200)
    a, b = split_indices(labels, seed=3), split_indices(labels, seed=3)
    c = split_indices(labels, seed=4)
    for part in ("train", "val", "test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    assert not np.array_equal(a.test, c.test)


@pytest.mark.parametrize(
    ("size", "expected"),
    [(1, (1, 0, 0)), (2, (2, 0, 0)), (3, (2, 0, 1)), (4, (3, 0, 1)), (5, (3, 1, 1))],
)
def test_tiny_classes_go_to_train_first(size, expected):
    labels = np.array(["big"] * 50 + ["tiny"] * size)
    split = split_indices(labels, seed=0)
    counts = tuple(
        int((labels[part] == "tiny").sum()) for part in (split.train, split.val, split.test)
    )
    assert counts == expected


def test_it_accepts_string_labels_and_returns_integer_indices():
    split = split_indices(["cat", "dog"] * 20, seed=0)
    assert split.train.dtype == np.int64
    assert len(_all(split)) == 40


def test_an_empty_label_list_gives_empty_splits():
    split = split_indices(np.array([], dtype=np.int64))
    assert len(split.train) == len(split.val) == len(split.test) == 0


def test_a_test_fraction_of_zero_leaves_test_empty():
    split = split_indices(np.repeat([0, 1], 40), fractions=(0.875, 0.125, 0.0))
    assert len(split.test) == 0
    assert len(split.val) == 10


def test_it_rejects_fractions_that_do_not_sum_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        split_indices([0, 1], fractions=(0.7, 0.2, 0.2))


def test_multi_label_split_spreads_a_rare_label_over_the_splits():
    rng = np.random.default_rng(0)
    matrix = np.zeros((200, 3), dtype=int)
    matrix[:, 0] = 1  # on every row
    matrix[:, 1] = rng.random(200) < 0.5
    rare = rng.choice(200, 20, replace=False)
    matrix[rare, 2] = 1
    matrix[:5] = 0  # rows without any label
    split = split_indices_multilabel(matrix, seed=0)
    assert sorted(_all(split).tolist()) == list(range(200))
    rare_rows = set(np.flatnonzero(matrix[:, 2]))
    assert len(rare_rows & set(split.test.tolist())) >= 3
    assert len(rare_rows & set(split.val.tolist())) >= 1
