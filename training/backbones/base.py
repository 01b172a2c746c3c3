"""Backbone registry: what each backbone declares and how to build it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class BackboneWeightsMissing(RuntimeError):
    """Raised when pretrained weights are asked for and none can be found.

    Training from scratch silently would cost the method ~37 points of top-1, so a backbone
    without weights fails loudly and says how to provide them.
    """


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    input_size: int  # square side, in pixels, that the network was trained on
    embedding_dim: int  # length of the pooled embedding
    # Name of the first layer that fine-tuning unfreezes (the method: the first Inception
    # module); everything before it is the frozen stem.
    finetune_from: str
    # builder(input_size, weights, from_scratch) -> keras.Model; weights is a path or None
    builder: Callable[..., object]


_REGISTRY: dict[str, BackboneSpec] = {}


def register(spec: BackboneSpec) -> BackboneSpec:
    _REGISTRY[spec.name] = spec
    return spec


def _load_builtin() -> None:
    # Imported lazily so that importing this package never imports TensorFlow.
    from training.backbones import efficientnet_lite, inception_v3  # noqa: F401


def available_backbones() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def get_spec(name: str) -> BackboneSpec:
    _load_builtin()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown backbone {name!r}; known: {known}") from None


def build_backbone(
    name: str,
    *,
    input_size: int | None = None,
    weights: str | Path | None = None,
    from_scratch: bool = False,
):
    """Build the frozen feature extractor ``name`` as a Keras model.

    input_size overrides the backbone's own (tests use tiny inputs); weights names a file of
    ImageNet weights when the default place has none; from_scratch=True builds random
    weights on purpose (tests, comparisons) and is the only way to get them.
    """
    spec = get_spec(name)
    return spec.builder(
        input_size=input_size or spec.input_size, weights=weights, from_scratch=from_scratch
    )
