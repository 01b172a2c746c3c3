"""Which embedding should heads be trained on? 5-fold cross-validation on training draws only.

    nice -n 10 python -m bench.embedding_cv --datasets ../shared/datasets

For each task it takes exactly the protocol's training draw (1,000 images, seed 0; the
test draw is never loaded), embeds it once per input size with the frozen backbone, and
scores each embedding variant by 5-fold cross-validation: in every fold the product's
``train_head`` trains on four fifths, with its validation split carved out of those by the
product's splitter, and predicts the fifth. The product's choice of embedding
(training.backbones.POOLED_GRID for EfficientNet-Lite) was made from this table, never from
test images.

Variants: ``pooled`` (global average of the last feature map), ``grid`` (a 3×3 area-pooled
map of the stride-32 stage-6 features), and ``pooled+grid`` (both, concatenated: what heads
train on).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import quiet_tensorflow
from bench.folders import apply_merges, draw_train_test, parse_merges, scan_roots, select_classes

TASKS = {
    "smile": (["genki4k-smile/train"], [], None),
    "bag_vs_shoe": (
        ["fashion-mnist-subset/train"],
        ["shoe=sandal,sneaker,ankle_boot"],
        ["bag", "shoe"],
    ),
    "cifar10": (["cifar10-subset/train"], [], None),
}


def _training_draw(datasets: str, task: str, seed: int, n: int):
    roots, merges, classes = TASKS[task]
    tree = scan_roots([f"{datasets}/{r}" for r in roots])
    tree = select_classes(apply_merges(tree, parse_merges(merges)), classes)
    classes = classes or tree.classes
    train, _ = draw_train_test(tree, None, classes=classes, train_size=n, test_size=1, seed=seed)
    return train.paths, train.labels


def _cv(X: np.ndarray, y: np.ndarray, *, folds: int, seed: int) -> tuple[float, list[int]]:
    from sklearn.model_selection import StratifiedKFold

    from training.head_training import train_head
    from training.inference import run_model
    from training.splits import split_indices

    correct, epochs = 0, []
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y):
        split = split_indices(y[fit], fractions=(0.9, 0.1, 0.0), seed=seed)
        tr, va = fit[split.train], fit[split.val]
        trained = train_head(X[tr], y[tr], X[va], y[va], n_classes=int(y.max()) + 1, seed=seed)
        epochs.append(trained.epochs_run)
        correct += int((run_model(trained.logits_model, X[held]).argmax(1) == y[held]).sum())
    return correct / len(y), epochs


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow()
    parser = argparse.ArgumentParser(prog="python -m bench.embedding_cv", description=__doc__)
    parser.add_argument("--datasets", default="../shared/datasets")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--sizes", default="224,160")
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)

    from training.backbones import POOLED_GRID, build_backbone, get_spec
    from training.backbones.preprocess import load_image_for_backbone
    from training.inference import run_model

    dim = get_spec(args.backbone).embedding_dim
    rows = []
    for task in args.tasks.split(","):
        paths, y = _training_draw(args.datasets, task, args.seed, args.train_size)
        for size in (int(s) for s in args.sizes.split(",")):
            model = build_backbone(args.backbone, input_size=size, embedding=POOLED_GRID)
            pixels = np.stack([load_image_for_backbone(p, size) for p in paths])
            start = time.monotonic()
            emb = np.asarray(run_model(model, pixels, batch_size=32), dtype=np.float32)
            seconds = time.monotonic() - start
            variants = {"pooled": emb[:, :dim], "grid": emb[:, dim:], "pooled+grid": emb}
            for variant, X in variants.items():
                accuracy, epochs = _cv(X, y, folds=args.folds, seed=args.seed)
                row = {
                    "task": task,
                    "backbone": args.backbone,
                    "input_size": size,
                    "embedding": variant,
                    "dim": int(X.shape[1]),
                    "cv_accuracy": accuracy,
                    "n": int(len(y)),
                    "epochs": epochs,
                    "embedding_seconds": seconds,
                }
                rows.append(row)
                print(
                    f"{task:12} {size:4d} px  {variant:12} ({X.shape[1]:4d}-d)  "
                    f"cv top-1 {100 * accuracy:.1f}%  epochs {epochs}",
                    flush=True,
                )
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(
            json.dumps(
                {"command": "python -m bench.embedding_cv " + " ".join(argv), "rows": rows},
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
