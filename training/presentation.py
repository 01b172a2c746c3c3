"""What the model pages and the API show of a version: its headline figures, its per-class
table, its confusion matrix, its auto-accept policy and its training curve, read from the
metrics and policy stored on the row (no model is loaded)."""

from __future__ import annotations

from dataclasses import dataclass


def _headline(metrics: dict) -> dict:
    # A multi-label version has no top-1: its exact-match (subset) accuracy stands in.
    return metrics.get("top1_accuracy") or metrics.get("subset_accuracy") or {}


def version_summary(version) -> dict:
    """Top-1 (with its Wilson 95% interval), top-3, log loss, ECE and the number of gold test
    images they were measured on; None where a figure is missing."""
    metrics = version.metrics or {}
    top1 = _headline(metrics)
    top3 = metrics.get("top3_accuracy") or {}
    has_ci = "ci95_low" in top1 and "ci95_high" in top1
    return {
        "top1": top1.get("value"),
        "top1_ci95": [top1["ci95_low"], top1["ci95_high"]] if has_ci else None,
        "top3": top3.get("value"),
        "log_loss": metrics.get("log_loss"),
        "ece": metrics.get("ece"),
        "n_test": metrics.get("n"),
    }


def class_names(version, display_names: dict[int, str], labels: dict) -> list[dict]:
    """One entry per output class: label id, sector key, and the client's name for it."""
    names = []
    for label_id in version.class_labels:
        label = labels.get(label_id)
        names.append(
            {
                "id": label_id,
                "key": label.key if label else str(label_id),
                "name": display_names.get(label_id, label.name if label else str(label_id)),
            }
        )
    return names


def per_class_rows(version, classes: list[dict]) -> list[dict]:
    metrics = version.metrics or {}
    rows = metrics.get("per_class") or metrics.get("per_label") or []
    return [
        {**row, "label": classes[i] if i < len(classes) else None} for i, row in enumerate(rows)
    ]


def confusion_rows(version, classes: list[dict]) -> list[dict]:
    """Rows of the confusion matrix (true class), each with its cells (predicted class) and
    whether a cell is on the diagonal; empty for multi-label versions."""
    matrix = (version.metrics or {}).get("confusion_matrix") or []
    return [
        {
            "label": classes[i] if i < len(classes) else None,
            "cells": [{"count": count, "hit": i == j} for j, count in enumerate(row)],
            "total": sum(row),
        }
        for i, row in enumerate(matrix)
    ]


def policy_view(version, classes: list[dict], policy: dict | None = None) -> dict:
    """The auto-accept policy as the page shows it: target, per-class thresholds with what
    they accepted on the validation images, and coverage and precision on the gold test
    images. ``policy``: the one a client uses with the version (default: the version's)."""
    policy = version.policy or {} if policy is None else policy
    per_class = (policy.get("validation") or {}).get("per_class") or []
    thresholds = policy.get("thresholds") or {}
    rows = []
    for i, label in enumerate(classes):
        chosen = per_class[i] if i < len(per_class) else {}
        threshold = thresholds.get(str(label["id"]))
        rows.append(
            {
                "label": label,
                "threshold": threshold,
                "reachable": threshold is not None,
                "precision": chosen.get("precision"),
                "accepted": chosen.get("accepted"),
                "predicted": chosen.get("predicted"),
            }
        )
    test = policy.get("test") or {}
    ci = test.get("precision_ci95") or [None, None]
    return {
        "present": bool(policy),
        "target": policy.get("target_precision"),
        "rows": rows,
        "validation": policy.get("validation") or {},
        "test": test,
        "test_ci_low": ci[0],
        "test_ci_high": ci[1],
    }


@dataclass
class Curve:
    name: str
    css_class: str
    points: str  # "x,y x,y …" for an SVG polyline


def history_chart(history: list[dict], *, width: int = 560, height: int = 220) -> dict | None:
    """Training and validation loss per epoch as SVG polylines, scaled into a plot area
    inside ``width`` × ``height`` (with room for the axis labels)."""
    entries = [entry for entry in history or [] if isinstance(entry, dict)]
    series = {
        key: [(e.get("epoch", i + 1), e[key]) for i, e in enumerate(entries) if key in e]
        for key in ("loss", "val_loss")
    }
    values = [v for points in series.values() for _, v in points]
    if not values:
        return None
    left, right, top, bottom = 48, 12, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    epochs = [epoch for points in series.values() for epoch, _ in points]
    first, last = min(epochs), max(epochs)
    low, high = min(values), max(values)
    span_x = (last - first) or 1
    span_y = (high - low) or 1.0

    def xy(epoch, value):
        x = left + (epoch - first) / span_x * plot_w
        y = top + (high - value) / span_y * plot_h
        return f"{x:.1f},{y:.1f}"

    curves = [
        Curve(name=name, css_class=key.replace("_", "-"), points=" ".join(xy(*p) for p in pts))
        for key, name in (("loss", "training loss"), ("val_loss", "validation loss"))
        if (pts := series[key])
    ]
    return {
        "width": width,
        "height": height,
        "left": left,
        "right": width - right,
        "top": top,
        "bottom": height - bottom,
        "curves": curves,
        "y_high": high,
        "y_low": low,
        "x_first": first,
        "x_last": last,
        "label_y": height - 8,
        "entries": entries,
    }


