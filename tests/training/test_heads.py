import keras
import numpy as np
import pytest

from training.head_training import train_head
from training.heads import build_head, logits_model

pytestmark = pytest.mark.ml


def _blobs(n_per_class, n_classes, dim=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 3
    y = np.repeat(np.arange(n_classes), n_per_class)
    x = centres[y] + rng.normal(size=(len(y), dim))
    order = rng.permutation(len(y))
    return x[order].astype("float32"), y[order]


def test_a_multi_class_head_outputs_a_distribution_and_exposes_its_logits():
    head = build_head(8, 3)
    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    proba = head.predict(x, verbose=0)
    logits = logits_model(head).predict(x, verbose=0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(proba, keras.ops.softmax(logits).numpy(), rtol=1e-5)


def test_a_multi_label_head_outputs_independent_sigmoids():
    head = build_head(8, 4, multi_label=True)
    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    proba = head.predict(x, verbose=0)
    logits = logits_model(head).predict(x, verbose=0)
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-logits)), rtol=1e-5)


def test_the_head_regularises_its_kernel_and_uses_dropout():
    head = build_head(8, 3, dropout=0.3, l2=1e-3)
    assert head.get_layer("logits").kernel_regularizer is not None
    assert head.get_layer("head_dropout").rate == 0.3


def test_a_head_needs_two_classes():
    with pytest.raises(ValueError):
        build_head(8, 1)


def test_train_head_learns_separable_classes_and_reports_each_epoch():
    x, y = _blobs(60, 3)
    seen = []
    trained = train_head(
        x[:150],
        y[:150],
        x[150:],
        y[150:],
        n_classes=3,
        max_epochs=30,
        batch_size=32,
        seed=0,
        progress=lambda epoch, logs: seen.append((epoch, logs)),
    )
    proba = trained.model.predict(x[150:], verbose=0)
    assert (proba.argmax(axis=1) == y[150:]).mean() >= 0.95
    assert [epoch for epoch, _ in seen] == list(range(trained.epochs_run))
    assert {"loss", "val_loss", "accuracy", "val_accuracy", "lr"} <= set(seen[0][1])
    assert trained.history["val_loss"][trained.best_epoch] == min(trained.history["val_loss"])
    assert 1 <= trained.epochs_run <= 30


def test_train_head_keeps_the_best_epochs_weights():
    x, y = _blobs(40, 3, seed=1)
    trained = train_head(x[:90], y[:90], x[90:], y[90:], n_classes=3, max_epochs=20, seed=0)
    logits = trained.logits_model.predict(x[90:], verbose=0)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y[90:], logits)
    # val_loss in the logs includes the L2 penalty; the data term alone is just below it.
    assert float(loss) <= min(trained.history["val_loss"]) + 1e-4


def test_train_head_trains_a_multi_label_head():
    x, y = _blobs(50, 3, seed=2)
    targets = np.stack([y == 0, y != 1], axis=1).astype("float32")  # two overlapping labels
    trained = train_head(
        x[:120], targets[:120], x[120:], targets[120:], n_classes=2, multi_label=True, max_epochs=30
    )
    proba = trained.model.predict(x[120:], verbose=0)
    assert ((proba > 0.5) == (targets[120:] > 0.5)).mean() >= 0.95


def test_train_head_needs_a_validation_split_and_valid_targets():
    x, y = _blobs(10, 2)
    with pytest.raises(ValueError, match="validation"):
        train_head(x, y, x[:0], y[:0], n_classes=2)
    with pytest.raises(ValueError, match="class indices"):
        train_head(x, y + 5, x, y, n_classes=2)


def test_a_run_that_diverges_fails_loudly():
    x, y = _blobs(20, 2)
    x[0, 0] = np.nan  # poisons the weights on the first step
    with pytest.raises(FloatingPointError, match="diverged"):
        train_head(x, y, x, y, n_classes=2, max_epochs=3)


def test_a_head_on_two_views_trains_on_each_and_predicts_from_their_average(tmp_path):
    from training.artifacts import load_artifact, save_artifact

    x, y = _blobs(60, 3)
    rng = np.random.default_rng(1)
    # Each row: a view of the image, then another (the mirror image's, in the product).
    rows = np.concatenate([x, x + rng.normal(scale=0.3, size=x.shape)], axis=1).astype("float32")
    trained = train_head(
        rows[:150], y[:150], rows[150:], y[150:], n_classes=3, max_epochs=20, seed=0, views=2
    )
    assert trained.model.input_shape == (None, 32)
    logits = logits_model(trained.model)
    both = np.asarray(logits(rows[150:]))
    one = build_head(16, 3)
    one.get_layer("logits").set_weights(trained.model.get_layer("logits").get_weights())
    first, second = logits_model(one)(rows[150:, :16]), logits_model(one)(rows[150:, 16:])
    np.testing.assert_allclose(both, (np.asarray(first) + np.asarray(second)) / 2, atol=1e-5)
    assert (both.argmax(axis=1) == y[150:]).mean() >= 0.95
    # It is saved and read back as any head is (the product's artifact).
    path = tmp_path / "v.taxmodel"
    config = {"backbone": "efficientnet_lite0", "embedding": "pooled+grid+flip", "input_size": 32}
    config.update(mode="head", taxonomy_version=1, class_labels=[1, 2, 3])
    save_artifact(path, trained.model, config)
    loaded, _ = load_artifact(path)
    np.testing.assert_allclose(
        loaded.predict(rows[150:], verbose=0), trained.model.predict(rows[150:], verbose=0)
    )
    with pytest.raises(ValueError, match="3 equal views"):
        train_head(rows[:150], y[:150], rows[150:], y[150:], n_classes=3, views=3)


def test_train_head_can_smooth_labels_and_balance_classes():
    from training.head_training import balanced_weights

    y = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(balanced_weights(y, 2), [2 / 3, 2 / 3, 2 / 3, 2])
    x, y = _blobs(60, 3)
    keep = (y != 2) | (np.arange(len(y)) % 4 == 0)  # class 2 is rare
    x, y = x[keep], y[keep]
    trained = train_head(
        x[:100], y[:100], x[100:], y[100:], n_classes=3, max_epochs=20, seed=0,
        label_smoothing=0.1, class_balance=True,
    )  # fmt: skip
    proba = trained.model.predict(x[100:], verbose=0)
    assert (proba.argmax(axis=1) == y[100:]).mean() >= 0.9
    # Smoothed targets keep the confident probabilities off 1.
    assert proba.max() < 0.99


def test_a_head_can_have_a_hidden_layer_also_on_two_views():
    x, y = _blobs(60, 3)
    assert build_head(16, 3, hidden=8).get_layer("head_hidden").units == 8
    rows = np.concatenate([x, x], axis=1)
    trained = train_head(
        rows[:150], y[:150], rows[150:], y[150:], n_classes=3, max_epochs=20, seed=0,
        views=2, hidden=8,
    )  # fmt: skip
    proba = trained.model.predict(rows[150:], verbose=0)
    assert (proba.argmax(axis=1) == y[150:]).mean() >= 0.95
