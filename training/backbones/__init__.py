"""Pluggable ImageNet backbones.

Each backbone is a frozen feature extractor that takes raw RGB pixels (0..255, float32 or
uint8, any square size; it resizes to its own input size) and returns its pooled embedding.
Scaling and resizing live inside the model, so serving takes raw pixels and cannot drift.
"""

from training.backbones.base import (
    BackboneSpec,
    BackboneWeightsMissing,
    available_backbones,
    build_backbone,
    get_spec,
)

__all__ = [
    "BackboneSpec",
    "BackboneWeightsMissing",
    "available_backbones",
    "build_backbone",
    "get_spec",
]
