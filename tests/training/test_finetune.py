import keras
import numpy as np
import pytest

from training import finetune as finetune_module
from training.backbones.base import BackboneSpec
from training.finetune import finetune, freeze_for_finetuning, make_dataset

pytestmark = pytest.mark.ml


def _stand_in_backbone(input_size=32, **_):
    """A tiny backbone shaped like Keras's InceptionV3 inside a preprocessing wrapper: a
    conv stem, a first module whose branches meet in ``mixed0``, then one more block."""

    def conv_bn(x, filters, name):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        return keras.layers.Activation("relu")(x)

    inner_in = keras.Input((input_size, input_size, 3))
    x = conv_bn(inner_in, 4, "stem_conv")
    x = keras.layers.MaxPooling2D(name="stem_pool")(x)
    a = conv_bn(x, 4, "branch_a")
    b = conv_bn(x, 4, "branch_b")
    x = keras.layers.Concatenate(name="mixed0")([a, b])
    x = conv_bn(x, 8, "later_conv")
    inner = keras.Model(inner_in, x, name="inner")

    raw = keras.Input((None, None, 3))
    x = keras.layers.Resizing(input_size, input_size)(raw)
    x = keras.layers.Rescaling(1 / 127.5, offset=-1)(x)
    x = inner(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(raw, x, name="stand_in")
    model.trainable = False  # backbones come frozen
    return model


STAND_IN = BackboneSpec(
    name="stand_in",
    input_size=32,
    embedding_dim=8,
    finetune_from="mixed0",
    builder=_stand_in_backbone,
)


@pytest.fixture
def stand_in(monkeypatch):
    monkeypatch.setattr(finetune_module, "get_spec", lambda name: STAND_IN)
    monkeypatch.setattr(
        finetune_module,
        "build_backbone",
        lambda name, *, input_size=None, weights=None, from_scratch=False: _stand_in_backbone(
            input_size or 32
        ),
    )


def _images(n, size, seed=0):
    """Two classes a CNN can tell apart: bright left half versus bright right half."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = rng.integers(0, 60, size=(n, size, size, 3)).astype(np.uint8)
    half = size // 2
    for i, label in enumerate(y):
        cols = slice(0, half) if label == 0 else slice(half, size)
        x[i, :, cols] += 150
    return x, y


def _layer(model, name):
    for layer in finetune_module.leaf_layers(model):
        if layer.name == name:
            return layer
    raise KeyError(name)


def test_freezing_keeps_the_stem_and_all_batchnorm_frozen_and_trains_the_first_module():
    backbone = _stand_in_backbone()
    frozen = {layer.name for layer in freeze_for_finetuning(backbone, "mixed0")}
    assert {"stem_conv", "stem_conv_bn", "stem_pool"} <= frozen
    assert not frozen & {"branch_a", "branch_b", "mixed0", "later_conv"}
    trainable = {w.path.split("/")[0] for w in backbone.trainable_weights}
    assert trainable == {"branch_a", "branch_b", "later_conv"}
    for name in ("stem_conv_bn", "branch_a_bn", "later_conv_bn"):
        assert not _layer(backbone, name).trainable


def test_freezing_by_an_unknown_name_fails_loudly():
    with pytest.raises(ValueError, match="no layer named 'mixed9'"):
        freeze_for_finetuning(_stand_in_backbone(), "mixed9")


def _weights(layer):
    return [w.numpy().copy() for w in layer.weights]


@pytest.fixture
def built_model(monkeypatch):
    """The model finetune() builds, caught before training starts, for before/after checks."""
    caught = {}
    original = finetune_module.build_finetune_model

    def build(*args, **kwargs):
        caught["model"] = original(*args, **kwargs)
        caught["before"] = {
            id(layer): _weights(layer) for layer in finetune_module.leaf_layers(caught["model"])
        }
        return caught["model"]

    monkeypatch.setattr(finetune_module, "build_finetune_model", build)
    return caught


def _finetune_tiny(backbone, *, input_size, epochs):
    x, y = _images(16, input_size)
    seen = []
    result = finetune(
        backbone=backbone,
        X_train=x[:12],
        y_train=y[:12],
        X_val=x[12:],
        y_val=y[12:],
        n_classes=2,
        input_size=input_size,
        from_scratch=True,
        max_epochs=epochs,
        batch_size=4,
        learning_rate=1e-2,
        seed=0,
        progress=lambda epoch, logs: seen.append(epoch),
    )
    return result, seen, x


def _unchanged(built, layer):
    before = built["before"][id(layer)]
    return all(np.array_equal(w0, w1) for w0, w1 in zip(before, _weights(layer), strict=True))


def test_finetune_trains_after_the_stem_and_leaves_stem_and_batchnorm_alone(stand_in, built_model):
    result, seen, x = _finetune_tiny("stand_in", input_size=32, epochs=2)
    assert result.model is built_model["model"]
    for name in ("stem_conv", "stem_conv_bn", "branch_a_bn", "later_conv_bn"):
        assert _unchanged(built_model, _layer(result.model, name)), name
    for name in ("branch_a", "branch_b", "later_conv", "logits"):
        assert not _unchanged(built_model, _layer(result.model, name)), name
    assert seen == list(range(result.total_epochs)) and result.epochs_run <= 2
    assert result.head is not None and result.head.epochs_run >= 1
    proba = result.model.predict(x[:3], verbose=0)
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # Raw pixels of another size go through: resizing lives in the model.
    assert result.model.predict(x[:2, :20, :20], verbose=0).shape == (2, 2)


def test_fine_tuning_starts_from_the_head_trained_on_the_frozen_backbone(stand_in):
    """The first phase's head, put on the backbone, answers as it did on the embeddings."""
    x, y = _images(16, 32)
    model = finetune_module.build_finetune_model("stand_in", 2, input_size=32, from_scratch=True)
    base = finetune_module.backbone_of(model)
    embeddings = finetune_module.embed_with(base, x, batch_size=8, image_size=32)
    assert embeddings.shape == (16, 8)
    from training.head_training import train_head

    head = train_head(embeddings[:12], y[:12], embeddings[12:], y[12:], n_classes=2, seed=0)
    zero_head = model.predict(x[:4], verbose=0)
    np.testing.assert_allclose(zero_head, 0.5, atol=1e-6)  # a head of zeros knows nothing
    finetune_module.start_from_head(model, head.model)
    np.testing.assert_allclose(
        model.predict(x[:4], verbose=0), head.model.predict(embeddings[:4], verbose=0), atol=1e-5
    )


def test_the_second_phase_unfreezes_from_the_block_it_is_given(stand_in, built_model):
    x, y = _images(16, 32)
    result = finetune(
        backbone="stand_in",
        X_train=x[:12],
        y_train=y[:12],
        X_val=x[12:],
        y_val=y[12:],
        n_classes=2,
        input_size=32,
        from_scratch=True,
        max_epochs=2,
        head_max_epochs=3,
        batch_size=4,
        learning_rate=1e-2,
        unfreeze_from="later_conv",
    )
    for name in ("stem_conv", "branch_a", "branch_b", "branch_a_bn", "later_conv_bn"):
        assert _unchanged(built_model, _layer(result.model, name)), name
    for name in ("later_conv", "logits"):
        assert not _unchanged(built_model, _layer(result.model, name)), name
    assert result.head.epochs_run <= 3 and result.epochs_run <= 2


def test_without_head_first_the_second_phase_starts_from_a_head_of_zeros(stand_in):
    x, y = _images(16, 32)
    result = finetune(
        backbone="stand_in",
        X_train=x[:12],
        y_train=y[:12],
        X_val=x[12:],
        y_val=y[12:],
        n_classes=2,
        input_size=32,
        from_scratch=True,
        max_epochs=1,
        batch_size=4,
        head_first=False,
    )
    assert result.head is None and result.total_epochs == result.epochs_run == 1


def test_the_training_pipeline_augments_and_the_validation_pipeline_does_not():
    x = np.full((4, 8, 8, 3), 100, np.uint8)
    x[:, :, :4] = 200  # left half bright, so that a flip shows
    y = np.arange(4)
    plain = np.concatenate([b for b, _ in make_dataset(x, y, batch_size=2, image_size=8)])
    np.testing.assert_array_equal(plain, x.astype(np.float32))
    augmented = np.concatenate(
        [b for b, _ in make_dataset(x, y, batch_size=4, image_size=8, augment=True, seed=3)]
    )
    assert augmented.min() >= 0 and augmented.max() <= 255
    assert not np.array_equal(augmented, plain)
    again = np.concatenate(
        [b for b, _ in make_dataset(x, y, batch_size=4, image_size=8, augment=True, seed=3)]
    )
    np.testing.assert_array_equal(augmented, again)  # seeded


def test_the_pipeline_loads_paths_through_a_loader_and_resizes():
    rng = np.random.default_rng(0)
    stored = {
        f"img{i}.png": rng.integers(0, 255, size=(10 + i, 12, 3), dtype=np.uint8) for i in range(5)
    }
    loaded = []

    def loader(path):
        loaded.append(path)
        return stored[path]

    ds = make_dataset(
        list(stored), np.arange(5), batch_size=2, image_size=16, loader=loader, shuffle=True
    )
    batches = list(ds)
    assert [tuple(b.shape) for b, _ in batches] == [(2, 16, 16, 3), (2, 16, 16, 3), (1, 16, 16, 3)]
    assert sorted(np.concatenate([t for _, t in batches]).tolist()) == [0, 1, 2, 3, 4]
    assert sorted(loaded) == sorted(stored)


def _inception_available():
    try:
        from training.backbones import available_backbones

        return "inception_v3" in available_backbones()
    except ImportError:
        return False


@pytest.fixture
def eager():
    """Steps run eagerly: tracing the graph of a whole Inception-v3 for three steps takes
    three times as long as running them (the same arithmetic, layer by layer)."""
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


@pytest.mark.skipif(
    not _inception_available(), reason="the inception_v3 backbone is not in this checkout"
)
# tf.data's own functions stay compiled, as they should: TensorFlow says so once.
@pytest.mark.filterwarnings("ignore:Even though the:UserWarning")
def test_inception_v3_fine_tunes_from_mixed0_with_stem_and_batchnorm_frozen(built_model, eager):
    result, _, x = _finetune_tiny("inception_v3", input_size=75, epochs=1)
    leaves = finetune_module.leaf_layers(result.model)
    convs = [layer for layer in leaves if isinstance(layer, keras.layers.Conv2D)]
    norms = [layer for layer in leaves if isinstance(layer, keras.layers.BatchNormalization)]
    # Keras names Inception's convolutions by a process-wide counter, so they are found by
    # position in the graph: the stem's first one, the first that trains (a branch of the
    # first module), and the last one.
    first_trained = next(layer for layer in convs if layer.trainable)
    assert convs.index(first_trained) == 5  # the stem has five convolutions
    assert _unchanged(built_model, convs[0])
    assert not _unchanged(built_model, first_trained)
    assert not _unchanged(built_model, convs[-1])
    assert all(_unchanged(built_model, norm) for norm in (norms[0], norms[-1]))
    assert result.model.predict(x[:2], verbose=0).shape == (2, 2)
