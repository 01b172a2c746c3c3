"""Train a head on stored embeddings with the method's schedule.

The embeddings are computed once by the frozen backbone, so a retrain is only a small dense
layer over an in-memory array: seconds on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from training.heads import LOGITS_LAYER, build_head, build_views_head, logits_model
from training.schedule import MethodSchedule

Progress = Callable[[int, dict], None]

# A small library's first retrain may hold a few hundred images: with a fixed batch of 256
# an epoch would be one optimiser step and the schedule would judge noise. The batch
# shrinks (to no less than 16) so that every epoch takes at least this many steps.
MIN_STEPS_PER_EPOCH = 20


@dataclass
class TrainedModel:
    model: keras.Model  # inputs → probabilities, with the best epoch's weights
    history: dict[str, list[float]]  # per-epoch loss, val_loss, metrics and lr
    epochs_run: int
    best_epoch: int
    decay_epochs: list[int]
    stopped_early: bool

    @property
    def logits_model(self) -> keras.Model:
        return logits_model(self.model)


TrainedHead = TrainedModel  # what train_head returns: the model maps embeddings


def fit_with_schedule(
    model: keras.Model,
    trainable: keras.Model,
    train_ds: tf.data.Dataset,
    val_ds: tf.data.Dataset,
    *,
    learning_rate: float,
    max_epochs: int,
    progress: Progress | None = None,
    schedule_options: dict | None = None,
) -> TrainedModel:
    """Fit the compiled ``trainable`` (logits) under the method's schedule; ``model`` shares
    its weights and is what the caller keeps. ``schedule_options`` go to MethodSchedule
    (a learning-rate floor, a patience)."""
    schedule = MethodSchedule(
        learning_rate=learning_rate, max_epochs=max_epochs, **(schedule_options or {})
    )
    callbacks = [schedule] + ([progress_callback(progress)] if progress else [])
    fit = trainable.fit(
        train_ds,
        validation_data=val_ds,
        epochs=max_epochs,
        callbacks=callbacks,
        shuffle=False,  # the datasets shuffle themselves
        verbose=0,
    )
    if schedule.best_epoch is None:
        raise FloatingPointError("training diverged: the validation loss was never finite")
    return TrainedModel(
        model=model,
        history={key: [float(v) for v in values] for key, values in fit.history.items()},
        epochs_run=len(schedule.steps),
        best_epoch=schedule.best_epoch,
        decay_epochs=schedule.decay_epochs,
        stopped_early=schedule.stopped_early,
    )


def loss_and_metrics(multi_label: bool):
    """The loss on logits and the metrics for a head; shared with fine-tuning."""
    if multi_label:
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
        metrics = [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")]
    else:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    return loss, metrics


def check_targets(y, *, n_classes: int, multi_label: bool, what: str) -> np.ndarray:
    """Targets as the loss wants them: class indices, or a 0/1 float matrix if multi-label."""
    y = np.asarray(y)
    if multi_label:
        if y.ndim != 2 or y.shape[1] != n_classes:
            raise ValueError(f"{what}: multi-label targets must be (n, {n_classes}), got {y.shape}")
        return y.astype(np.float32)
    if y.ndim != 1:
        raise ValueError(f"{what}: targets must be a 1-D array of class indices, got {y.shape}")
    y = y.astype(np.int64)
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise ValueError(
            f"{what}: class indices must be in [0, {n_classes}), got {y.min()}..{y.max()}"
        )
    return y


def progress_callback(progress: Progress) -> keras.callbacks.Callback:
    return keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: progress(epoch, dict(logs or {}))
    )


def _shuffled_batches(
    X: np.ndarray, y: np.ndarray, *, batch_size: int, seed: int, weights: np.ndarray | None = None
):
    # Shuffling row indices and gathering whole batches from one in-memory tensor is several
    # times faster than shuffling tens of thousands of separate 5 KB elements every epoch.
    X_t, y_t = tf.constant(X), tf.constant(y)
    if weights is None:
        gather = lambda idx: (tf.gather(X_t, idx), tf.gather(y_t, idx))  # noqa: E731
    else:
        w_t = tf.constant(weights, dtype=tf.float32)
        gather = lambda idx: (tf.gather(X_t, idx), tf.gather(y_t, idx), tf.gather(w_t, idx))  # noqa: E731
    return (
        tf.data.Dataset.range(len(X))
        .shuffle(len(X), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .map(gather)
        .prefetch(tf.data.AUTOTUNE)
    )


def balanced_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-sample weights that give every class the same total weight (mean weight 1)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    per_class = np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 0.0)
    return per_class[y].astype(np.float32)


def train_head(
    X_train,
    y_train,
    X_val,
    y_val,
    *,
    n_classes: int,
    multi_label: bool = False,
    max_epochs: int = 100,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    dropout: float = 0.2,
    l2: float | None = None,
    seed: int = 0,
    label_smoothing: float = 0.0,
    class_balance: bool = False,
    views: int = 1,
    hidden: int = 0,
    progress: Progress | None = None,
) -> TrainedHead:
    """Train a head from embeddings; y holds class indices (or a 0/1 matrix if multi-label).

    ``batch_size`` is an upper bound: small sets get smaller batches (MIN_STEPS_PER_EPOCH).
    ``progress(epoch, logs)`` is called after every epoch (logs has loss, val_loss,
    accuracy, val_accuracy and lr), for a task to report how far it has got.
    ``label_smoothing`` (single-label only) spreads that share of each target over all
    classes; ``class_balance`` weights each training sample so every class counts the same.
    ``hidden`` > 0: a ReLU layer of that width before the logits (0: a linear head).
    ``views`` > 1: each row holds that many views of one image, one after another (see
    training.backbones.embedding_views); the head trains on every view as an example of its
    own, is validated on their average, and the model it returns takes the whole row and
    averages the views itself, so that every caller predicts the same way.
    """
    X_train = np.asarray(X_train, dtype=np.float32)
    X_val = np.asarray(X_val, dtype=np.float32)
    if X_train.ndim != 2 or X_val.ndim != 2 or X_train.shape[1] != X_val.shape[1]:
        raise ValueError(
            f"embeddings must be (n, dim) alike, got {X_train.shape} and {X_val.shape}"
        )
    if len(X_val) == 0:
        raise ValueError("the validation split is empty: the method's schedule needs one")
    y_train = check_targets(y_train, n_classes=n_classes, multi_label=multi_label, what="y_train")
    y_val = check_targets(y_val, n_classes=n_classes, multi_label=multi_label, what="y_val")
    row_dim = X_train.shape[1]
    if views > 1:
        if row_dim % views:
            raise ValueError(f"embeddings of {row_dim} values cannot hold {views} equal views")
        view_dim = row_dim // views
        # Every view of an image stays beside the others (and on its side of the split).
        X_train = X_train.reshape(len(X_train) * views, view_dim)
        y_train = np.repeat(y_train, views, axis=0)
        X_val = X_val.reshape(len(X_val), views, view_dim).mean(axis=1)

    keras.utils.set_random_seed(seed)
    head_kwargs = {"multi_label": multi_label, "dropout": dropout, "hidden": hidden}
    if l2 is not None:
        head_kwargs["l2"] = l2
    model = build_head(X_train.shape[1], n_classes, **head_kwargs)
    trainable = logits_model(model)
    loss, metrics = loss_and_metrics(multi_label)
    weights = balanced_weights(y_train, n_classes) if class_balance and not multi_label else None
    if label_smoothing and not multi_label:
        # Keras's sparse loss has no smoothing: targets become one-hot rows.
        loss = keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=label_smoothing
        )
        metrics = [keras.metrics.CategoricalAccuracy(name="accuracy")]
        y_train = np.eye(n_classes, dtype=np.float32)[y_train]
        y_val = np.eye(n_classes, dtype=np.float32)[y_val]
    # steps_per_execution runs several small batches per call into the graph: the head
    # itself is cheap, so Python's per-step overhead would otherwise dominate on a CPU.
    # 128 covers a whole epoch at the usual sizes (0.33 → 0.26 s per epoch on 25,000
    # embeddings against 16).
    trainable.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=loss,
        metrics=metrics,
        steps_per_execution=128,
    )
    batch_size = int(np.clip(len(X_train) // MIN_STEPS_PER_EPOCH, 16, batch_size))
    train_ds = _shuffled_batches(
        X_train, y_train, batch_size=batch_size, seed=seed, weights=weights
    )
    val_ds = tf.data.Dataset.from_tensor_slices((X_val, y_val)).batch(4096)

    trained = fit_with_schedule(
        model,
        trainable,
        train_ds,
        val_ds,
        learning_rate=learning_rate,
        max_epochs=max_epochs,
        progress=progress,
    )
    if views > 1:
        whole = build_views_head(views, row_dim // views, n_classes, **head_kwargs)
        for layer in (LOGITS_LAYER, "head_hidden") if hidden else (LOGITS_LAYER,):
            whole.get_layer(layer).set_weights(model.get_layer(layer).get_weights())
        trained.model = whole
    return trained
