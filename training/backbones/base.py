"""Backbone registry: what each backbone declares and how to build it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

# What a backbone's embedding of an image holds.
# - POOLED: the global average of its last feature map: *what* is in the picture.
# - POOLED_GRID: that, followed by a 3×3 area-pooled map of its last stride-32 stage: *where*
#   as well. For aligned crops (faces, products on a plain ground) the layout is much of the
#   signal: smile vs not-smile is the shape of one region of a face.
# - POOLED_GRID_FLIP: the POOLED_GRID embedding of the image followed by that of its mirror
#   image: two views, stored once. A head trains on each view as an example of its own
#   (augmentation) and predicts from their average (test-time averaging).
POOLED = "pooled"
POOLED_GRID = "pooled+grid"
POOLED_GRID_FLIP = "pooled+grid+flip"
MIRROR_SUFFIX = "+flip"


def embedding_views(embedding: str) -> int:
    """How many views of an image a stored vector of this kind holds, one after another
    (equal lengths): 2 for a kind that embeds the mirror image too, else 1."""
    return 2 if embedding.endswith(MIRROR_SUFFIX) else 1


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
    # builder(input_size, weights, from_scratch, embedding) -> keras.Model; weights is a
    # path or None, embedding one of embedding_dims
    builder: Callable[..., object]
    # Embedding kinds this backbone can produce, with their lengths; the pooled one always.
    extra_embedding_dims: Mapping[str, int] = field(default_factory=dict)
    # The kind heads are trained on unless a run says otherwise.
    default_embedding: str = POOLED
    # () -> None when this host has the pretrained weights, else one line on how to add them
    # (pages offer only backbones that can train). None: the weights always ship.
    weights_hint: Callable[[], str | None] | None = None

    def missing_weights(self) -> str | None:
        return self.weights_hint() if self.weights_hint is not None else None

    @property
    def embedding_dims(self) -> dict[str, int]:
        return {POOLED: self.embedding_dim, **self.extra_embedding_dims}

    def embedding_length(self, embedding: str) -> int:
        try:
            return self.embedding_dims[embedding]
        except KeyError:
            known = ", ".join(self.embedding_dims)
            raise ValueError(
                f"{self.name} has no {embedding!r} embedding; it has: {known}"
            ) from None


def embedding_key(backbone: str, embedding: str = POOLED) -> str:
    """How stored embeddings are keyed: one row per (image, key), so that vectors of two
    kinds are never mixed. The pooled kind keeps the bare backbone name."""
    return backbone if embedding == POOLED else f"{backbone}/{embedding}"


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
    embedding: str = POOLED,
):
    """Build the frozen feature extractor ``name`` as a Keras model.

    input_size overrides the backbone's own (tests use tiny inputs); weights names a file of
    ImageNet weights when the default place has none; from_scratch=True builds random
    weights on purpose (tests, comparisons) and is the only way to get them; embedding picks
    what the model outputs (POOLED, or another of the spec's embedding_dims).
    """
    spec = get_spec(name)
    spec.embedding_length(embedding)  # an unknown kind fails here, before TensorFlow
    return spec.builder(
        input_size=input_size or spec.input_size,
        weights=weights,
        from_scratch=from_scratch,
        embedding=embedding,
    )