def run_phase(run) -> dict:
    """What a training run's progress bar says: the phase it is in and how far into it
    ("embedding 40 of 120 images", then "epoch 7 of at most 200 · loss 0.41 · accuracy
    88%"); the bar counts within the phase, so it does not sit at "epoch 0" while the
    images are embedded."""
    status, phase = run.status, run.phase
    last = run.history[-1] if run.history and isinstance(run.history[-1], dict) else {}
    figures = "".join(
        f" · {name} {fmt(last[key])}"
        for key, name, fmt in (
            ("loss", "loss", lambda v: f"{v:.3f}"),
            ("accuracy", "accuracy", lambda v: f"{v:.0%}"),
            ("val_loss", "validation loss", lambda v: f"{v:.3f}"),
            ("val_accuracy", "validation accuracy", lambda v: f"{v:.0%}"),
        )
        if isinstance(last.get(key), (int, float))
    )
    epochs = f"epoch {run.epoch} of at most {run.max_epochs}"
    if status == "succeeded":
        return {"text": f"done after {epochs.removeprefix('epoch ')}{figures}", "percent": 100}
    if status == "failed":
        return {"text": f"failed while {_phase_words(phase)}", "percent": _percent(run)}
    if status == "queued":
        return {"text": "waiting for a training worker", "percent": 0}
    if phase in ("embedding", "reading"):
        verb = "embedding" if phase == "embedding" else "reading"
        return {
            "text": f"{verb} {run.phase_done} of {run.phase_total} images",
            "percent": _percent(run),
        }
    if phase == "measuring":
        return {
            "text": f"measuring on the gold test images after {run.epoch} epochs{figures}",
            "percent": 100,
        }
    return {"text": epochs + figures, "percent": _percent(run)}


def _phase_words(phase: str) -> str:
    return {
        "embedding": "embedding the images",
        "reading": "reading the images",
        "training": "training",
        "measuring": "measuring",
    }.get(phase, "waiting for a worker")


def _percent(run) -> int:
    if run.phase in ("embedding", "reading"):
        return round(100 * run.phase_done / run.phase_total) if run.phase_total else 0
    return round(run.progress * 100)


def same_gold(result: tuple[int, float, float] | None) -> dict | None:
    """A version against the active one on the same gold test images: (n, its top-1, the
    active's top-1) as the versions table shows it, with which does better."""
    if result is None:
        return None
    n, own, reference = result
    if not n:
        return {"n": 0}
    verdict = "tie" if own == reference else ("better" if own > reference else "worse")
    return {"n": n, "top1": own, "active_top1": reference, "verdict": verdict}


def precision_warning(policy: dict) -> str | None:
    """Words for a measured auto-accept precision under its target on the gold test images
    (what people would find wrong among the model's own tags), or None."""
    test = (policy or {}).get("test") or {}
    target = (policy or {}).get("target_precision")
    precision = test.get("precision")
    if target is None or precision is None or precision >= target:
        return None
    return (
        f"Measured auto-accept precision {precision:.1%} is under its {target:.0%} target on "
        f"the {test.get('n')} gold test images ({test.get('auto_accepted')} tagged by the model "
        "alone): raise the target, or retrain with more verified images."
    )


def reliability_diagram(version, *, n_bins: int = 10, size: int = 260) -> dict | None:
    """Accuracy against calibrated confidence of the top-1 answers on the gold test images
    (the held-out probabilities the version kept), in ``n_bins`` equal bands, as SVG bars
    inside a ``size`` × ``size`` square; None for a version without them (or multi-label)."""
    test = (version.heldout or {}).get("test") or {}
    proba, truth = test.get("proba") or [], test.get("y") or []
    if not proba or len(proba) != len(truth) or not isinstance(truth[0], int):
        return None
    counts, hits, confidence = [0] * n_bins, [0] * n_bins, [0.0] * n_bins
    for row, expected in zip(proba, truth, strict=True):
        top = max(range(len(row)), key=row.__getitem__)
        p = float(row[top])
        band = min(n_bins - 1, max(0, int(p * n_bins - 1e-9)))
        counts[band] += 1
        hits[band] += int(top == expected)
        confidence[band] += p
    left, right, top, bottom = 36, size - 8, 8, size - 24
    width, height = right - left, bottom - top
    bars = []
    for band in range(n_bins):
        if not counts[band]:
            continue
        accuracy = hits[band] / counts[band]
        bar_h = accuracy * height
        bars.append(
            {
                "x": round(left + band * width / n_bins + 1, 1),
                "y": round(bottom - bar_h, 1),
                "width": round(width / n_bins - 2, 1),
                "height": round(bar_h, 1),
                "low": band / n_bins,
                "high": (band + 1) / n_bins,
                "accuracy": accuracy,
                "confidence": confidence[band] / counts[band],
                "count": counts[band],
            }
        )
    return {
        "size": size,
        "left": left,
        "right": right,
        "top": top,
        "bottom": bottom,
        "label_y": size - 8,
        "bars": bars,
    }
