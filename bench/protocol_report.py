"""The comparison protocol's printed report: the draw, the figures with their 95 % Wilson
intervals beside the baseline's, per-class precision and recall, the schedule and the time."""

from __future__ import annotations


def _pct(p: dict) -> str:
    return f"{100 * p['value']:5.1f}% [{100 * p['ci95_low']:.1f}, {100 * p['ci95_high']:.1f}]"


def format_report(result: dict) -> str:
    lines = [
        f"backbone {result['backbone']} ({result['input_size']} px, {result['weights']}), "
        f"mode {result['mode']}, embedding {result['embedding']}, seed {result['seed']}",
        f"classes: {', '.join(result['classes'])}",
        f"n_train {result['n_train']} (fit {result['n_fit']}, validation {result['n_val']}), "
        f"n_test {result['n_test']}",
        "  train per class: " + ", ".join(f"{c} {n}" for c, n in result["train_per_class"].items()),
        "  test per class:  " + ", ".join(f"{c} {n}" for c, n in result["test_per_class"].items()),
    ]
    noise = result["noise"]
    if noise["fraction"]:
        lines.append(
            f"label noise {noise['fraction']:.2f}: {noise['flipped']} training labels flipped"
        )
    for note in result["notes"]:
        lines.append(f"note: {note}")
    k = result["product"]["top3_accuracy"]["k"]
    lines.append(f"{'':22}{'top-1 (95% CI)':26}top-{k} (95% CI)")
    rows = [(f"product ({result['mode']})", result["product"])]
    if result["baseline"]:
        rows.append(("baseline (logreg)", result["baseline"]))
    for name, m in rows:
        lines.append(f"{name:22}{_pct(m['top1_accuracy']):26}{_pct(m['top3_accuracy'])}")
    for name, m in rows:
        lines.append(f"per class, {name}: precision / recall")
        for row in m["per_class"]:
            lines.append(
                f"  {row['class']:20} {row['precision']:.3f} / {row['recall']:.3f}"
                f"  (support {row['support']})"
            )
    p = result["product"]
    lines.append(
        f"training: {p['epochs_run']} epochs, best epoch {p['best_epoch']}, decays after "
        f"{p['decay_epochs']}, temperature {p['temperature']:.2f}"
    )
    s = result["seconds"]
    lines.append(
        f"seconds: loading {s['loading']:.1f}, embedding {s['embedding']:.1f}, "
        f"training {s['training']:.1f}, total {s['total']:.1f}"
    )
    return "\n".join(lines)
