"""Multi-label heads measured on mosaics of single-label photos.

    python -m bench.multilabel --train ../shared/datasets/genki4k-smile/train \\
        [--train DIR ...] [--merge NEW=a,b,...] [--classes a,b,...] \\
        [--size 500] [--test-size 200] [--seed 0] [--backbone efficientnet_lite0] \\
        [--target 0.95] [--json OUT]

Each image is a 2×2 mosaic of four single-label photos drawn at random, and carries the set
of their labels; training and test mosaics are made from disjoint photos. The mosaics are
embedded by the product's frozen backbone (its default embedding kind, through
``training.inference.run_model``) and a multi-label head is trained, calibrated and
measured by the product's own pipeline (``training.pipeline``: sigmoid head, the method's
schedule, temperature on the validation split). Its auto-accept rule is the product's too:
per-label thresholds of presence and absence chosen on out-of-fold probabilities at a
Wilson lower bound of the target (``training.calibration`` and ``training.multi_label``, as
``policy_compute`` calls them), and the image-level rule of ``training.multi_label``; beside
it, the looser rule that takes a label under 0.5 as absent. And in the same run, on the same
embeddings, scikit-learn's one-vs-rest logistic regression.

Reported with 95 % Wilson intervals: per-label precision and recall (a label is predicted
at probability 0.5), the exact-match rate (the predicted set is the true set), and what
auto-accept buys at the target. Test mosaics take part in no choice.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.common import quiet_tensorflow, run_and_report
from bench.folders import (
    ProtocolError,
    apply_merges,
    draw_train_test,
    parse_merges,
    require_images,
    scan_roots,
    select_classes,
)
from training import pipeline

TILES = 4  # photos per mosaic, 2×2
VALIDATION_FRACTION = 0.1
EMBED_BATCH = 32
MIN_SUPPORT = 5  # as the product's policy (training.services.policy)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.multilabel",
        description="Train the product's multi-label head on 2x2 mosaics of single-label "
        "photos and report per-label precision/recall and exact-match rate with 95%% CIs "
        "against one-vs-rest logistic regression on the same embeddings.",
    )
    add = parser.add_argument
    add("--train", action="append", required=True, metavar="DIR", help="class folders")
    add("--merge", action="append", default=[], metavar="NEW=a,b,...")
    add(
        "--classes",
        type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
        help="comma-separated classes to keep, after merging (default: all)",
    )
    add("--size", type=int, default=500, help="training mosaics (4 photos each)")
    add("--test-size", type=int, default=200, help="test mosaics, from other photos")
    add("--seed", type=int, default=0)
    add("--backbone", default="efficientnet_lite0")
    add("--input-size", type=int, default=None, help="mosaic side (default: the backbone's)")
    add("--target", type=float, default=0.95, help="auto-accept target precision")
    add("--folds", type=int, default=pipeline.OUT_OF_FOLD_FOLDS)
    add("--max-epochs", type=int, default=None)
    add("--baseline", action=argparse.BooleanOptionalAction, default=True)
    add("--json", metavar="OUT")
    add(
        "--from-scratch",
        action="store_true",
        help="random backbone weights: for tests of this command only, the figures mean nothing",
    )
    return parser


# --- mosaics ------------------------------------------------------------------------------


def mosaic_groups(n_photos: int, n_mosaics: int, *, seed: int) -> np.ndarray:
    """(n_mosaics, 4) photo indices: each photo in at most one mosaic."""
    if n_mosaics * TILES > n_photos:
        raise ProtocolError(
            f"{n_mosaics} mosaics need {n_mosaics * TILES} photos, only {n_photos} were drawn: "
            "lower --size or --test-size"
        )
    order = np.random.default_rng([seed, 7]).permutation(n_photos)
    return order[: n_mosaics * TILES].reshape(n_mosaics, TILES)


def mosaic_targets(groups: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """The 0/1 label set of each mosaic: every label one of its photos has."""
    targets = np.zeros((len(groups), n_classes), dtype=np.float32)
    for row, members in enumerate(groups):
        targets[row, labels[members]] = 1.0
    return targets


def compose(paths, groups: np.ndarray, size: int) -> np.ndarray:
    """uint8 (n, size, size, 3) mosaics: photo k of a group in quadrant k, each decoded the
    way the product decodes uploads (training.backbones.preprocess)."""
    from training.backbones.preprocess import load_image_for_backbone

    half = size // 2
    out = np.zeros((len(groups), 2 * half, 2 * half, 3), dtype=np.uint8)
    for row, members in enumerate(groups):
        for k, index in enumerate(members):
            y, x = divmod(k, 2)
            out[row, y * half : (y + 1) * half, x * half : (x + 1) * half] = (
                load_image_for_backbone(paths[index], half)
            )
    return out


# --- figures ------------------------------------------------------------------------------


def label_figures(truth: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict:
    """Per-label precision and recall with Wilson 95 % intervals, and the exact-match rate."""
    from training.evaluation import wilson_interval

    truth = truth > 0
    predicted = predicted > 0

    def proportion(k: int, n: int) -> dict:
        low, high = wilson_interval(k, n)
        return {"value": k / n if n else None, "ci95": [low, high], "k": int(k), "n": int(n)}

    per_label = {}
    for c, name in enumerate(classes):
        tp = int((truth[:, c] & predicted[:, c]).sum())
        per_label[name] = {
            "precision": proportion(tp, int(predicted[:, c].sum())),
            "recall": proportion(tp, int(truth[:, c].sum())),
            "prevalence": float(truth[:, c].mean()),
        }
    exact = int((truth == predicted).all(axis=1).sum())
    tp = int((truth & predicted).sum())
    return {
        "per_label": per_label,
        "exact_match": proportion(exact, len(truth)),
        "micro_precision": proportion(tp, int(predicted.sum())),
        "micro_recall": proportion(tp, int(truth.sum())),
    }


def _baseline_proba(X_train, y_train, X_test) -> np.ndarray:
    """scikit-learn's one-vs-rest logistic regression (defaults: C=1, L2) on the same
    embeddings; it tunes nothing, so it trains on the whole training draw."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    clf = OneVsRestClassifier(LogisticRegression(max_iter=2000))
    clf.fit(X_train, y_train.astype(np.int64))
    return clf.predict_proba(X_test)


