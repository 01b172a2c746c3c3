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
