"""Which defaults serve unseen photos best? Cross-validation on training draws only.

    nice -n 5 python -m bench.accuracy_cv --datasets ../shared/datasets --embed
    nice -n 5 python -m bench.accuracy_cv --datasets ../shared/datasets --json OUT

For each of the five tasks (the method's four as ``bench.table`` builds them, and CIFAR-10's
ten classes) it takes exactly the protocol's training draw (1,000 images, seed 0, label noise
included; the test draw is never loaded) and scores candidates by 5-fold cross-validation, as
``bench.embedding_cv`` does: in every fold the product's ``train_head`` trains on four fifths,
with its validation split carved out by the product's splitter, and predicts the fifth.

Embeddings come from ``bench.embedding_cache`` (computed once per image, backbone and view),
so a candidate costs only its heads. Candidates: augmentation by stored views (mirror, crops)
and mirror test-time averaging; backbones and their concatenation; the head's
regularisation, label smoothing and class balance.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.common import log, quiet_tensorflow
from bench.embedding_cache import EmbeddingCache, file_key
from bench.table import tasks as table_tasks

INPUT_SIZES = {"efficientnet_lite0": 224, "efficientnet_lite1": 240, "efficientnet_lite2": 260}


def all_tasks(datasets: str) -> dict[str, list[str]]:
    found = dict(table_tasks(datasets))
    found["cifar10"] = ["--train", f"{datasets}/cifar10-subset/train"]
    return found


@dataclass
class TrainingDraw:
    paths: list[Path]
    keys: list[str]
    y: np.ndarray  # the labels training sees (noisy where the task flips some)
    n_classes: int


def training_draw(task_args: list[str], *, seed: int, train_size: int) -> TrainingDraw:
    """The protocol's own training draw for these arguments: same trees, merges, draw and
    label noise; the test draw is made (it decides nothing here) and thrown away."""
    from bench.folders import draw_train_test, flip_labels
    from bench.protocol import _resolve_trees, build_parser

    args = build_parser().parse_args(
        [*task_args, "--seed", str(seed), "--train-size", str(train_size)]
    )
    train_tree, test_tree, classes = _resolve_trees(args)
    train, _ = draw_train_test(
        train_tree, test_tree, classes=classes, train_size=train_size, test_size=1, seed=seed
    )
    y, _ = flip_labels(train.labels, args.noise, n_classes=len(classes), seed=seed)
    keys = [file_key(p) for p in train.paths]
    return TrainingDraw(list(train.paths), keys, y, len(classes))


@dataclass(frozen=True)
class Candidate:
    """What a head is trained on and how."""

    name: str
    backbones: tuple[str, ...] = ("efficientnet_lite0",)
    kind: str = "pooled+grid"  # or "pooled": the first 1280 values of each backbone's
    train_views: tuple[str, ...] = ("orig",)  # each one more training sample per image
    test_views: tuple[str, ...] = ("orig",)  # averaged at prediction (and validation)
    head: tuple[tuple[str, object], ...] = ()  # extra train_head keyword arguments

    def views(self) -> set[str]:
        return set(self.train_views) | set(self.test_views)


def features(draw: TrainingDraw, candidate: Candidate, *, log=log) -> dict[str, np.ndarray]:
    """view → (n, dim) embedding the candidate's head reads (backbones concatenated)."""
    out = {}
    for view in sorted(candidate.views()):
        parts = []
        for backbone in candidate.backbones:
            cache = EmbeddingCache(backbone, "pooled+grid", view, INPUT_SIZES[backbone])
            X = cache.get(draw.paths, draw.keys, log=log)
            parts.append(X[:, :1280] if candidate.kind == "pooled" else X)
        out[view] = np.concatenate(parts, axis=1)
    return out


def cross_validate(draw: TrainingDraw, candidate: Candidate, *, folds: int, seed: int) -> dict:
    from sklearn.model_selection import StratifiedKFold

    from training.head_training import train_head
    from training.inference import run_model
    from training.splits import split_indices

    X = features(draw, candidate)
    y = draw.y

    def tested(idx):
        return np.mean([X[v][idx] for v in candidate.test_views], axis=0)

    correct, epochs = 0, []
    start = time.monotonic()
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(y, y):
        split = split_indices(y[fit], fractions=(0.9, 0.1, 0.0), seed=seed)
        tr, va = fit[split.train], fit[split.val]
        X_tr = np.concatenate([X[v][tr] for v in candidate.train_views])
        y_tr = np.concatenate([y[tr]] * len(candidate.train_views))
        trained = train_head(
            X_tr, y_tr, tested(va), y[va], n_classes=draw.n_classes, seed=seed,
            **dict(candidate.head),
        )  # fmt: skip
        epochs.append(trained.epochs_run)
        logits = run_model(trained.logits_model, tested(held))
        correct += int((logits.argmax(1) == y[held]).sum())
    return {
        "cv_accuracy": correct / len(y),
        "epochs": epochs,
        "head_seconds": time.monotonic() - start,
        "dim": int(X[candidate.test_views[0]].shape[1]),
    }


