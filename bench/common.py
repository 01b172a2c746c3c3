"""Small helpers the benchmarks share: timing, the machine, the matmul ceiling, bf16 models."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable


def log(message: str) -> None:
    """Progress for the person watching: on stderr, so that stdout holds only the figures."""
    print(message, file=sys.stderr, flush=True)


def run_and_report(
    run: Callable, args, *, report: Callable[[dict], str], errors: tuple = ()
) -> int:
    """A figures command's end: ``run(args, log=log)``, its report on stdout and, with
    ``--json``, its figures in that file. Bad input (a ProtocolError, missing backbone
    weights, or one of ``errors``) is one line on stderr and exit status 2."""
    import json
    from pathlib import Path

    from bench.folders import ProtocolError
    from training.backbones import BackboneWeightsMissing

    try:
        result = run(args, log=log)
    except (ProtocolError, BackboneWeightsMissing, *errors) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report(result))
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


def median_seconds(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls after ``warmup`` untimed ones.
    Medians, because the machines are shared and a neighbour's burst hits single runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cpu_description() -> dict:
    flags = set()
    model = platform.processor()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
                elif line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return {
        "model": model,
        "cores_available": len(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "avx512f": "avx512f" in flags,
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
    }


def bf16_supported() -> bool:
    """Whether bf16 matmuls run natively here (AVX-512 BF16 or AMX); elsewhere TensorFlow
    would emulate them, slower than float32."""
    cpu = cpu_description()
    return bool(cpu["avx512_bf16"] or cpu["amx_bf16"])


def gemm_rates(*, n: int = 2048, repeats: int = 7) -> dict:
    """GFLOP/s of an n×n×n matrix product: numpy float32, TensorFlow float32 and bfloat16.
    This is the practical ceiling a convolution network could approach on this machine."""
    import numpy as np
    import tensorflow as tf

    flops = 2.0 * n**3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    rates = {"n": n}
    rates["numpy_fp32"] = flops / median_seconds(lambda: a @ b, repeats=repeats) / 1e9
    for name, dtype in (("tf_fp32", tf.float32), ("tf_bf16", tf.bfloat16)):
        ta, tb = tf.cast(tf.constant(a), dtype), tf.cast(tf.constant(b), dtype)
        matmul = tf.function(lambda x, y: tf.matmul(x, y))
        # .numpy() waits for the result: TensorFlow may return before the work is done.
        seconds = median_seconds(lambda ta=ta, tb=tb, f=matmul: f(ta, tb).numpy(), repeats=repeats)
        rates[name] = flops / seconds / 1e9
    return rates


def backbone_gflops(model, input_size: int) -> float:
    """GFLOPs (2 × multiply-adds) of one image through ``model``'s convolutions and dense
    layers at ``input_size``, counted from each layer's output shape."""
    import keras
    import numpy as np

    counted = []

    def walk(layer):
        if isinstance(layer, keras.Model):
            for child in layer.layers:
                walk(child)
        elif isinstance(
            layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D | keras.layers.Dense
        ):
            counted.append(layer)

    walk(model)
    inner = [m for m in model.layers if isinstance(m, keras.Model)]
    # Shapes need a forward pass; probing each nested model with its own input suffices
    # because the wrapper only resizes and scales before it.
    total = 0.0
    for sub in inner or [model]:
        layers = [
            layer
            for layer in sub.layers
            if isinstance(
                layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D | keras.layers.Dense
            )
        ]
        probe = keras.Model(sub.input, [layer.output for layer in layers])
        outputs = probe(np.zeros((1, input_size, input_size, 3), np.float32), training=False)
        for layer, out in zip(layers, outputs, strict=True):
            out_elems = float(np.prod(out.shape[1:]))
            kernel = layer.kernel.shape
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                macs = out_elems * kernel[0] * kernel[1]
            elif isinstance(layer, keras.layers.Conv2D):
                macs = out_elems * kernel[0] * kernel[1] * kernel[2]
            else:
                macs = out_elems * kernel[0]
            total += 2 * macs
    return total / 1e9


def bf16_backbone(name: str, *, input_size: int | None = None):
    """The EfficientNet-Lite backbone ``name`` with bfloat16 compute (Keras's
    ``mixed_bfloat16`` policy: float32 weights, bf16 activations, float32 embedding out).

    The product's builder has no precision option and loads its cached model with the
    float32 policy saved in it, so this rebuilds the same network under the policy and
    copies the float32 weights across (the change proposed for training/backbones is to
    take a ``dtype_policy`` argument and do this itself).
    """
    import keras

    from training.backbones import build_backbone, get_spec
    from training.backbones import efficientnet_lite as lite

    spec = get_spec(name)
    input_size = input_size or spec.input_size
    fp32 = build_backbone(name, input_size=input_size)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        base = lite.feature_network(lite.VARIANTS[name])
    finally:
        keras.config.set_dtype_policy(previous)
    base.set_weights(fp32.get_layer(name).get_weights())
    features = lite.preprocessed(base, input_size=input_size, name=f"{name}_features_bf16")
    out = keras.layers.Activation("linear", dtype="float32", name="embedding_fp32")(features.output)
    return keras.Model(features.input, out, name=f"{name}_bf16"), fp32


def compiled(model):
    """``model`` called inside one tf.function: one graph instead of a Python call per layer
    (as ``training.inference.run_model`` calls the product's models)."""
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def quiet_tensorflow() -> None:
    """Keep TensorFlow's start-up chatter and Keras's input-structure warning (raised by
    the product's logits models, harmless) out of the report."""
    import os
    import warnings

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
