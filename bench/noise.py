"""The noise benchmark: does the product's label-noise audit find labels flipped on purpose,
and does leaving its suspects out win back the accuracy the noise cost?

    python -m bench.noise --train DIR [--merge NEW=a,b ...] [--classes a,b,...] [--size 2000]
                          [--noise 0.1] [--seed 0] [--json OUT]

Draws --size images from a class-folder tree (as bench.protocol does: same folders, --merge
and --classes), flips --noise of their labels at random (seeded, ``bench.folders.flip_labels``),
embeds them with the product's default backbone and embedding, and runs the product's audit
(``training.noise_heads.audit_with_product_heads``, what the training-queue task runs): the
k-fold heads, the neighbours and cleanlab's confident learning, with the method's spread read
from a head trained on the noisy labels, as the product reads it from the version it just
trained. For each signal and the combined queue it prints precision and recall of the top k
suspects (k = the number flipped; with that k the two are equal), and the top-1 accuracy on a
clean held-out test draw of a head trained (a) on the noisy labels, (b) on them without the
combined top-k suspects, (c) on the clean labels.

Interface kept stable: others script against the options and the JSON keys.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from bench.common import quiet_tensorflow, run_and_report
from bench.folders import ProtocolError, draw_train_test, flip_labels

VALIDATION_FRACTION = 0.1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.noise",
        description="Flip a share of labels on a draw of a class-folder tree and measure how "
        "well the product's label-noise audit finds them.",
    )
    add = parser.add_argument
    add("--train", action="append", required=True, metavar="DIR", help="class folders")
    add("--merge", action="append", default=[], metavar="NEW=a,b,...")
    add(
        "--classes",
        type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
        help="comma-separated classes to keep, after merging (default: all)",
    )
    add("--size", type=int, default=2000, help="images drawn for the audit")
    add("--test-size", type=int, default=None, help="clean test images (default: --size / 2)")
    add("--noise", type=float, default=0.1, help="fraction of labels flipped")
    add("--seed", type=int, default=0)
    add("--json", metavar="OUT")
    add("--backbone", default=None, help="default: the product's")
    add("--input-size", type=int, default=None, help=argparse.SUPPRESS)
    add("--max-epochs", type=int, default=None, help=argparse.SUPPRESS)
    add("--from-scratch", action="store_true", help=argparse.SUPPRESS)  # tests only
    add("--weights", default=None)
    return parser


def _topk(scores: np.ndarray, flipped: set[int], k: int) -> dict:
    top = np.argsort(-scores, kind="stable")[:k]
    hits = len(flipped & {int(i) for i in top})
    return {
        "k": k,
        "hits": hits,
        "precision": hits / k if k else 0.0,
        "recall": hits / len(flipped) if flipped else 0.0,
    }


def _head_accuracy(X, y, X_test, y_test, *, n_classes, backbone, max_epochs, seed):
    from training import pipeline

    fit_idx, val_idx = pipeline.split_train_val(y, val_fraction=VALIDATION_FRACTION, seed=seed)
    trained = pipeline.fit(
        "head",
        X[fit_idx],
        y[fit_idx],
        X[val_idx],
        y[val_idx],
        n_classes=n_classes,
        backbone=backbone,
        max_epochs=max_epochs,
        seed=seed,
    )
    proba = trained.model.predict(X_test, verbose=0)
    return float((proba.argmax(axis=1) == y_test).mean()), trained


def run(args, *, log=print) -> dict:
    from bench.protocol import _embed, _load_pixels, _resolve_trees
    from training.backbones import build_backbone, get_spec
    from training.noise_heads import audit_with_product_heads

    started = time.monotonic()
    backbone_name = args.backbone or _default_backbone()
    try:
        spec = get_spec(backbone_name)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from None
    size = args.input_size or spec.input_size
    embedding = spec.default_embedding
    args.test = []
    tree, _, classes = _resolve_trees(args)
    n_classes = len(classes)
    test_size = args.test_size or max(1, args.size // 2)
    draw, test_draw = draw_train_test(
        tree, None, classes=classes, train_size=args.size, test_size=test_size, seed=args.seed
    )
    if not len(test_draw.paths):
        raise ProtocolError("no test images are left after the draw: lower --size")
    X_pix, kept, errors = _load_pixels(draw.paths, size)
    T_pix, kept_test, test_errors = _load_pixels(test_draw.paths, size)
    y_clean = draw.labels[kept]
    y_test = test_draw.labels[kept_test]
    y_noisy, flipped_idx = flip_labels(y_clean, args.noise, n_classes=n_classes, seed=args.seed)
    flipped = {int(i) for i in np.flatnonzero(y_noisy != y_clean)}
    k = len(flipped)
    log(
        f"{backbone_name} ({size} px, {embedding}): {len(y_clean)} images, {k} labels flipped, "
        f"{len(y_test)} clean test images, {n_classes} classes"
    )

    t0 = time.monotonic()
    backbone = build_backbone(
        backbone_name,
        input_size=size,
        weights=args.weights,
        from_scratch=args.from_scratch,
        embedding=embedding,
    )
    X = _embed(backbone, X_pix)
    X_test = _embed(backbone, T_pix)
    embed_seconds = time.monotonic() - t0
    log(f"embedded {len(X) + len(X_test)} images in {embed_seconds:.1f} s")

    common = dict(n_classes=n_classes, backbone=backbone_name, max_epochs=args.max_epochs)
    t0 = time.monotonic()
    acc_noisy, noisy_head = _head_accuracy(X, y_noisy, X_test, y_test, seed=args.seed, **common)
    # The spread signal reads the model trained on the labels being audited, as the product's
    # task reads the version just trained.
    model_proba = np.asarray(noisy_head.model.predict(X, verbose=0), dtype=np.float64)
    # The fold heads have the cap the other heads have (the product's unless a test sets one).
    audit = audit_with_product_heads(
        X,
        y_noisy,
        n_classes=n_classes,
        model_proba=model_proba,
        seed=args.seed,
        max_epochs=args.max_epochs,
    )
    audit_seconds = time.monotonic() - t0
    log(f"audited in {audit_seconds:.1f} s")

    signals = {name: _topk(s, flipped, k) for name, s in audit.signal_scores().items()}
    suspects = {s.index for s in audit.suspects}
    voted_hits = len(suspects & flipped)
    voted = {
        "n": len(suspects),
        "hits": voted_hits,
        "precision": voted_hits / len(suspects) if suspects else 0.0,
        "recall": voted_hits / k if k else 0.0,
    }
    excluded = np.argsort(-audit.score, kind="stable")[:k]
    keep = np.setdiff1d(np.arange(len(y_noisy)), excluded)
    acc_excluded, _ = _head_accuracy(
        X[keep], y_noisy[keep], X_test, y_test, seed=args.seed, **common
    )
    acc_clean, _ = _head_accuracy(X, y_clean, X_test, y_test, seed=args.seed, **common)
    cost = acc_clean - acc_noisy
    recovered = (acc_excluded - acc_noisy) / cost if cost > 0 else None
    return {
        "command": "python -m bench.noise " + " ".join(getattr(args, "argv", [])),
        "backbone": backbone_name,
        "embedding": embedding,
        "input_size": size,
        "seed": args.seed,
        "classes": classes,
        "n": int(len(y_clean)),
        "n_test": int(len(y_test)),
        "noise": args.noise,
        "flipped": k,
        "undecodable": len(errors) + len(test_errors),
        "signals": signals,
        "voted_suspects": voted,
        "accuracy": {
            "noisy": acc_noisy,
            "excluding_top_k": acc_excluded,
            "clean": acc_clean,
            "share_of_cost_recovered": recovered,
        },
        "seconds": {
            "embedding": embed_seconds,
            "audit": audit_seconds,
            "total": time.monotonic() - started,
        },
    }


def _default_backbone() -> str:
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taxonomy_site.settings")
    from django.conf import settings

    return settings.DEFAULT_BACKBONE


def format_report(result: dict) -> str:
    lines = [
        f"{result['command']}",
        f"{result['backbone']} ({result['input_size']} px, {result['embedding']}), seed "
        f"{result['seed']}: {result['n']} images, {result['flipped']} flipped "
        f"(noise {result['noise']}), {result['n_test']} clean test images",
        "",
        f"{'signal':<20} {'top-k precision':>16} {'top-k recall':>13}",
    ]
    for name, s in result["signals"].items():
        lines.append(f"{name:<20} {s['precision']:>16.3f} {s['recall']:>13.3f}")
    v = result["voted_suspects"]
    lines.append(
        f"{'voted suspects':<20} {v['precision']:>16.3f} {v['recall']:>13.3f}  ({v['n']} images)"
    )
    a = result["accuracy"]
    share = a["share_of_cost_recovered"]
    lines += [
        "",
        "top-1 accuracy on the clean test draw of a head trained",
        f"  (a) on the noisy labels:          {a['noisy']:.3f}",
        f"  (b) without the top-k suspects:   {a['excluding_top_k']:.3f}",
        f"  (c) on the clean labels:          {a['clean']:.3f}",
        "  share of the noise's cost recovered: "
        + ("n/a (the noise cost nothing)" if share is None else f"{share:.2f}"),
        f"({result['seconds']['total']:.0f} s in all)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    quiet_tensorflow()
    args = build_parser().parse_args(argv)
    args.argv = argv
    if args.size < 10:
        print("error: --size must be at least 10", file=sys.stderr)
        return 2
    if not 0.0 < args.noise < 1.0:
        print(f"error: --noise must be between 0 and 1, got {args.noise}", file=sys.stderr)
        return 2

    return run_and_report(run, args, report=format_report, errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
