import hashlib
import io
import json
import os
import zipfile

import numpy as np
import pytest

from training.artifacts import (
    ArtifactError,
    list_artifacts,
    load_artifact,
    read_artifact_config,
    save_artifact,
)
from training.heads import build_head

pytestmark = pytest.mark.ml

CONFIG = {
    "backbone": "efficientnet_lite0",
    "input_size": 224,
    "mode": "head",
    "taxonomy_version": 3,
    "class_labels": [11, 12, 13],
    "metrics": {"top1_accuracy": {"value": 0.9}},
    "n_train": 120,
    "temperature": 1.3,
    "thresholds": {"11": 0.8},
}


@pytest.fixture(scope="module")
def head():
    model = build_head(8, 3)
    rng = np.random.default_rng(0)
    # Non-zero weights, so that a round trip that lost them would show.
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


@pytest.fixture
def saved(tmp_path, head):
    path = tmp_path / "v1.taxmodel"
    sha256 = save_artifact(path, head, CONFIG)
    return path, sha256


def test_a_round_trip_predicts_identically_and_keeps_the_config(saved, head):
    path, sha256 = saved
    model, config = load_artifact(path, expected_sha256=sha256)
    x = np.random.default_rng(1).normal(size=(4, 8)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), head.predict(x, verbose=0))
    assert {key: config[key] for key in CONFIG} == CONFIG
    assert config["format_version"] == 1 and len(config["model_sha256"]) == 64


def test_save_returns_the_sha256_of_the_file(saved):
    path, sha256 = saved
    assert sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_truncated_file_raises_artifact_error(saved):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArtifactError, match="damaged or incomplete"):
        load_artifact(path)


def test_garbage_and_a_missing_file_raise_artifact_error(tmp_path):
    garbage = tmp_path / "junk.taxmodel"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(ArtifactError):
        load_artifact(garbage)
    with pytest.raises(ArtifactError, match="cannot read"):
        load_artifact(tmp_path / "absent.taxmodel")


def _rewrite(path, **entries):
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents.update(entries)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in contents.items():
            if data is not None:
                archive.writestr(name, data)
    path.write_bytes(buffer.getvalue())
    return contents


def test_a_tampered_model_fails_its_checksum(saved):
    path, _ = saved
    with zipfile.ZipFile(path) as archive:
        model_bytes = bytearray(archive.read("model.keras"))
    model_bytes[len(model_bytes) // 2] ^= 0xFF
    _rewrite(path, **{"model.keras": bytes(model_bytes)})
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(path)


def test_a_missing_entry_or_config_key_is_refused(saved, tmp_path):
    path, _ = saved
    contents = _rewrite(path)
    config = json.loads(contents["config.json"])
    del config["class_labels"]
    _rewrite(path, **{"config.json": json.dumps(config).encode()})
    with pytest.raises(ArtifactError, match="class_labels"):
        read_artifact_config(path)
    _rewrite(path, **{"config.json": None})
    with pytest.raises(ArtifactError, match="expected config.json and model.keras"):
        read_artifact_config(path)


def test_a_file_swapped_for_another_fails_the_recorded_sha256(saved, tmp_path, head):
    path, sha256 = saved
    other = tmp_path / "v2.taxmodel"
    save_artifact(other, head, {**CONFIG, "taxonomy_version": 4})
    with pytest.raises(ArtifactError, match="sha256"):
        load_artifact(other, expected_sha256=sha256)


def test_an_artifact_is_never_overwritten(saved, head):
    path, _ = saved
    with pytest.raises(FileExistsError):
        save_artifact(path, head, CONFIG)


def test_a_crash_before_the_rename_leaves_neither_artifact_nor_temp_file(
    tmp_path, head, monkeypatch
):
    def crash(src, dst):
        raise KeyboardInterrupt  # the worker is killed between write and rename

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        save_artifact(tmp_path / "v1.taxmodel", head, CONFIG)
    assert list(tmp_path.iterdir()) == []


def test_a_temp_file_left_by_a_crash_is_never_taken_for_an_artifact(saved, tmp_path):
    path, _ = saved
    # What a killed process leaves behind: a half-written hidden temp file.
    leftover = tmp_path / ".v2.taxmodel.k3j4h5.tmp"
    leftover.write_bytes(path.read_bytes()[:100])
    assert list_artifacts(tmp_path) == [path]
    with pytest.raises(ArtifactError):
        load_artifact(leftover)


def test_save_validates_the_config(tmp_path, head):
    with pytest.raises(ValueError, match="class_labels"):
        save_artifact(
            tmp_path / "a.taxmodel", head, {k: v for k, v in CONFIG.items() if k != "class_labels"}
        )
    with pytest.raises(ValueError, match="mode"):
        save_artifact(tmp_path / "b.taxmodel", head, {**CONFIG, "mode": "magic"})
    with pytest.raises(ValueError):
        save_artifact(tmp_path / "c.taxmodel", head, {**CONFIG, "temperature": float("nan")})
    assert list(tmp_path.iterdir()) == []
