"""How fast inference and training run here, against what this machine can do.

    nice -n 10 python -m bench.speed --json bench/results/speed.json

Every figure is a median over repeated runs, and each is set against a baseline measured in
the same run (machines are shared and noisy, so absolute numbers drift between runs while
ratios hold):

- gemm: GFLOP/s of a 2048³ matrix product (numpy float32, TensorFlow float32 and bfloat16),
  the practical ceiling for a convolution network on these cores;
- throughput: backbone images/s at batch 1, 8, 16 and 32, called as the product calls it
  (``training.inference.run_model``: the model inside one cached tf.function) beside the plain
  eager Keras call it replaced (one Python dispatch per layer); float32 beside bfloat16
  (Keras's mixed_bfloat16 policy, and oneDNN's graph rewrite in a child process); achieved
  GFLOP/s and the share of the GEMM ceiling;
- agreement: top-1 agreement of the ImageNet classifier in bfloat16 with float32 on real
  photos, and the cosine similarity of their embeddings;
- draft: decode time of a large JPEG by ``load_image_for_backbone`` (Pillow draft mode on)
  against the same steps without draft mode;
- head: ``train_head`` on 25,000 stored embeddings (synthetic, as long as the default
  backbone's head embedding: 3,008 values; 20 classes) against
  scikit-learn's logistic regression on the same arrays;
- finetune: seconds per epoch of ``finetune`` on 1,000 images, the first epoch (graph
  building included) and the steady ones, at the backbone's input size and at 160 px.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import speed_training
from bench.common import (
    backbone_gflops,
    bf16_backbone,
    bf16_supported,
    compiled,
    cpu_description,
    gemm_rates,
    log,
    median_seconds,
)

SECTIONS = ("gemm", "throughput", "agreement", "draft", "head", "finetune")
DEFAULT_AGREEMENT_DIRS = [
    "../shared/datasets/cifar10-subset/train",
    "../shared/datasets/genki4k-smile/train",
]
DEFAULT_FINETUNE_DIR = "../shared/datasets/genki4k-smile/train"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__)
    add = parser.add_argument
    add(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    add(
        "--backbones",
        default="efficientnet_lite0",
        help="comma-separated backbones for the throughput section (inception_v3 runs on "
        "random weights: its speed does not depend on them)",
    )
    add("--batches", default="1,8,16,32")
    add("--repeats", type=int, default=7)
    add(
        "--agreement-dir",
        action="append",
        default=None,
        metavar="DIR",
        help="class-folder tree of real photos for the bf16 agreement check",
    )
    add("--agreement-n", type=int, default=500)
    add("--finetune-dir", default=DEFAULT_FINETUNE_DIR)
    add("--head-n", type=int, default=25_000)
    add(
        "--head-dim",
        type=int,
        default=None,
        help="length of the synthetic embeddings (default: what heads on lite0, the default "
        "backbone, read: 3,008 values of pooled+grid)",
    )
    add("--head-repeats", type=int, default=3)
    add("--json", metavar="OUT")
    # Internal: the child process that measures oneDNN's bf16 graph rewrite, which is a
    # process-wide switch.
    add("--onednn-bf16-child", action="store_true", help=argparse.SUPPRESS)
    return parser


# --- throughput ---------------------------------------------------------------------------


def _build(name: str, input_size: int | None = None):
    from training.backbones import build_backbone

    return build_backbone(name, input_size=input_size, from_scratch=name == "inception_v3")


def _rates(model, batches, repeats, *, how: str) -> dict[int, float]:
    """images/s per batch size; how: "eager" (a plain Keras call), "run_model" (the
    product's call) or "compiled" (a bare tf.function, for models the product never runs)."""
    import tensorflow as tf

    from training.inference import run_model

    size = model.get_layer("resize").height
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (max(batches), size, size, 3), dtype=np.uint8)
    fn = compiled(model)
    out = {}
    for b in batches:
        x = pixels[:b]
        if how == "eager":
            seconds = median_seconds(
                lambda x=x: np.asarray(model(x, training=False)), repeats=repeats, warmup=2
            )
        elif how == "run_model":
            seconds = median_seconds(
                lambda x=x, b=b: run_model(model, x, batch_size=b), repeats=repeats, warmup=2
            )
        else:
            xt = tf.constant(x)
            seconds = median_seconds(lambda xt=xt: fn(xt).numpy(), repeats=repeats, warmup=2)
        out[b] = b / seconds
    return out


