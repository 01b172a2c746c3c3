"""How fast training runs here: the head and fine-tuning sections of ``bench.speed``."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import log

# --- head on stored embeddings ------------------------------------------------------------


def _synthetic_embeddings(
    n: int, dim: int = 1280, classes: int = 20, seed: int = 0, noise: float = 0.6
):
    """Non-negative, sparse-ish vectors around per-class centres, like pooled ReLU6 maps."""
    rng = np.random.default_rng(seed)
    centres = rng.gamma(0.5, 0.6, (classes, dim)).astype(np.float32)
    y = rng.integers(0, classes, n)
    X = np.clip(centres[y] + rng.normal(0, noise, (n, dim)).astype(np.float32), 0, 6)
    return X.astype(np.float32), y


def head(args) -> dict:
    from sklearn.linear_model import LogisticRegression

    from training.head_training import train_head
    from training.splits import split_indices

    if args.head_dim is None:
        from training.backbones import get_spec

        spec = get_spec("efficientnet_lite0")  # the product's default backbone
        args.head_dim = spec.embedding_length(spec.default_embedding)
    X, y = _synthetic_embeddings(args.head_n, dim=args.head_dim)
    split = split_indices(y, fractions=(0.9, 0.1, 0.0), seed=0)
    runs = []
    for repeat in range(args.head_repeats):
        start = time.perf_counter()
        trained = train_head(
            X[split.train], y[split.train], X[split.val], y[split.val], n_classes=20, seed=repeat
        )
        seconds = time.perf_counter() - start
        runs.append({"seconds": seconds, "epochs": trained.epochs_run})
        log(f"head on {args.head_n} embeddings: {seconds:.1f} s, {trained.epochs_run} epochs")
    start = time.perf_counter()
    LogisticRegression(max_iter=200).fit(X[split.train], y[split.train])
    logreg = time.perf_counter() - start
    median = statistics.median(r["seconds"] for r in runs)
    per_epoch = statistics.median(r["seconds"] / r["epochs"] for r in runs)
    log(f"head: median {median:.1f} s ({per_epoch:.2f} s/epoch); logreg baseline {logreg:.1f} s")
    return {
        "n_embeddings": args.head_n,
        "dim": args.head_dim,
        "n_fit": int(len(split.train)),
        "n_val": int(len(split.val)),
        "runs": runs,
        "median_seconds": median,
        "median_seconds_per_epoch": per_epoch,
        "logreg_baseline_seconds": logreg,
        "ratio_to_logreg": median / logreg,
    }


# --- fine-tuning --------------------------------------------------------------------------


def _finetune_pixels(args, size: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    from bench.folders import draw_train_test, scan_roots
    from training.backbones.preprocess import load_image_for_backbone

    if args.finetune_dir and Path(args.finetune_dir).is_dir():
        tree = scan_roots([args.finetune_dir])
        draw, _ = draw_train_test(
            tree, None, classes=tree.classes, train_size=n, test_size=1, seed=0
        )
        pixels = np.stack([load_image_for_backbone(p, size) for p in draw.paths])
        return pixels, draw.labels
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8), rng.integers(0, 2, n)


def finetune_epochs(args, name: str = "efficientnet_lite0") -> dict:
    from training.backbones import get_spec
    from training.finetune import finetune

    results = {}
    for size in sorted({get_spec(name).input_size, 160}, reverse=True):
        pixels, y = _finetune_pixels(args, size, 1100)
        stamps = []
        start = time.perf_counter()
        finetune(
            backbone=name,
            X_train=pixels[:1000],
            y_train=y[:1000],
            X_val=pixels[1000:],
            y_val=y[1000:],
            n_classes=int(y.max()) + 1,
            input_size=size,
            max_epochs=3,
            progress=lambda epoch, logs, stamps=stamps: stamps.append(time.perf_counter()),
        )
        edges = [start, *stamps]
        epochs = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        results[str(size)] = {
            "n_train": 1000,
            "n_val": len(pixels) - 1000,
            "epoch_seconds": epochs,
            "first_epoch_seconds": epochs[0],
            "steady_epoch_seconds": statistics.median(epochs[1:]) if len(epochs) > 1 else epochs[0],
        }
        log(f"finetune {name} at {size} px, 1000 images: epochs {[round(e, 1) for e in epochs]} s")
    return results
