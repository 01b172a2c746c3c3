"""Calling a Keras model on an array: one compiled call per model, in batches.

Pure: no Django, and TensorFlow is imported only when a model is first called, so that the
modules that import this one stay importable in processes that must not load TensorFlow.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

_lock = threading.Lock()
# One compiled call per model, dropped with the model.
_compiled_calls: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled(model):
    """The model's call inside one tf.function, traced once per process.

    An eager Keras call dispatches every layer from Python: lite0 serves 14.5 images/s one
    at a time that way and 90 compiled (2.2x at batch 32; bench/README.md). model.predict
    compiles too, but sets up a data pipeline on every call, which costs more than the small
    batches a worker sees. reduce_retracing keeps one graph for every batch size."""
    import tensorflow as tf

    with _lock:
        call = _compiled_calls.get(model)
        if call is None:
            call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
            _compiled_calls[model] = call
        return call


def run_model(model, inputs, *, batch_size: int = 64) -> np.ndarray:
    """Call a model on an array in batches, compiled; training=False keeps BatchNorm and
    dropout in inference mode."""
    call = _compiled(model)
    outputs = [
        np.asarray(call(inputs[start : start + batch_size]))
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0,))