def throughput(args, gemm: dict) -> dict:
    from training.backbones import get_spec

    batches = [int(b) for b in args.batches.split(",")]
    results = {}
    for name in args.backbones.split(","):
        spec = get_spec(name)
        fp32 = _build(name)
        gflops = backbone_gflops(fp32, spec.input_size)
        product = "fp32 run_model (the product: compiled)"
        rows = {
            "fp32 eager (a plain Keras call)": _rates(fp32, batches, args.repeats, how="eager"),
            product: _rates(fp32, batches, args.repeats, how="run_model"),
        }
        if name.startswith("efficientnet_lite") and bf16_supported():
            bf16, _ = bf16_backbone(name)
            rows["bf16 compiled (Keras mixed_bfloat16)"] = _rates(
                bf16, batches, args.repeats, how="compiled"
            )
        if bf16_supported():
            child = _onednn_child(args, name)
            if child:
                rows["bf16 compiled (oneDNN graph rewrite)"] = {
                    int(k): v for k, v in child["rates"].items()
                }
        table = {}
        for label, rates in rows.items():
            ceiling = gemm["tf_bf16"] if label.startswith("bf16") else gemm["tf_fp32"]
            table[label] = {
                str(b): {
                    "images_per_s": rate,
                    "gflop_per_s": rate * gflops,
                    "share_of_gemm_ceiling": rate * gflops / ceiling,
                    "ratio_to_fp32_compiled": rate / rows[product][b],
                }
                for b, rate in rates.items()
            }
            log(
                f"{name} {label}: "
                + ", ".join(
                    f"b{b} {v['images_per_s']:.1f} img/s ({100 * v['share_of_gemm_ceiling']:.0f}%)"
                    for b, v in table[label].items()
                )
            )
        results[name] = {
            "input_size": spec.input_size,
            "gflop_per_image": gflops,
            "weights": "random (speed only)" if name == "inception_v3" else "imagenet",
            "rows": table,
        }
    return results


_CHILD_RESULTS: dict[str, dict | None] = {}


def _onednn_child(args, name: str) -> dict | None:
    """Run the oneDNN bf16 rewrite in a fresh process (the switch is process-wide), once
    per backbone: it measures throughput and the agreement predictions together."""
    if name not in _CHILD_RESULTS:
        _CHILD_RESULTS[name] = _run_onednn_child(args, name)
    return _CHILD_RESULTS[name]


def _run_onednn_child(args, name: str) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "child.json"
        cmd = [
            sys.executable,
            "-m",
            "bench.speed",
            "--onednn-bf16-child",
            "--backbones",
            name,
            "--batches",
            args.batches,
            "--repeats",
            str(args.repeats),
            "--agreement-n",
            str(args.agreement_n),
            "--json",
            str(out),
        ]
        for d in args.agreement_dir or DEFAULT_AGREEMENT_DIRS:
            cmd += ["--agreement-dir", d]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not out.exists():
            log(f"oneDNN bf16 child failed: {done.stderr[-500:]}")
            return None
        return json.loads(out.read_text())


def onednn_child_main(args) -> int:
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})
    name = args.backbones.split(",")[0]
    batches = [int(b) for b in args.batches.split(",")]
    model = _build(name)
    result = {"rates": _rates(model, batches, args.repeats, how="compiled")}
    if name.startswith("efficientnet_lite"):
        from training.backbones.efficientnet_lite import build_imagenet_classifier

        pixels = _agreement_pixels(args, None, name)
        classifier = build_imagenet_classifier(name)
        proba = _predict(compiled(classifier), pixels)
        result["top1"] = proba.argmax(1).tolist()
        result["embeddings"] = _predict(compiled(model), pixels).tolist()
    Path(args.json).write_text(json.dumps(result))
    return 0


# --- agreement ----------------------------------------------------------------------------


def _agreement_pixels(args, size: int | None, name: str) -> np.ndarray:
    """``agreement_n`` photos spread over the folders' classes, at the backbone's size."""
    from bench.folders import scan_roots
    from training.backbones import get_spec
    from training.backbones.preprocess import load_image_for_backbone

    size = size or get_spec(name).input_size
    dirs = [d for d in (args.agreement_dir or DEFAULT_AGREEMENT_DIRS) if Path(d).is_dir()]
    if not dirs:
        return np.zeros((0, size, size, 3), np.uint8)
    paths = []
    for d in dirs:
        tree = scan_roots([d])
        for files in tree.files.values():
            paths += files
    rng = np.random.default_rng(0)
    chosen = [
        paths[i]
        for i in sorted(rng.choice(len(paths), min(args.agreement_n, len(paths)), replace=False))
    ]
    return np.stack([load_image_for_backbone(p, size) for p in chosen])


def _predict(fn, pixels: np.ndarray, batch: int = 16) -> np.ndarray:
    import tensorflow as tf

    return np.concatenate(
        [fn(tf.constant(pixels[i : i + batch])).numpy() for i in range(0, len(pixels), batch)]
    )


