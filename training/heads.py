"""Classification heads put on top of a backbone's pooled embedding.

A head is Dropout → Dense (named ``logits``) → softmax or sigmoid (named ``probabilities``).
The activation is a layer of its own so that the logits stay reachable: training computes
its loss from them (numerically steadier than from probabilities) and temperature scaling
is fitted on them. ``logits_model`` gives a model that shares the weights and stops there.
"""

from __future__ import annotations

import keras

LOGITS_LAYER = "logits"
PROBABILITIES_LAYER = "probabilities"

# A weak L2 on the kernel: about what scikit-learn's LogisticRegression(C=1) applies per
# sample on a few thousand examples, enough to keep logits of rare classes from running off.
DEFAULT_L2 = 1e-4


def apply_head(
    x,
    n_classes: int,
    *,
    multi_label: bool = False,
    dropout: float = 0.2,
    l2: float = DEFAULT_L2,
    hidden: int = 0,
):
    """Apply the head's layers to tensor ``x``; returns (logits, probabilities).
    ``hidden`` > 0 puts a ReLU layer of that width (with its own dropout) before the logits."""
    if n_classes < 1 or (n_classes < 2 and not multi_label):
        raise ValueError(
            f"a head needs at least 2 classes (1 label if multi-label), got {n_classes}"
        )
    if dropout > 0:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    if hidden > 0:
        x = keras.layers.Dense(
            hidden,
            activation="relu",
            kernel_regularizer=keras.regularizers.L2(l2) if l2 > 0 else None,
            name="head_hidden",
        )(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, name="head_hidden_dropout")(x)
    logits = keras.layers.Dense(
        n_classes,
        # A linear softmax head has a convex loss, so zeros break no symmetry; they start
        # every class at the same probability instead of at large random logits that Adam's
        # small steps would take hundreds of updates to undo.
        kernel_initializer="zeros",
        kernel_regularizer=keras.regularizers.L2(l2) if l2 > 0 else None,
        name=LOGITS_LAYER,
    )(x)
    activation = "sigmoid" if multi_label else "softmax"
    # float32 so that mixed-precision training on GPUs still exports float32 probabilities.
    probabilities = keras.layers.Activation(activation, dtype="float32", name=PROBABILITIES_LAYER)(
        logits
    )
    return logits, probabilities


def build_head(
    embedding_dim: int,
    n_classes: int,
    *,
    multi_label: bool = False,
    dropout: float = 0.2,
    l2: float = DEFAULT_L2,
    hidden: int = 0,
) -> keras.Model:
    """A model embedding (embedding_dim,) → class probabilities (n_classes,)."""
    inputs = keras.Input(shape=(embedding_dim,), name="embedding")
    _, probabilities = apply_head(
        inputs, n_classes, multi_label=multi_label, dropout=dropout, l2=l2, hidden=hidden
    )
    return keras.Model(inputs, probabilities, name="head")


def logits_model(model: keras.Model) -> keras.Model:
    """The same model (shared weights) cut at the logits, for losses and calibration."""
    # model.input, not model.inputs: with the one-element list, every call with an array
    # warns that the structure of the inputs does not match.
    return keras.Model(model.input, model.get_layer(LOGITS_LAYER).output, name="logits_model")


def build_views_head(
    views: int,
    view_dim: int,
    n_classes: int,
    *,
    multi_label: bool = False,
    dropout: float = 0.2,
    l2: float = DEFAULT_L2,
    hidden: int = 0,
) -> keras.Model:
    """A head on a stored vector of ``views`` views of an image (each ``view_dim`` long, one
    after another): the views are averaged, then the head applies. The head is linear, so
    this is the average of its logits over the views: test-time averaging (with a hidden
    layer, the average of the views' embeddings)."""
    inputs = keras.Input(shape=(views * view_dim,), name="embedding")
    x = keras.layers.Reshape((views, view_dim), name="views")(inputs)
    x = keras.layers.GlobalAveragePooling1D(name="view_average")(x)
    _, probabilities = apply_head(
        x, n_classes, multi_label=multi_label, dropout=dropout, l2=l2, hidden=hidden
    )
    return keras.Model(inputs, probabilities, name="head")
