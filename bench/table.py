"""Run the comparison protocol on the method's four tasks and render the README table.

    nice -n 10 python -m bench.table --datasets ../shared/datasets \\
        --backbones efficientnet_lite0,efficientnet_lite1,efficientnet_lite2 --modes head
    python -m bench.table --render-only

Each run is one ``python -m bench.protocol`` command (printed before it runs, and kept in
its JSON), written to bench/results/<task>__<backbone>__<mode>[__grid].json; runs whose
JSON exists are skipped unless --force. The tasks map onto ../shared/datasets as its
README says:

- smile: genki4k-smile (smiling, not_smiling);
- bag_vs_shoe: fashion-mnist-subset, bag against shoe = sandal + sneaker + ankle_boot;
- multiclass4: smiling, not_smiling, bag, shoe;
- multiclass6: those four plus CIFAR-10's cat and dog (two classes that overlap), with 20 %
  of the training labels flipped at random.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RESULTS = Path("bench/results")  # relative, so that the recorded commands are too
SHOE = "shoe=sandal,sneaker,ankle_boot"


def tasks(datasets: str) -> dict[str, list[str]]:
    genki = f"{datasets}/genki4k-smile/train"
    fashion = f"{datasets}/fashion-mnist-subset/train"
    cifar = f"{datasets}/cifar10-subset/train"
    return {
        "smile": ["--train", genki],
        "bag_vs_shoe": ["--train", fashion, "--merge", SHOE, "--classes", "bag,shoe"],
        "multiclass4": [
            "--train", genki, "--train", fashion, "--merge", SHOE,
            "--classes", "smiling,not_smiling,bag,shoe",
        ],
        "multiclass6": [
            "--train", genki, "--train", fashion, "--train", cifar, "--merge", SHOE,
            "--classes", "smiling,not_smiling,bag,shoe,cat,dog", "--noise", "0.2",
        ],
    }  # fmt: skip


TASK_TITLES = {
    "smile": "facial expressions (top-1)",
    "bag_vs_shoe": "bag vs shoe (top-1)",
    "multiclass4": "multiclass-4 (top-1 / top-3)",
    "multiclass6": "multiclass-6, 20 % noise (top-1 / top-3)",
}

# The method's comparison table: top-1 (and top-3 for the multi-class tasks), in percent.
PUBLISHED = {
    "method (published)": ("87", "96", "95 / 100", "67 / 98"),
    "Clarifai (published)": ("72", "91", "85 / 100", "56 / 90"),
    "Vize (published)": ("76", "97", "85 / 91", "43 / 85"),
}


def result_path(out: Path, task: str, backbone: str, mode: str, embedding: str) -> Path:
    suffix = "__grid" if embedding == "pooled+grid" else ""
    return out / f"{task}__{backbone}__{mode}{suffix}.json"


def run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for backbone in args.backbones.split(","):
        for mode in args.modes.split(","):
            # A fine-tuned model pools inside; the embedding only picks what a head reads.
            for embedding in args.embeddings.split(",") if mode == "head" else ["pooled"]:
                for task, task_args in tasks(args.datasets).items():
                    if args.tasks and task not in args.tasks.split(","):
                        continue
                    path = result_path(out, task, backbone, mode, embedding)
                    if path.exists() and not args.force:
                        continue
                    cmd = [
                        "--backbone", backbone, "--mode", mode, "--embedding", embedding,
                        "--seed", str(args.seed), *task_args, "--json", str(path),
                    ]  # fmt: skip
                    print("python -m bench.protocol " + " ".join(cmd), flush=True)
                    log = path.with_suffix(".log")
                    with open(log, "w") as handle:
                        done = subprocess.run(
                            [sys.executable, "-m", "bench.protocol", *cmd],
                            stdout=handle,
                            stderr=subprocess.STDOUT,
                        )
                    if done.returncode != 0:
                        print(f"  failed ({done.returncode}); see {log}", flush=True)


def _cell(result: dict, who: str, task: str) -> str:
    m = result[who]
    if m is None:
        return "—"
    top1 = m["top1_accuracy"]
    text = f"{100 * top1['value']:.0f} [{100 * top1['ci95_low']:.0f}–{100 * top1['ci95_high']:.0f}]"
    if task.startswith("multiclass"):
        top3 = m["top3_accuracy"]
        text += f" / {100 * top3['value']:.0f} [{100 * top3['ci95_low']:.0f}–"
        text += f"{100 * top3['ci95_high']:.0f}]"
    return text


def render(out: Path) -> str:
    found: dict[tuple[str, str, str], dict[str, dict]] = {}
    for path in sorted(out.glob("*.json")):
        result = json.loads(path.read_text())
        if "classes" not in result:
            continue
        task = path.name.split("__")[0]
        key = (result["backbone"], result["mode"], result.get("embedding", "pooled"))
        found.setdefault(key, {})[task] = result
    names = list(TASK_TITLES)
    header = "| model | " + " | ".join(TASK_TITLES[t] for t in names) + " |"
    lines = [header, "|" + "---|" * (len(names) + 1)]
    for row, cells in PUBLISHED.items():
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    order = sorted(found, key=lambda k: (k[0], k[1] != "head", k[2] != "pooled"))
    baselines_done = set()
    for key in order:
        backbone, mode, embedding = key
        runs = found[key]
        # Every head run fits the probe on the pooled columns of the same split.
        if backbone not in baselines_done and mode == "head":
            baselines_done.add(backbone)
            cells = [_cell(runs[t], "baseline", t) if t in runs else "" for t in names]
            lines.append(f"| {backbone}, logistic-regression probe | " + " | ".join(cells) + " |")
        label = f"{backbone}, {mode}" + (f", {embedding}" if mode == "head" else "")
        cells = [_cell(runs[t], "product", t) if t in runs else "" for t in names]
        lines.append(f"| **{label}** | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def seconds_table(out: Path) -> str:
    lines = [
        "| run | n_train / n_test | embedding s | training s | epochs (best) |",
        "|---|---|---|---|---|",
    ]
    for path in sorted(out.glob("*.json")):
        r = json.loads(path.read_text())
        if "classes" not in r:
            continue
        s, p = r["seconds"], r["product"]
        lines.append(
            f"| {path.stem} | {r['n_train']} / {r['n_test']} | {s['embedding']:.0f} | "
            f"{s['training']:.0f} | {p['epochs_run']} ({p['best_epoch']}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.table", description=__doc__)
    parser.add_argument("--datasets", default="../shared/datasets")
    parser.add_argument("--backbones", default="efficientnet_lite0")
    parser.add_argument("--modes", default="head")
    parser.add_argument(
        "--embeddings", default="pooled+grid", help="head mode: pooled, pooled+grid or both"
    )
    parser.add_argument("--tasks", default="", help="comma-separated subset of the tasks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--render-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.render_only:
        run(args)
    print(render(Path(args.out)))
    print()
    print(seconds_table(Path(args.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
