"""The comparison protocol: train on a fixed-seed draw of labelled images, score on held-out ones.

    python -m bench.protocol --train ../shared/datasets/genki4k-smile/train \\
        [--train DIR ...] [--test DIR ...] [--merge NEW=a,b,...] [--classes a,b,...] \\
        [--train-size 1000] [--test-size 100] [--seed 0] [--backbone NAME] \\
        [--mode head|finetune] [--noise 0.0] [--json OUT]

Without --backbone, --mode, --input-size, --max-epochs or --embedding it runs what a new
install of the product trains: the defaults come from ``training.defaults`` (which the
settings read too, environment overrides included) and the backbone's own choice of
embedding, so one command measures what users get.

The method was judged on 1,000 training and 100 test images per task, by top-1 and top-3
accuracy; this runs the product's own training code on such a draw from any class-folder
tree and prints (and with --json writes) the figures with 95 % Wilson intervals, beside a
naive baseline on the very same split: scikit-learn's logistic regression on the frozen
backbone's embeddings.

What runs is what the product runs: images are decoded by
``training.backbones.preprocess.load_image_for_backbone``, embedded by the frozen backbone
through ``training.inference.run_model``, and split, trained, calibrated and measured by
the product's training pipeline (``training.pipeline``): a head on the embeddings (mode
head) or the fine-tuned backbone (mode finetune) under the method's schedule. The
validation split that schedule needs is carved out of the training draw (90/10 here, since
the test images are drawn separately); the temperature is fitted on it, as the product
does, before the test images are scored. Test images are never used for any choice.

Interface kept stable: others script against the options and the JSON keys.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import quiet_tensorflow, run_and_report
from bench.folders import (
    ClassTree,
    ProtocolError,
    apply_merges,
    draw_train_test,
    flip_labels,
    parse_merges,
    require_images,
    scan_roots,
    select_classes,
)
from training import defaults, pipeline

VALIDATION_FRACTION = 0.1
EMBED_BATCH = 32


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.protocol",
        description="Train the product's model on a fixed-seed draw of a class-folder tree "
        "and report top-1/top-3 accuracy with 95%% CIs against a logistic-regression "
        "baseline on the same split.",
    )
    add = parser.add_argument
    add(
        "--train",
        action="append",
        required=True,
        metavar="DIR",
        help="folder with one sub-folder per class; repeat to merge roots by class name",
    )
    add(
        "--test",
        action="append",
        default=[],
        metavar="DIR",
        help="held-out class folders; without it, test images come from the --train roots, "
        "disjoint from the training draw",
    )
    add(
        "--merge",
        action="append",
        default=[],
        metavar="NEW=a,b,...",
        help="join classes a, b, ... into NEW (repeatable)",
    )
    add(
        "--classes",
        type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
        help="comma-separated classes to keep, after merging (default: all)",
    )
    add("--train-size", type=int, default=1000)
    add("--test-size", type=int, default=100)
    add("--seed", type=int, default=0)
    add(
        "--backbone",
        default=None,
        help="default: the product's (training.defaults, which the settings read: "
        f"{defaults.BACKBONE_ENV} or {defaults.DEFAULT_BACKBONE})",
    )
    add(
        "--mode",
        choices=list(pipeline.MODES),
        default=None,
        help=f"default: the product's ({defaults.DEFAULT_MODE})",
    )
    add(
        "--noise",
        type=float,
        default=0.0,
        help="fraction of training labels flipped at random to another class",
    )
    add("--json", metavar="OUT", help="write the results as JSON to OUT")
    add(
        "--input-size",
        type=int,
        default=None,
        help="backbone input side in pixels (default: the product's: "
        f"{defaults.INPUT_SIZE_ENV} if set, else the backbone's own)",
    )
    add(
        "--max-epochs",
        type=int,
        default=None,
        help="cap on epochs (default: the product's, "
        f"{defaults.MAX_EPOCHS['head']} for heads, {defaults.MAX_EPOCHS['finetune']} for "
        "fine-tuning)",
    )
    add(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also fit the logistic-regression baseline on the same split (default: on)",
    )
    add(
        "--embedding",
        choices=["pooled", "pooled+grid", "pooled+grid+flip"],
        default=None,
        help="head mode: the kind of embedding the head trains on. Default: the product's "
        "choice for the backbone (pooled+grid for EfficientNet-Lite: the pooled output plus a "
        "3x3 grid of its stride-32 stage-6 features; pooled for Inception-v3); 'pooled' is "
        "the backbone's plain pooled output; 'pooled+grid+flip' adds the mirror image's "
        "pooled+grid (the head trains on both views and averages them when it predicts)",
    )
    add("--weights", default=None, help="file of ImageNet weights, if not the default place")
    add(
        "--embedding-cache",
        metavar="DIR",
        help="keep the frozen backbone's embeddings in DIR (keyed by file content, backbone, "
        "kind and input size) and reuse them: runs that differ only in the head embed once",
    )
    add(
        "--from-scratch",
        action="store_true",
        help="random backbone weights: for tests of this command only, the figures mean nothing",
    )
    return parser


# --- data ---------------------------------------------------------------------------------


def _resolve_trees(args) -> tuple[ClassTree, ClassTree | None, list[str]]:
    merges = parse_merges(args.merge)
    train = scan_roots(args.train)
    train = apply_merges(train, merges)
    train = select_classes(train, args.classes)
    require_images(train)
    classes = list(args.classes) if args.classes else train.classes
    test = None
    if args.test:
        test = scan_roots(args.test)
        test = apply_merges(test, merges, require_sources=False)
        test = ClassTree(
            files={c: f for c, f in test.files.items() if c in classes},
            folders={c: f for c, f in test.folders.items() if c in classes},
            skipped=test.skipped,
        )
    return train, test, classes


def _load_pixels(paths, size: int) -> tuple[np.ndarray, list[int], list[str]]:
    """uint8 (n, size, size, 3) of the readable images, their positions, and the errors."""
    from training.backbones.preprocess import load_image_for_backbone

    pixels, kept, errors = [], [], []
    for i, path in enumerate(paths):
        try:
            pixels.append(load_image_for_backbone(path, size))
            kept.append(i)
        except Exception as exc:  # a corrupt file costs that image, not the run
            errors.append(f"{path}: {exc}")
    array = np.stack(pixels) if pixels else np.zeros((0, size, size, 3), np.uint8)
    return array, kept, errors


# --- models -------------------------------------------------------------------------------


def _embed(backbone, pixels: np.ndarray) -> np.ndarray:
    from training.inference import run_model

    return np.asarray(run_model(backbone, pixels, batch_size=EMBED_BATCH), dtype=np.float32)


def _baseline(emb_train, y_train, emb_test, n_classes: int) -> np.ndarray:
    """The naive probe: scikit-learn's default logistic regression (C=1, L2) on the raw
    embeddings of the whole training draw; it tunes nothing, so it needs no validation."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=2000)
    clf.fit(emb_train, y_train)
    proba = np.zeros((len(emb_test), n_classes))
    proba[:, clf.classes_] = clf.predict_proba(emb_test)
    return proba


