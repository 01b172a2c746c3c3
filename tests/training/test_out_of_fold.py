"""Out-of-fold probabilities: every image scored by a head that never trained on it."""

import numpy as np
import pytest

from training.pipeline import out_of_fold_proba

pytestmark = pytest.mark.ml


def _blobs(n_per_class, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, dim)) * 4
    y = np.repeat(np.arange(2), n_per_class)
    x = centres[y] + rng.normal(size=(len(y), dim))
    return x.astype("float32"), y


def test_every_image_gets_a_calibrated_out_of_fold_probability():
    x, y = _blobs(30)
    proba, kept = out_of_fold_proba(x, y, n_classes=2, folds=3, max_epochs=30)
    assert kept.tolist() == list(range(60))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert (proba.argmax(axis=1) == y[kept]).mean() >= 0.9


def test_labels_no_model_can_learn_are_not_memorised():
    # Random labels on random points: a head could fit its own training images, but out of
    # fold it can only guess, so its answers are right about half of the time.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 32)).astype("float32")
    y = rng.integers(0, 2, size=120)
    proba, kept = out_of_fold_proba(x, y, n_classes=2, folds=4, max_epochs=40)
    accuracy = (proba.argmax(axis=1) == y[kept]).mean()
    assert 0.3 <= accuracy <= 0.7
