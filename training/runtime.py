"""Models held by a worker process, loaded once and kept.

TensorFlow is imported here lazily, inside the worker child that first needs it, never in
Celery's parent (a forked TensorFlow runtime is broken). Each prefork child holds its own
copies, so size worker concurrency for memory. The serving model is reloaded only when the
taxonomy's active version changes. Calling a model is ``training.inference.run_model``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from training.artifacts import file_sha256  # no TensorFlow at import
from training.backbones import POOLED  # the registry only: no TensorFlow

_lock = threading.Lock()
_backbones: dict[tuple[str, int, str], object] = {}
_artifacts: dict[int, LoadedModel] = {}


@dataclass
class LoadedModel:
    model_version_id: int
    model: object  # keras.Model
    config: dict


def configure_tensorflow() -> None:
    """Threads sized to the host, set once before the first op."""
    import tensorflow as tf

    threads = int(os.environ.get("TF_NUM_THREADS", "0"))
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def input_size_for(name: str) -> int:
    """The pixel size images are loaded at for backbone ``name`` on this host."""
    from training.backbones import get_spec

    return settings.BACKBONE_INPUT_SIZE or get_spec(name).input_size


def backbone_model(name: str, embedding: str = POOLED):
    """The frozen feature extractor ``name`` with its ``embedding`` output, built (or read
    from its cache) once."""
    from training.backbones import build_backbone

    size = input_size_for(name)
    key = (name, size, embedding)
    with _lock:
        if key not in _backbones:
            configure_tensorflow()
            weights = None
            if name == "inception_v3" and settings.INCEPTION_V3_WEIGHTS:
                weights = settings.INCEPTION_V3_WEIGHTS
            _backbones[key] = build_backbone(
                name, input_size=size, weights=weights, embedding=embedding
            )
        return _backbones[key]


def local_artifact_path(storage_name: str, sha256: str) -> Path:
    """A local copy of an artifact kept in storage (S3 or the media folder), verified
    against the checksum recorded when it was written."""
    cache = Path(settings.MODEL_CACHE_DIR) / "artifacts"
    cache.mkdir(parents=True, exist_ok=True)
    local = cache / f"{sha256}.taxmodel"
    if local.exists() and file_sha256(local) == sha256:
        return local
    partial = local.with_suffix(f".part{os.getpid()}")
    with default_storage.open(storage_name, "rb") as source, open(partial, "wb") as target:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            target.write(chunk)
        target.flush()
        os.fsync(target.fileno())
    os.replace(partial, local)
    return local


def load_model_version(model_version) -> LoadedModel:
    """The artifact of ``model_version``, loaded once per process. Raises ArtifactError
    when the file is incomplete or does not match its recorded checksum."""
    from training.artifacts import load_artifact

    with _lock:
        cached = _artifacts.get(model_version.pk)
        if cached is not None:
            return cached
        configure_tensorflow()
        path = local_artifact_path(model_version.artifact, model_version.artifact_sha256)
        model, config = load_artifact(path, expected_sha256=model_version.artifact_sha256)
        loaded = LoadedModel(model_version.pk, model, config)
        # Keep few versions: the active one, and the one a comparison needs beside it.
        while len(_artifacts) >= 2:
            _artifacts.pop(next(iter(_artifacts)))
        _artifacts[model_version.pk] = loaded
        return loaded


def forget_models() -> None:
    with _lock:
        _backbones.clear()
        _artifacts.clear()