def _summary(metrics: dict) -> dict:
    keys = ("top1_accuracy", "top3_accuracy", "per_class", "macro_f1", "log_loss", "ece")
    return {k: metrics[k] for k in keys}


# --- the run ------------------------------------------------------------------------------


def apply_product_defaults(args) -> None:
    """Fill what the command line left out with what a new install of the product trains."""
    if args.backbone is None:
        args.backbone = defaults.default_backbone()
    if args.mode is None:
        args.mode = defaults.DEFAULT_MODE
    if args.max_epochs is None:
        args.max_epochs = defaults.MAX_EPOCHS[args.mode]
    if args.input_size is None:
        try:
            args.input_size = defaults.backbone_input_size() or None
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None


def run_protocol(args, *, log=print) -> dict:
    from training.backbones import POOLED, embedding_views, get_spec

    started = time.monotonic()
    apply_product_defaults(args)
    try:
        spec = get_spec(args.backbone)  # fails early on an unknown backbone
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    size = args.input_size or spec.input_size
    if args.mode == "head":
        embedding = args.embedding or spec.default_embedding
    elif args.embedding not in (None, POOLED):
        raise ProtocolError(f"--embedding {args.embedding} applies to --mode head only")
    else:
        embedding = POOLED  # only the probe embeds; it reads the pooled output
    try:
        spec.embedding_length(embedding)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    train_tree, test_tree, classes = _resolve_trees(args)
    n_classes = len(classes)
    train_draw, test_draw = draw_train_test(
        train_tree,
        test_tree,
        classes=classes,
        train_size=args.train_size,
        test_size=args.test_size,
        seed=args.seed,
    )
    notes = []
    skipped = len(train_tree.skipped) + (len(test_tree.skipped) if test_tree else 0)
    if skipped:
        notes.append(f"skipped {skipped} file(s) that are not images")
    if train_draw.truncated:
        notes.append(
            f"--train-size {args.train_size}: only {train_draw.available} images available; "
            f"using {len(train_draw.paths)}"
        )
    if test_draw.truncated:
        notes.append(
            f"--test-size {args.test_size}: only {test_draw.available} test images available; "
            f"using all {len(test_draw.paths)}"
        )
    if not len(test_draw.paths):
        raise ProtocolError("no test images: nothing is left to test on after the training draw")
    if test_tree is not None:
        absent = [c for c in classes if not test_tree.files.get(c)]
        if absent:
            notes.append(f"no test images for class(es) {', '.join(absent)}")
    for note in notes:
        log(f"note: {note}")

    # Noise is applied to the whole training draw before validation is carved out of it:
    # the product's validation images come from the same (noisy) verified labels.
    y_clean = train_draw.labels
    y_train, flipped = flip_labels(y_clean, args.noise, n_classes=n_classes, seed=args.seed)

    t0 = time.monotonic()
    X_train_pix, kept_train, errors = _load_pixels(train_draw.paths, size)
    X_test_pix, kept_test, test_errors = _load_pixels(test_draw.paths, size)
    load_seconds = time.monotonic() - t0
    errors += test_errors
    if errors:
        notes.append(f"{len(errors)} image(s) could not be decoded and were left out")
        log(f"note: {notes[-1]}: {errors[:3]}")
    y_train = y_train[kept_train]
    y_clean = y_clean[kept_train]
    y_test = test_draw.labels[kept_test]

    fit_idx, val_idx = pipeline.split_train_val(
        y_train, val_fraction=VALIDATION_FRACTION, seed=args.seed
    )
    if not len(val_idx):
        raise ProtocolError(
            f"the training draw ({len(y_train)} images) is too small to carve out a "
            "validation split; the splitter gives a class one validation image from 5 "
            "training images on: raise --train-size"
        )

    weights_note = "random weights (--from-scratch)" if args.from_scratch else "ImageNet weights"
    log(
        f"{args.backbone} ({size} px, {weights_note}), mode {args.mode}: "
        f"{len(y_train)} training images ({len(fit_idx)} fit, {len(val_idx)} validation), "
        f"{len(y_test)} test images, {n_classes} classes"
    )

    embed_seconds = 0.0
    emb_train = emb_test = None
    cached = args.embedding_cache and not (args.from_scratch or args.weights)
    if (args.mode == "head" or args.baseline) and cached:
        from bench.embedding_cache import EmbeddingCache

        # The same backbone, kind and decoding; each image embedded once across runs.
        cache = EmbeddingCache(
            args.backbone, embedding, "orig", size, root=Path(args.embedding_cache)
        )
        emb_train = cache.get([train_draw.paths[i] for i in kept_train], log=log)
        emb_test = cache.get([test_draw.paths[i] for i in kept_test], log=log)
        build_seconds = 0.0
        # What embedding these images costs, as measured when they were embedded.
        embed_seconds = cache.seconds_per_image * (len(emb_train) + len(emb_test))
        log(
            f"embeddings of {len(emb_train) + len(emb_test)} images from {cache.path} "
            f"({1000 * cache.seconds_per_image:.1f} ms/image when embedded)"
        )
    elif args.mode == "head" or args.baseline:
        from training.backbones import build_backbone

        t0 = time.monotonic()
        backbone = build_backbone(
            args.backbone,
            input_size=size,
            weights=args.weights,
            from_scratch=args.from_scratch,
            embedding=embedding,
        )
        build_seconds = time.monotonic() - t0
        t0 = time.monotonic()
        emb_train = _embed(backbone, X_train_pix)
        emb_test = _embed(backbone, X_test_pix)
        embed_seconds = time.monotonic() - t0
        log(f"embedded {len(emb_train) + len(emb_test)} images in {embed_seconds:.1f} s")
    else:
        build_seconds = 0.0

    t0 = time.monotonic()
    if args.mode == "head":
        X_fit, X_val, X_test = emb_train[fit_idx], emb_train[val_idx], emb_test
    else:
        X_fit, X_val, X_test = X_train_pix[fit_idx], X_train_pix[val_idx], X_test_pix
    trained = pipeline.fit(
        args.mode,
        X_fit,
        y_train[fit_idx],
        X_val,
        y_train[val_idx],
        n_classes=n_classes,
        backbone=args.backbone,
        input_size=size,
        weights=args.weights,
        from_scratch=args.from_scratch,
        max_epochs=args.max_epochs,
        seed=args.seed,
        views=embedding_views(embedding) if args.mode == "head" else 1,
        progress=None if args.mode == "head" else _epoch_log(log, t0),
    )
    train_seconds = time.monotonic() - t0
    log(
        f"trained in {train_seconds:.1f} s: {trained.epochs_run} epochs, best {trained.best_epoch}"
        f", decays after {trained.decay_epochs}"
    )

    t0 = time.monotonic()
    measured = pipeline.measure(
        trained.logits_model, X_val, y_train[val_idx], X_test, y_test, class_names=classes
    )
    proba = measured.test_proba
    evaluate_seconds = time.monotonic() - t0
    product = _summary(measured.metrics)
    product.update(
        temperature=measured.temperature,
        epochs_run=trained.epochs_run,
        best_epoch=trained.best_epoch,
        decay_epochs=list(trained.decay_epochs),
        validation_accuracy_best=_best_val_accuracy(trained),
    )

    baseline = None
    if args.baseline:
        from training.evaluation import evaluate

        t0 = time.monotonic()
        # The probe always sees the backbone's plain pooled embedding (the first
        # embedding_dim columns of any other kind).
        dim = spec.embedding_dim
        base_proba = _baseline(emb_train[:, :dim], y_train, emb_test[:, :dim], n_classes)
        baseline = _summary(evaluate(y_test, base_proba, class_names=classes))
        baseline.update(
            name="logistic regression (scikit-learn defaults) on frozen embeddings",
            n_train=int(len(y_train)),
            seconds=time.monotonic() - t0,
            agreement_with_product=float((base_proba.argmax(1) == proba.argmax(1)).mean()),
        )

    return {
        "command": "python -m bench.protocol " + " ".join(getattr(args, "argv", [])),
        "backbone": args.backbone,
        "mode": args.mode,
        "input_size": size,
        "embedding": embedding,
        "max_epochs": args.max_epochs,
        "weights": "random (from scratch)" if args.from_scratch else "imagenet",
        "seed": args.seed,
        "classes": classes,
        "n_train": int(len(y_train)),
        "n_fit": int(len(fit_idx)),
        "n_val": int(len(val_idx)),
        "n_test": int(len(y_test)),
        "train_per_class": _counts(y_train if not len(flipped) else y_clean, n_classes, classes),
        "test_per_class": _counts(y_test, n_classes, classes),
        "noise": {
            "fraction": args.noise,
            "flipped": int(len(flipped)),
            "actual_fraction": float((y_train != y_clean).mean()) if len(y_train) else 0.0,
        },
        "skipped_non_images": skipped,
        "undecodable": len(errors),
        "notes": notes,
        "product": product,
        "baseline": baseline,
        "seconds": {
            "loading": load_seconds,
            "backbone_build": build_seconds,
            "embedding": embed_seconds,
            "training": train_seconds,
            "evaluating": evaluate_seconds,
            "total": time.monotonic() - started,
        },
    }


def _epoch_log(log, started: float):
    """Fine-tuning takes minutes an epoch: say how far it has got."""
    return lambda epoch, logs: log(
        f"  epoch {epoch}: loss {logs.get('loss', float('nan')):.4f}, val_loss "
        f"{logs.get('val_loss', float('nan')):.4f}, val_accuracy "
        f"{logs.get('val_accuracy', float('nan')):.3f}, lr {logs.get('lr', 0):.0e} "
        f"({time.monotonic() - started:.0f} s)"
    )


def _best_val_accuracy(trained) -> float | None:
    values = trained.history.get("val_accuracy")
    if not values or trained.best_epoch is None or trained.best_epoch >= len(values):
        return None
    return float(values[trained.best_epoch])


def _counts(y, n_classes: int, classes: list[str]) -> dict[str, int]:
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    return {c: int(n) for c, n in zip(classes, counts, strict=True)}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_tensorflow()
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.train_size < 2 or args.test_size < 1:
        print("error: --train-size must be at least 2 and --test-size at least 1", file=sys.stderr)
        return 2

    from bench.protocol_report import format_report

    return run_and_report(run_protocol, args, report=format_report)


if __name__ == "__main__":
    sys.exit(main())