def agreement(args, name: str = "efficientnet_lite0") -> dict:
    """bf16 against fp32 on real photos: the ImageNet classifier's top-1 and the embedding."""
    import keras

    from training.backbones.efficientnet_lite import build_imagenet_classifier

    pixels = _agreement_pixels(args, None, name)
    if not len(pixels):
        return {"skipped": "no agreement photos found"}
    fp32_cls = build_imagenet_classifier(name)
    bf16_features, fp32_features = bf16_backbone(name)
    # The bf16 features feed the float32 ImageNet layer itself (shared weights).
    bf16_cls = keras.Model(
        bf16_features.input, fp32_cls.get_layer("predictions")(bf16_features.output)
    )
    top_fp32 = _predict(compiled(fp32_cls), pixels).argmax(1)
    top_bf16 = _predict(compiled(bf16_cls), pixels).argmax(1)
    e32 = _predict(compiled(fp32_features), pixels)
    e16 = _predict(compiled(bf16_features), pixels)
    result = {
        "n": int(len(pixels)),
        "keras_mixed_bfloat16": _agree(top_fp32, top_bf16, e32, e16),
    }
    if bf16_supported():
        child = _onednn_child(args, name)
        if child and "top1" in child:
            result["onednn_graph_bf16"] = _agree(
                top_fp32, np.asarray(child["top1"]), e32, np.asarray(child["embeddings"])
            )
    for k, v in result.items():
        if isinstance(v, dict):
            log(
                f"agreement {k}: top-1 {100 * v['top1_agreement']:.1f}% of {len(pixels)}, "
                f"embedding cosine min {v['cosine_min']:.4f}"
            )
    return result


def _agree(top_a, top_b, emb_a, emb_b) -> dict:
    cos = (emb_a * emb_b).sum(1) / (
        np.linalg.norm(emb_a, axis=1) * np.linalg.norm(emb_b, axis=1) + 1e-12
    )
    return {
        "top1_agreement": float((top_a == top_b).mean()),
        "cosine_mean": float(cos.mean()),
        "cosine_min": float(cos.min()),
    }


# --- Pillow draft mode --------------------------------------------------------------------


def _photo_like_jpeg(width: int, height: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / width * 255, yy / height * 255, (xx + yy) / (width + height) * 255], -1)
    noise = rng.normal(0, 12, (height // 8, width // 8, 3)).repeat(8, 0).repeat(8, 1)
    pixels = np.clip(base + noise[:height, :width], 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90)
    return out.getvalue()


def _load_without_draft(source, size: int) -> np.ndarray:
    """load_image_for_backbone minus its draft() call: the same steps at full decode."""
    from PIL import Image, ImageOps

    from training.backbones.preprocess import _center_square, _to_rgb

    with Image.open(source) as image:
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
        resized = image.resize(
            (size, size), Image.Resampling.BICUBIC, box=_center_square(*image.size)
        )
        return np.array(resized, dtype=np.uint8)


def draft(args) -> dict:
    from training.backbones.preprocess import load_image_for_backbone

    results = {}
    for width, height in ((6000, 4000), (3000, 2000)):
        data = _photo_like_jpeg(width, height)
        with_draft = median_seconds(
            lambda d=data: load_image_for_backbone(io.BytesIO(d), 224), repeats=args.repeats
        )
        without = median_seconds(
            lambda d=data: _load_without_draft(io.BytesIO(d), 224), repeats=args.repeats
        )
        key = f"{width}x{height}"
        results[key] = {
            "jpeg_bytes": len(data),
            "seconds_with_draft": with_draft,
            "seconds_without_draft": without,
            "speedup": without / with_draft,
        }
        log(
            f"draft {key}: {1000 * with_draft:.0f} ms with draft, {1000 * without:.0f} ms "
            f"without ({without / with_draft:.1f}x)"
        )
    return results


# --- main ---------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    from bench.common import quiet_tensorflow

    quiet_tensorflow()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.onednn_bf16_child:
        return onednn_child_main(args)
    import tensorflow as tf

    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        print(f"error: unknown sections {sorted(unknown)}", file=sys.stderr)
        return 2
    result = {
        "command": "python -m bench.speed " + " ".join(argv),
        "machine": {
            **cpu_description(),
            "tensorflow": tf.__version__,
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default (on)"),
        },
    }
    started = time.perf_counter()
    gemm = gemm_rates(repeats=args.repeats)
    result["gemm_gflop_per_s"] = gemm
    log("gemm GFLOP/s: " + ", ".join(f"{k} {v:.0f}" for k, v in gemm.items() if k != "n"))
    if "throughput" in sections:
        result["throughput"] = throughput(args, gemm)
    if "agreement" in sections:
        result["bf16_agreement"] = agreement(args)
    if "draft" in sections:
        result["jpeg_draft"] = draft(args)
    if "head" in sections:
        result["head_training"] = speed_training.head(args)
    if "finetune" in sections:
        result["finetune_epoch"] = speed_training.finetune_epochs(args)
    result["seconds_total"] = time.perf_counter() - started
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
