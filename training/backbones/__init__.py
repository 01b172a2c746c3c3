"""Pluggable ImageNet backbones.

Each backbone is a frozen feature extractor that takes raw RGB pixels (0..255, float32 or
uint8, any square size; it resizes to its own input size) and returns its embedding (the pooled
features, and for some kinds a coarse grid of them too).
Scaling and resizing live inside the model, so serving takes raw pixels and cannot drift.
"""

from training.backbones.base import (
    POOLED,
    POOLED_GRID,
    POOLED_GRID_FLIP,
    BackboneSpec,
    BackboneWeightsMissing,
    available_backbones,
    build_backbone,
    embedding_key,
    embedding_views,
    get_spec,
)

__all__ = [
    "POOLED",
    "POOLED_GRID",
    "POOLED_GRID_FLIP",
    "BackboneSpec",
    "BackboneWeightsMissing",
    "available_backbones",
    "build_backbone",
    "embedding_key",
    "embedding_views",
    "get_spec",
]
