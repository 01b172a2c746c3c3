"""The one shape every backbone takes: raw pixels in, the frozen base's pooled embedding out."""

from __future__ import annotations


def frozen_feature_extractor(base, *, input_size: int, scale: float, offset: float, name: str):
    """raw RGB 0..255 (any size) → Resizing(input_size) → x * scale + offset → base.

    The base stays a nested model (not flattened into this one) so that fine-tuning can find
    its layers by name, and it is called with training=False so its BatchNorm layers stay in
    inference mode even when the layers around it are trained.
    """
    import keras

    inputs = keras.Input(shape=(None, None, 3), name="image")
    # Bilinear without antialias: images normally arrive at input_size already (see
    # preprocess.load_image_for_backbone), so this is a no-op on the hot path.
    x = keras.layers.Resizing(input_size, input_size, name="resize")(inputs)
    x = keras.layers.Rescaling(scale, offset=offset, name="scale")(x)
    embedding = base(x, training=False)
    model = keras.Model(inputs, embedding, name=name)
    model.trainable = False  # backbones come frozen; fine-tuning unfreezes by layer name
    return model


def with_mirror_image(features, *, name: str):
    """raw pixels → ``features`` of the image ++ ``features`` of its mirror image.

    Mirroring commutes with the resizing inside ``features``, so it is applied to the raw
    pixels. The two calls share one frozen model: twice the work of one embedding, and the
    layout heads read (two equal halves, see training.backbones.embedding_views)."""
    import keras

    inputs = keras.Input(shape=(None, None, 3), name="image")
    mirrored = keras.layers.Lambda(lambda x: keras.ops.flip(x, axis=2), name="mirror")(inputs)
    both = keras.layers.Concatenate(name="views")([features(inputs), features(mirrored)])
    model = keras.Model(inputs, both, name=name)
    model.trainable = False
    return model