L0, L1, L2 = "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"
FLIP = ("orig", "flip")
CROPS = ("orig", "flip", "zoom", "shift_tl", "shift_br")


def candidates(stage: str, *, head_on: tuple[str, ...] = (L0,)) -> list[Candidate]:
    if stage == "views":
        return [
            Candidate("today: lite0 pooled+grid"),
            Candidate("train +flip", train_views=FLIP),
            Candidate("train +flip, test flip-avg", train_views=FLIP, test_views=FLIP),
            Candidate("flip-avg only", train_views=("orig",), test_views=FLIP),
            Candidate("train +crops+flip, test flip-avg", train_views=CROPS, test_views=FLIP),
        ]
    if stage == "backbones":
        return [
            Candidate("lite1", backbones=(L1,)),
            Candidate("lite2", backbones=(L2,)),
            Candidate("lite0+lite1", backbones=(L0, L1)),
        ]  # fmt: skip
    if stage == "head":
        label = "+".join(b.removeprefix("efficientnet_") for b in head_on)
        return [
            Candidate(f"{label}, {name}", backbones=head_on, head=tuple(head.items()))
            for name, head in {
                "label smoothing 0.1": {"label_smoothing": 0.1},
                "dropout 0.5": {"dropout": 0.5},
                "class balance": {"class_balance": True},
                "lr 3e-3": {"learning_rate": 3e-3},
                "hidden 512": {"hidden": 512},
            }.items()
        ]
    raise ValueError(f"unknown stage {stage!r}")


STAGES = ("views", "backbones", "head")


def render(rows: list[dict]) -> str:
    """The study's table: a row per candidate, CV top-1 per task, and the mean."""
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    by = {(r["candidate"], r["task"]): r for r in rows}
    lines = [
        "| candidate | " + " | ".join(tasks) + " | mean | vs today |",
        "|---|" + "---|" * (len(tasks) + 2),
    ]
    base = None
    for name in dict.fromkeys(r["candidate"] for r in rows):
        scores = [by[(name, t)]["cv_accuracy"] for t in tasks if (name, t) in by]
        if len(scores) < len(tasks):
            continue
        mean = float(np.mean(scores))
        base = mean if base is None else base
        cells = " | ".join(f"{100 * s:.1f}" for s in scores)
        lines.append(f"| {name} | {cells} | {100 * mean:.2f} | {100 * (mean - base):+.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    quiet_tensorflow()
    parser = argparse.ArgumentParser(prog="python -m bench.accuracy_cv", description=__doc__)
    parser.add_argument("--datasets", default="../shared/datasets")
    parser.add_argument("--tasks", default="", help="comma-separated subset (default: all five)")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument(
        "--only", default="", help="run only these candidates (names separated by ';')"
    )
    parser.add_argument(
        "--head-on", default=L0, help="head stage: the backbone(s) its heads read, joined by +"
    )
    parser.add_argument("--train-size", type=int, default=1000)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="OUT", help="append rows to this JSON file")
    parser.add_argument("--render", action="store_true", help="print the table of --json")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.render:
        print(render(json.loads(Path(args.json).read_text())["rows"]))
        return 0

    names = all_tasks(args.datasets)
    chosen = [t for t in (args.tasks.split(",") if args.tasks else names)]
    draws = {t: training_draw(names[t], seed=args.seed, train_size=args.train_size) for t in chosen}
    rows = []
    if args.json and Path(args.json).exists():
        rows = json.loads(Path(args.json).read_text())["rows"]
    for stage in args.stages.split(","):
        for candidate in candidates(stage, head_on=tuple(args.head_on.split("+"))):
            if args.only and candidate.name not in args.only.split(";"):
                continue
            scores = []
            for task, draw in draws.items():
                row = {"stage": stage, "candidate": candidate.name, "task": task}
                row.update(cross_validate(draw, candidate, folds=args.folds, seed=args.seed))
                rows = [r for r in rows if (r["candidate"], r["task"]) != (candidate.name, task)]
                rows.append(row)
                scores.append(row["cv_accuracy"])
                print(
                    f"{stage:9} {candidate.name:42} {task:12} ({row['dim']:5d}-d) "
                    f"cv top-1 {100 * row['cv_accuracy']:.1f}%  epochs {row['epochs']}",
                    flush=True,
                )
            print(f"{stage:9} {candidate.name:42} mean {100 * np.mean(scores):.2f}%", flush=True)
            if args.json:
                Path(args.json).parent.mkdir(parents=True, exist_ok=True)
                Path(args.json).write_text(
                    json.dumps({"command": "python -m bench.accuracy_cv " + " ".join(argv),
                                "rows": rows}, indent=2)
                )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
