"""A model version as one immutable file.

The artifact is a zip holding ``model.keras`` (the Keras model, preprocessing included) and
``config.json`` (what it takes to use and judge it: backbone, input size, mode, taxonomy
version, class index → label id, metrics, temperature, thresholds…) plus the sha256 of the
model's bytes. One file means a version can be moved, copied to object storage and pointed
at as a unit; it is never edited after it is written, so activating and rolling back a
version is a pointer switch elsewhere.

Writes are atomic: the zip is built in a hidden temporary file in the destination folder,
flushed to disk and renamed over the final name, so a reader sees either nothing or the
whole file. A temporary file left by a crash never carries the artifact suffix, so
``list_artifacts`` never picks it up, and a file cut short fails ``load_artifact`` loudly.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

FORMAT_VERSION = 1
SUFFIX = ".taxmodel"
MODEL_ENTRY = "model.keras"
CONFIG_ENTRY = "config.json"
MODES = ("head", "finetune")
# class_labels: the label id of each class index, in index order.
REQUIRED_KEYS = ("backbone", "input_size", "mode", "taxonomy_version", "class_labels")


class ArtifactError(Exception):
    """The file is not a complete, untampered model artifact."""


def _check_config(config: dict) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in config]
    if missing:
        raise ValueError(f"artifact config lacks {', '.join(missing)}")
    if config["mode"] not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {config['mode']!r}")
    if not isinstance(config["class_labels"], list | tuple) or not config["class_labels"]:
        raise ValueError("class_labels must be a non-empty list: position = class index")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stream_sha256(handle) -> str:
    """The sha256 of what is left to read in a binary file object, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path) -> str:
    with open(path, "rb") as handle:
        return stream_sha256(handle)


def _model_bytes(model) -> bytes:  # model: keras.Model
    # Keras insists on a ".keras" file name, so it writes to a private temporary folder.
    with tempfile.TemporaryDirectory(prefix="artifact-") as folder:
        target = Path(folder) / MODEL_ENTRY
        model.save(target)
        return target.read_bytes()


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform can open a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_artifact(path, model, config: dict) -> str:
    """Write ``model`` and ``config`` as one artifact at ``path``; returns the sha256 of the
    file, to record beside the pointer to it.

    Refuses to overwrite: an artifact is immutable, and a new version gets a new name.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"artifact {path} already exists; artifacts are never overwritten")
    _check_config(config)
    model_bytes = _model_bytes(model)
    full_config = {
        **config,
        "format_version": FORMAT_VERSION,
        "model_sha256": _sha256(model_bytes),
    }
    # allow_nan=False: strict JSON, so that every reader (and a JSON database column) takes it.
    config_bytes = json.dumps(full_config, indent=2, sort_keys=True, allow_nan=False).encode()

    buffer = io.BytesIO()
    # The .keras file is already compressed; storing it avoids a pointless second pass.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(CONFIG_ENTRY, config_bytes)
        archive.writestr(MODEL_ENTRY, model_bytes)
    data = buffer.getvalue()

    path.parent.mkdir(parents=True, exist_ok=True)
    # Same folder as the target so that the rename stays on one filesystem (atomic); the
    # leading dot and the .tmp ending keep a crash's leftover out of list_artifacts.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return _sha256(data)


def read_artifact_config(path, *, expected_sha256: str | None = None) -> tuple[dict, bytes]:
    """The verified config and model bytes of an artifact, without loading the model."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ArtifactError(f"cannot read artifact {path}: {error}") from error
    if expected_sha256 is not None and _sha256(data) != expected_sha256:
        raise ArtifactError(f"artifact {path} does not match its recorded sha256")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if names != {CONFIG_ENTRY, MODEL_ENTRY}:
                raise ArtifactError(
                    f"artifact {path} holds {sorted(names)}, "
                    f"expected {CONFIG_ENTRY} and {MODEL_ENTRY}"
                )
            # read() checks each entry's CRC, which catches damage inside the zip.
            config = json.loads(archive.read(CONFIG_ENTRY))
            model_bytes = archive.read(MODEL_ENTRY)
    except ArtifactError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as error:
        raise ArtifactError(f"artifact {path} is damaged or incomplete: {error}") from error
    if not isinstance(config, dict):
        raise ArtifactError(f"artifact {path}: config.json is not an object")
    try:
        _check_config(config)
    except ValueError as error:
        raise ArtifactError(f"artifact {path}: {error}") from error
    if config.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"artifact {path} has format version {config.get('format_version')!r}; "
            f"this code reads version {FORMAT_VERSION}"
        )
    if _sha256(model_bytes) != config.get("model_sha256"):
        raise ArtifactError(f"artifact {path}: the model does not match its checksum (tampered?)")
    return config, model_bytes


def load_artifact(path, *, expected_sha256: str | None = None, custom_objects=None):
    """Load and verify an artifact; returns (keras model, config).

    Raises ArtifactError on anything but a whole, untouched artifact. ``expected_sha256``
    (the file's sha256 recorded when it was saved) also catches a swapped-in file.
    """
    # Imported here so that reading configs never pulls TensorFlow into a Celery parent.
    import keras

    config, model_bytes = read_artifact_config(path, expected_sha256=expected_sha256)
    with tempfile.TemporaryDirectory(prefix="artifact-") as folder:
        model_path = Path(folder) / MODEL_ENTRY
        model_path.write_bytes(model_bytes)
        try:
            model = keras.models.load_model(model_path, custom_objects=custom_objects)
        except Exception as error:  # Keras raises a variety of errors on a bad file
            raise ArtifactError(f"artifact {path}: the model cannot be loaded: {error}") from error
    return model, config


def list_artifacts(folder) -> list[Path]:
    """Complete artifacts in ``folder``, sorted by name; temporary files are ignored."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.endswith(SUFFIX) and not p.name.startswith(".")
    )