# --- the run ------------------------------------------------------------------------------


def run_multilabel(args, *, log=print) -> dict:
    from training.backbones import build_backbone, get_spec
    from training.calibration import per_class_thresholds
    from training.inference import run_model
    from training.multi_label import absence_thresholds, auto_tag_figures

    started = time.monotonic()
    try:
        spec = get_spec(args.backbone)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    size = args.input_size or spec.input_size
    embedding = spec.default_embedding
    tree = select_classes(
        apply_merges(scan_roots(args.train), parse_merges(args.merge)), args.classes
    )
    require_images(tree)
    classes = list(args.classes) if args.classes else tree.classes
    n_classes = len(classes)
    train_draw, test_draw = draw_train_test(
        tree,
        None,
        classes=classes,
        train_size=args.size * TILES,
        test_size=args.test_size * TILES,
        seed=args.seed,
    )
    train_groups = mosaic_groups(len(train_draw.paths), args.size, seed=args.seed)
    test_groups = mosaic_groups(len(test_draw.paths), args.test_size, seed=args.seed + 1)
    y_train = mosaic_targets(train_groups, train_draw.labels, n_classes)
    y_test = mosaic_targets(test_groups, test_draw.labels, n_classes)

    t0 = time.monotonic()
    pixels_train = compose(train_draw.paths, train_groups, size)
    pixels_test = compose(test_draw.paths, test_groups, size)
    compose_seconds = time.monotonic() - t0
    t0 = time.monotonic()
    backbone = build_backbone(
        args.backbone, input_size=size, from_scratch=args.from_scratch, embedding=embedding
    )
    emb_train = np.asarray(run_model(backbone, pixels_train, batch_size=EMBED_BATCH), np.float32)
    emb_test = np.asarray(run_model(backbone, pixels_test, batch_size=EMBED_BATCH), np.float32)
    embed_seconds = time.monotonic() - t0
    log(
        f"{args.backbone} ({size} px, {embedding}): {len(y_train)} training and "
        f"{len(y_test)} test mosaics of {n_classes} labels, embedded in {embed_seconds:.1f} s"
    )

    # The product's training: a validation split for the schedule and the temperature.
    t0 = time.monotonic()
    fit_idx, val_idx = pipeline.split_train_val(
        y_train, val_fraction=VALIDATION_FRACTION, multi_label=True, seed=args.seed
    )
    trained = pipeline.fit(
        pipeline.HEAD,
        emb_train[fit_idx],
        y_train[fit_idx],
        emb_train[val_idx],
        y_train[val_idx],
        n_classes=n_classes,
        multi_label=True,
        max_epochs=args.max_epochs,
        seed=args.seed,
    )
    measured = pipeline.measure(
        trained.logits_model,
        emb_train[val_idx],
        y_train[val_idx],
        emb_test,
        y_test,
        class_names=classes,
        multi_label=True,
    )
    train_seconds = time.monotonic() - t0
    # The product's auto-accept policy: thresholds per label on out-of-fold probabilities.
    t0 = time.monotonic()
    oof_proba, kept = pipeline.out_of_fold_proba(
        emb_train,
        y_train,
        n_classes=n_classes,
        multi_label=True,
        folds=args.folds,
        max_epochs=args.max_epochs,
        seed=args.seed,
    )
    chosen = per_class_thresholds(
        oof_proba,
        y_train[kept],
        target_precision=args.target,
        min_support=MIN_SUPPORT,
        multi_label=True,
        lower_bound=True,
    )
    absent = absence_thresholds(
        oof_proba, y_train[kept], target_precision=args.target, min_support=MIN_SUPPORT
    )
    policy_seconds = time.monotonic() - t0
    product = label_figures(y_test, measured.test_proba >= 0.5, classes)
    product.update(
        # The product's rule: every label decided, present or absent, at the target.
        auto_accept=auto_tag_figures(measured.test_proba, y_test, chosen.values, absent),
        # For comparison: a label under 0.5 taken as absent, whatever its doubt.
        auto_accept_likely_rule=auto_tag_figures(measured.test_proba, y_test, chosen.values),
        thresholds={name: float(t) for name, t in zip(classes, chosen.values, strict=True)},
        absent_thresholds={name: float(t) for name, t in zip(classes, absent, strict=True)},
        temperature=measured.temperature,
        epochs_run=trained.epochs_run,
        best_epoch=trained.best_epoch,
        log_loss=measured.metrics["log_loss"],
    )

    baseline = None
    if args.baseline:
        t0 = time.monotonic()
        base_proba = _baseline_proba(emb_train, y_train, emb_test)
        baseline = label_figures(y_test, base_proba >= 0.5, classes)
        baseline.update(
            name="one-vs-rest logistic regression (scikit-learn defaults), same embeddings",
            seconds=time.monotonic() - t0,
        )

    return {
        "command": "python -m bench.multilabel " + " ".join(getattr(args, "argv", [])),
        "backbone": args.backbone,
        "embedding": embedding,
        "input_size": size,
        "weights": "random (from scratch)" if args.from_scratch else "imagenet",
        "seed": args.seed,
        "classes": classes,
        "n_train": int(len(y_train)),
        "n_fit": int(len(fit_idx)),
        "n_val": int(len(val_idx)),
        "n_test": int(len(y_test)),
        "labels_per_mosaic": {
            "train": float(y_train.sum(axis=1).mean()),
            "test": float(y_test.sum(axis=1).mean()),
        },
        "target": args.target,
        "product": product,
        "baseline": baseline,
        "seconds": {
            "composing": compose_seconds,
            "embedding": embed_seconds,
            "training": train_seconds,
            "policy": policy_seconds,
            "total": time.monotonic() - started,
        },
    }


