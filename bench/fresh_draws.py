"""The comparison protocol on fresh draws: several seeds, five tasks, two sets of defaults.

    nice -n 5 python -m bench.fresh_draws --name today --seeds 1,2,3 \\
        -- --backbone efficientnet_lite0 --embedding pooled+grid
    nice -n 5 python -m bench.fresh_draws --name new --seeds 1,2,3
    python -m bench.fresh_draws --compare today,new

Each run is one ``python -m bench.protocol`` command (printed, and kept in its JSON) on one
of the tasks of ``bench.accuracy_cv`` (the method's four and CIFAR-10's ten classes) at one
seed, written to bench/results/fresh/<name>__<task>__<seed>.json; what follows ``--`` is
passed to every run (nothing: the product's defaults). Seed 0 is the draw earlier choices
were made on: these seeds are for measuring, never for choosing. ``--compare A,B`` pools
each task's test images over the seeds (top-1 with its 95 % Wilson interval) and gives the
difference B − A with a 95 % interval (normal approximation, test images as independent).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

from bench.accuracy_cv import all_tasks

OUT = Path("bench/results/fresh")


def run(args, extra: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tasks = all_tasks(args.datasets)
    for seed in args.seeds.split(","):
        for task in args.tasks.split(",") if args.tasks else tasks:
            path = OUT / f"{args.name}__{task}__{seed}.json"
            if path.exists() and not args.force:
                continue
            cmd = [*tasks[task], "--seed", seed, *extra, "--json", str(path)]
            print("python -m bench.protocol " + " ".join(cmd), flush=True)
            with open(path.with_suffix(".log"), "w") as handle:
                done = subprocess.run(
                    [sys.executable, "-m", "bench.protocol", *cmd],
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                )
            if done.returncode:
                print(f"  failed ({done.returncode}); see {path.with_suffix('.log')}", flush=True)


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def pooled(name: str, task: str, who: str = "product") -> dict | None:
    runs = [json.loads(p.read_text()) for p in sorted(OUT.glob(f"{name}__{task}__*.json"))]
    runs = [r for r in runs if r.get(who)]
    if not runs:
        return None
    n = sum(r["n_test"] for r in runs)
    k = sum(round(r[who]["top1_accuracy"]["value"] * r["n_test"]) for r in runs)
    seconds = [r["seconds"]["embedding"] / (r["n_train"] + r["n_test"]) for r in runs]
    return {
        "seeds": [r["seed"] for r in runs],
        "per_seed": [r[who]["top1_accuracy"]["value"] for r in runs],
        "k": k,
        "n": n,
        "top1": k / n,
        "ci95": _wilson(k, n),
        "embed_ms_per_image": 1000 * sum(seconds) / len(seconds),
        "embedding": runs[0]["embedding"],
        "backbone": runs[0]["backbone"],
    }


def _cell(p: dict) -> str:
    return f"{100 * p['top1']:.1f} [{100 * p['ci95'][0]:.1f}–{100 * p['ci95'][1]:.1f}]"


def compare(a: str, b: str, datasets: str) -> dict:
    rows, diffs = {}, []
    print(f"| task | {a} top-1 [95% CI] | {b} top-1 [95% CI] | {b} − {a} [95% CI] | seeds |")
    print("|---|---|---|---|---|")
    for task in all_tasks(datasets):
        pa, pb = pooled(a, task), pooled(b, task)
        if not pa or not pb:
            continue
        d = pb["top1"] - pa["top1"]
        se = math.sqrt(
            pa["top1"] * (1 - pa["top1"]) / pa["n"] + pb["top1"] * (1 - pb["top1"]) / pb["n"]
        )
        rows[task] = {
            a: pa,
            b: pb,
            "difference": d,
            "difference_ci95": (d - 1.96 * se, d + 1.96 * se),
        }
        diffs.append(d)
        print(
            f"| {task} | {_cell(pa)} | {_cell(pb)} | {100 * d:+.1f} "
            f"[{100 * (d - 1.96 * se):+.1f}, {100 * (d + 1.96 * se):+.1f}]"
            f" | {','.join(map(str, pa['seeds']))} |"
        )
    if diffs:
        mean = sum(diffs) / len(diffs)
        print(
            f"\nmean difference over {len(diffs)} tasks: {100 * mean:+.2f} points; "
            f"worst task {100 * min(diffs):+.1f}"
        )
        for name in (a, b):
            ms = [rows[t][name]["embed_ms_per_image"] for t in rows]
            print(
                f"{name}: embedding {sum(ms) / len(ms):.1f} ms/image (mean of runs; shared machine)"
            )
    return rows


def summary(name: str, datasets: str) -> None:
    """One set of runs: each task pooled over its seeds, beside the probe on the same splits."""
    print(f"| task | {name} top-1 [95% CI] | per seed | probe top-1 [95% CI] | seeds |")
    print("|---|---|---|---|---|")
    means = []
    for task in all_tasks(datasets):
        p, b = pooled(name, task), pooled(name, task, "baseline")
        if not p:
            continue
        means.append(p["top1"])
        seeds = " / ".join(f"{100 * v:.0f}" for v in p["per_seed"])
        probe = _cell(b) if b else "—"
        print(f"| {task} | {_cell(p)} | {seeds} | {probe} | {','.join(map(str, p['seeds']))} |")
    if means:
        print(f"\nmean over {len(means)} tasks: {100 * sum(means) / len(means):.1f}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    own = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(prog="python -m bench.fresh_draws", description=__doc__)
    parser.add_argument("--datasets", default="../shared/datasets")
    parser.add_argument("--name", help="what to call this set of runs")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--tasks", default="")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--compare", metavar="A,B")
    parser.add_argument("--summary", metavar="NAME", help="one set of runs, beside the probe")
    parser.add_argument("--json", metavar="OUT", help="with --compare: write the comparison")
    args = parser.parse_args(own)
    if args.summary:
        summary(args.summary, args.datasets)
        return 0
    if args.compare:
        a, b = args.compare.split(",")
        rows = compare(a, b, args.datasets)
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
        return 0
    if not args.name:
        parser.error("--name is needed to run")
    run(args, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
