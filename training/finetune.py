"""The method's full fine-tuning: backbone and head trained together on pixels.

Done as the keras-io EfficientNet fine-tuning example does it, in two phases:

1. the head first, on the frozen backbone: the pooled embeddings of the training and
   validation images are computed once and the product's own head trainer
   (``training.head_training.train_head``) fits the head on them, in seconds;
2. then the backbone is unfrozen from a layer named by the backbone (``finetune_from``: the
   first Inception module for Inception-v3, the method's cut; or any block name the caller
   gives) and trained with that head at a low rate, so that the first steps refine
   features instead of tearing them apart to fit a head of zeros.

Everything before the cut stays frozen, and every BatchNormalization layer stays frozen in
inference mode: with the small batches a GPU can hold at full resolution, re-estimating
their statistics would wreck the pretrained features. Augmentation (random flip,
brightness) happens in the second phase's training pipeline only, so the exported model
takes raw pixels and applies nothing random. Both phases follow the method's schedule
(training.schedule); the second adds a learning-rate floor and a patience, because its
epochs cost minutes and a run should stop when it stops improving.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from training.backbones import build_backbone, get_spec
from training.head_training import (
    Progress,
    TrainedModel,
    check_targets,
    fit_with_schedule,
    loss_and_metrics,
)
from training.heads import LOGITS_LAYER, apply_head, logits_model

Loader = Callable[[str], np.ndarray]  # path → uint8 (height, width, 3)

BRIGHTNESS_DELTA = 0.1 * 255  # pixels are 0..255 until the backbone scales them

# The second phase's rate: a tenth of a head's (training.head_training), since it moves
# pretrained features. It may decay twice (the method's ×10) before it reaches the floor.
LEARNING_RATE = 1e-4
MIN_LEARNING_RATE = 1e-6
# Epochs without a new best validation loss after which the second phase stops.
PATIENCE = 3


# --- freezing -----------------------------------------------------------------------------


def _is_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def leaf_layers(layer) -> list:
    """Every non-model layer inside ``layer``, nested models opened, in order."""
    if not _is_model(layer):
        return [layer]
    return [leaf for child in layer.layers for leaf in leaf_layers(child)]


def _path_to(model, name: str) -> list | None:
    """Models from ``model`` down to the one whose own layers include ``name``."""
    if any(layer.name == name for layer in model.layers):
        return [model]
    for layer in model.layers:
        if _is_model(layer):
            below = _path_to(layer, name)
            if below is not None:
                return [model, *below]
    return None


def _parents(layer, members: set[int]) -> list:
    # Only edges inside the model being walked: a layer reused elsewhere has other nodes.
    found = []
    for node in layer._inbound_nodes:
        for parent in node.parent_nodes:
            op = parent.operation
            if id(op) in members and op not in found:
                found.append(op)
    return found


def _ancestors(layer, members: set[int]) -> list:
    seen: dict[int, object] = {}
    stack = _parents(layer, members)
    while stack:
        current = stack.pop()
        if id(current) not in seen:
            seen[id(current)] = current
            stack.extend(_parents(current, members))
    return list(seen.values())


def _stem_in(model, target) -> list:
    """Layers of ``model`` that form the stem below ``target``.

    When ``target`` merges several branches (Inception's ``mixed0`` concatenates the four
    branches of the first module), the module starts where the branches split: its input
    and everything before it are the stem, the branches themselves are trained. Otherwise
    the stem is everything that feeds ``target``.
    """
    members = {id(layer) for layer in model.layers}
    parents = _parents(target, members)
    if len(parents) < 2:
        return _ancestors(target, members)
    lineages = [{id(p), *(id(a) for a in _ancestors(p, members))} for p in parents]
    shared = set.intersection(*lineages)
    if not shared:
        return _ancestors(target, members)
    order = {id(layer): i for i, layer in enumerate(model.layers)}
    # The shared ancestor latest in the (topologically sorted) layer list is the split point.
    split = max(
        (layer for layer in model.layers if id(layer) in shared), key=lambda x: order[id(x)]
    )
    return [split, *_ancestors(split, members)]


def freeze_for_finetuning(backbone: keras.Model, finetune_from: str) -> list:
    """Make ``backbone`` trainable from ``finetune_from`` on; returns the frozen leaf layers.

    Found by layer name, never by index, so a change of Keras version cannot silently move
    the cut. BatchNormalization layers are frozen everywhere.
    """
    path = _path_to(backbone, finetune_from)
    if path is None:
        raise ValueError(f"the backbone has no layer named {finetune_from!r} to fine-tune from")
    backbone.trainable = True
    frozen = []
    # Inner level: the stem below the target. Outer levels: whatever feeds the nested model
    # that holds the target (preprocessing, typically).
    frozen.extend(_stem_in(path[-1], path[-1].get_layer(finetune_from)))
    for outer, inner in zip(path[:-1], path[1:], strict=True):
        frozen.extend(_ancestors(inner, {id(layer) for layer in outer.layers}))
    frozen_leaves = [leaf for layer in frozen for leaf in leaf_layers(layer)]
    for leaf in frozen_leaves:
        leaf.trainable = False
    for leaf in leaf_layers(backbone):
        if isinstance(leaf, keras.layers.BatchNormalization):
            leaf.trainable = False
    return frozen_leaves


def build_finetune_model(
    backbone: str,
    n_classes: int,
    *,
    multi_label: bool = False,
    input_size: int | None = None,
    weights: str | Path | None = None,
    from_scratch: bool = False,
    dropout: float = 0.2,
    l2: float | None = None,
    unfreeze_from: str | None = None,
) -> keras.Model:
    """Raw pixels (0..255, any size) → probabilities; everything before the layer named
    ``unfreeze_from`` (default: the backbone's ``finetune_from``) and all BatchNorm frozen."""
    spec = get_spec(backbone)
    base = build_backbone(
        backbone, input_size=input_size, weights=weights, from_scratch=from_scratch
    )
    freeze_for_finetuning(base, unfreeze_from or spec.finetune_from)
    inputs = keras.Input(shape=(None, None, 3), name="image")
    # training=False keeps BatchNorm (and any dropout inside the backbone) in inference
    # mode even while fit() trains the layers around them.
    embedding = base(inputs, training=False)
    head_kwargs = {"multi_label": multi_label, "dropout": dropout}
    if l2 is not None:
        head_kwargs["l2"] = l2
    _, probabilities = apply_head(embedding, n_classes, **head_kwargs)
    return keras.Model(inputs, probabilities, name=f"{backbone}_finetuned")


# --- data ---------------------------------------------------------------------------------


def _augment(images, seed):
    """Random horizontal flip and brightness shift per image of a float 0..255 batch."""
    flip_seed, brightness_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    images = tf.image.stateless_random_flip_left_right(images, seed=flip_seed)
    batch = tf.shape(images)[0]
    delta = tf.random.stateless_uniform(
        [batch, 1, 1, 1], seed=brightness_seed, minval=-BRIGHTNESS_DELTA, maxval=BRIGHTNESS_DELTA
    )
    return tf.clip_by_value(images + delta, 0.0, 255.0)


def make_dataset(
    images,
    targets: np.ndarray,
    *,
    batch_size: int,
    image_size: int,
    loader: Loader | None = None,
    shuffle: bool = False,
    augment: bool = False,
    seed: int = 0,
) -> tf.data.Dataset:
    """Batches of (float32 pixels 0..255, targets).

    ``images`` is a uint8 array (n, height, width, 3), or, with ``loader``, a sequence of
    paths that loader(path) turns into uint8 arrays, resized here to ``image_size``. Arrays
    are gathered a batch at a time rather than baked into the graph: a few thousand
    full-size images would pass TensorFlow's 2 GB graph limit.
    """
    n = len(images)
    order = tf.data.Dataset.range(n)
    if shuffle:
        order = order.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    targets = np.asarray(targets)
    target_shape = [None, *targets.shape[1:]]
    target_dtype = tf.as_dtype(targets.dtype)

    if loader is None:
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3:
            raise ValueError(f"images must be (n, height, width, 3), got {images.shape}")
        pixel_shape = [None, *images.shape[1:]]

        def gather(idx):
            x, y = tf.numpy_function(
                lambda i: (images[i], targets[i]), [idx], [tf.as_dtype(images.dtype), target_dtype]
            )
            x.set_shape(pixel_shape)
            y.set_shape(target_shape)
            return tf.cast(x, tf.float32), y

        ds = order.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        paths = [str(p) for p in images]

        def load(i):
            return np.asarray(loader(paths[int(i)]), dtype=np.uint8), targets[int(i)]

        def load_one(idx):
            x, y = tf.numpy_function(load, [idx], [tf.uint8, target_dtype])
            x.set_shape([None, None, 3])
            y.set_shape(target_shape[1:])
            x = tf.image.resize(tf.cast(x, tf.float32), [image_size, image_size])
            return tf.clip_by_value(x, 0.0, 255.0), y

        ds = order.map(load_one, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)

    if augment:
        ds = tf.data.Dataset.zip(ds, tf.data.Dataset.counter()).map(
            lambda batch, i: (_augment(batch[0], tf.stack([tf.cast(seed, tf.int64), i])), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


# --- training -----------------------------------------------------------------------------


def _strategy() -> tf.distribute.Strategy:
    # One replica per GPU when there are several; the default strategy otherwise.
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


@dataclass
class FinetunedModel(TrainedModel):
    """A fine-tuned model; epochs_run and the rest describe the second phase, ``head`` the
    first (None when the head was not trained first)."""

    head: TrainedModel | None = None

    @property
    def total_epochs(self) -> int:
        return self.epochs_run + (self.head.epochs_run if self.head else 0)


def backbone_of(model: keras.Model) -> keras.Model:
    """The backbone inside a model build_finetune_model made."""
    inner = [layer for layer in model.layers if _is_model(layer)]
    if len(inner) != 1:
        raise ValueError(f"expected one backbone inside {model.name}, found {len(inner)}")
    return inner[0]


def embed_with(base: keras.Model, images, *, batch_size: int, image_size: int, loader=None):
    """Pooled embeddings of ``images`` (arrays, or paths with ``loader``) by ``base`` in
    inference mode: what the head trains on in the first phase."""
    dummy = np.zeros(len(images), dtype=np.int64)
    ds = make_dataset(images, dummy, batch_size=batch_size, image_size=image_size, loader=loader)
    call = tf.function(lambda x: base(x, training=False), reduce_retracing=True)
    parts = [np.asarray(call(x)) for x, _ in ds]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)


def start_from_head(model: keras.Model, head: keras.Model) -> None:
    """Put a head trained on the backbone's embeddings on top of ``model``'s backbone."""
    model.get_layer(LOGITS_LAYER).set_weights(head.get_layer(LOGITS_LAYER).get_weights())


def finetune(
    *,
    backbone: str,
    X_train: np.ndarray | Sequence[str],
    y_train,
    X_val: np.ndarray | Sequence[str],
    y_val,
    n_classes: int,
    multi_label: bool = False,
    input_size: int | None = None,
    weights: str | Path | None = None,
    from_scratch: bool = False,
    loader: Loader | None = None,
    max_epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = LEARNING_RATE,
    min_learning_rate: float = MIN_LEARNING_RATE,
    patience: int | None = PATIENCE,
    dropout: float = 0.2,
    augment: bool = True,
    head_first: bool = True,
    head_max_epochs: int | None = None,
    unfreeze_from: str | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> FinetunedModel:
    """Fine-tune ``backbone`` with a new head; returns a model raw pixels → probabilities.

    X_* are uint8 images (n, height, width, 3), or paths when ``loader`` is given. y holds
    class indices (a 0/1 matrix if multi-label). ``batch_size`` is per GPU. With
    ``head_first`` the head is trained on the frozen backbone's embeddings first (up to
    ``head_max_epochs``, the head trainer's own cap by default) and the whole model then
    starts from it; ``max_epochs``, ``learning_rate`` (Adam's), its floor and ``patience``
    are the second phase's. ``progress(epoch, logs)`` counts the epochs of both phases.
    """
    if len(X_val) == 0:
        raise ValueError("the validation split is empty: the method's schedule needs one")
    y_train = check_targets(y_train, n_classes=n_classes, multi_label=multi_label, what="y_train")
    y_val = check_targets(y_val, n_classes=n_classes, multi_label=multi_label, what="y_val")
    image_size = input_size or get_spec(backbone).input_size

    keras.utils.set_random_seed(seed)
    strategy = _strategy()
    global_batch = batch_size * strategy.num_replicas_in_sync
    with strategy.scope():
        model = build_finetune_model(
            backbone,
            n_classes,
            multi_label=multi_label,
            input_size=input_size,
            weights=weights,
            from_scratch=from_scratch,
            dropout=dropout,
            unfreeze_from=unfreeze_from,
        )
    common = {"batch_size": global_batch, "image_size": image_size, "loader": loader}

    head = None
    if head_first:
        from training.head_training import train_head

        base = backbone_of(model)
        head = train_head(
            embed_with(base, X_train, **common),
            y_train,
            embed_with(base, X_val, **common),
            y_val,
            n_classes=n_classes,
            multi_label=multi_label,
            dropout=dropout,
            seed=seed,
            progress=progress,
            **({} if head_max_epochs is None else {"max_epochs": head_max_epochs}),
        )
        start_from_head(model, head.model)
    offset = head.epochs_run if head else 0

    with strategy.scope():
        trainable = logits_model(model)
        loss, metrics = loss_and_metrics(multi_label)
        trainable.compile(
            optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics
        )
    train_ds = make_dataset(X_train, y_train, shuffle=True, augment=augment, seed=seed, **common)
    val_ds = make_dataset(X_val, y_val, **common)
    tuned = fit_with_schedule(
        model,
        trainable,
        train_ds,
        val_ds,
        learning_rate=learning_rate,
        max_epochs=max_epochs,
        progress=(lambda epoch, logs: progress(offset + epoch, logs)) if progress else None,
        schedule_options={"min_learning_rate": min_learning_rate, "patience": patience},
    )
    return FinetunedModel(**tuned.__dict__, head=head)