def _pct(p: dict) -> str:
    if p["value"] is None:
        return "   —  "
    low, high = p["ci95"]
    return f"{100 * p['value']:5.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def format_report(result: dict) -> str:
    lines = [
        f"{result['backbone']} ({result['input_size']} px, {result['embedding']}), seed "
        f"{result['seed']}: {result['n_train']} training mosaics ({result['n_fit']} fit, "
        f"{result['n_val']} validation), {result['n_test']} test mosaics; "
        f"{result['labels_per_mosaic']['test']:.2f} labels per test mosaic",
    ]
    sides = [("product (sigmoid head)", result["product"])]
    if result["baseline"]:
        sides.append(("baseline (one-vs-rest logreg)", result["baseline"]))
    for title, side in sides:
        lines.append(f"{title}:")
        lines.append(f"  exact match      {_pct(side['exact_match'])}")
        lines.append(
            f"  micro precision  {_pct(side['micro_precision'])}   "
            f"micro recall {_pct(side['micro_recall'])}"
        )
        for name, figures in side["per_label"].items():
            lines.append(
                f"  {name:<14} precision {_pct(figures['precision'])}   "
                f"recall {_pct(figures['recall'])}"
            )
    rules = [
        ("every label decided (the product)", result["product"]["auto_accept"]),
        ("labels under 0.5 taken as absent", result["product"]["auto_accept_likely_rule"]),
    ]
    lines.append(f"auto-accept at {result['target']:.0%} (thresholds chosen out of fold):")
    for title, auto in rules:
        if auto["auto_accepted"]:
            low, high = auto["precision_ci95"]
            lines.append(
                f"  {title}: {auto['coverage']:.1%} of test mosaics tagged alone, tag "
                f"precision {100 * auto['precision']:.1f} [{100 * low:.1f}, {100 * high:.1f}], "
                f"exact set {100 * auto['exact_match']:.1f}%"
            )
        else:
            lines.append(f"  {title}: no test mosaic tagged alone")
    s = result["seconds"]
    lines.append(
        f"seconds: composing {s['composing']:.1f}, embedding {s['embedding']:.1f}, training "
        f"{s['training']:.1f}, policy {s['policy']:.1f}, total {s['total']:.1f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_tensorflow()
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.size < 2 or args.test_size < 1:
        print("error: --size must be at least 2 and --test-size at least 1", file=sys.stderr)
        return 2
    if not 0.5 <= args.target <= 1.0:
        print("error: --target must be between 0.5 and 1.0", file=sys.stderr)
        return 2

    return run_and_report(run_multilabel, args, report=format_report)


if __name__ == "__main__":
    sys.exit(main())
