"""The embedding map: how long its layout takes, and how long the page takes to draw it.

    python -m bench.map [--sizes 5000,50000] [--methods opentsne,sklearn] [--jobs 1,2]
                        [--render-points 50000] [--loads 5] [--no-render] [--no-projection]
                        [--screenshot DIR] [--json OUT]

Projection: synthetic embeddings shaped like a library's (``--dim`` 1280, the pooled size of
EfficientNet-Lite0; 20 looks, each a cluster), laid out by ``training.projection`` (PCA to
50, then t-SNE) with each method and thread count; wall and CPU seconds, the ratio of each
method to openTSNE at the same size and threads, and how well the layout keeps clusters
(the share of sampled points whose 10 nearest points on the map share their look).

Render: a site of its own (SQLite, gunicorn with DEBUG off, collected static files), one
client with ``--render-points`` images and a stored map of them; Debian's chromium opens the
map page ``--loads`` times and reads what the page reports: from the points' request to the
first frame drawn with them (data-render-ms), and from navigation to that frame.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import cpu_description, log

PASSWORD = "bench-map-password"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000", help="images to lay out, comma-separated")
    parser.add_argument("--methods", default="opentsne,sklearn")
    parser.add_argument("--jobs", default="1,2", help="t-SNE threads, comma-separated")
    parser.add_argument("--dim", type=int, default=1280)
    parser.add_argument("--repeats", type=int, default=1, help="layouts per setting (median)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=1800,
        help="skip larger sizes of a method once one layout took longer",
    )
    parser.add_argument("--render-points", type=int, default=50_000)
    parser.add_argument("--loads", type=int, default=5, help="page loads (median)")
    parser.add_argument("--no-render", action="store_true")
    parser.add_argument("--no-projection", action="store_true")
    parser.add_argument("--screenshot", help="folder for screenshots of the page")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def library_like(n: int, dim: int, *, seed: int, looks: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((looks, dim)).astype(np.float32) * 2.5
    look = rng.integers(0, looks, n)
    X = centres[look] + rng.standard_normal((n, dim), dtype=np.float32)
    return np.maximum(X, 0), look  # pooled ReLU features are never negative


def cluster_kept(xy: np.ndarray, look: np.ndarray, *, sample: int = 2000, k: int = 10) -> float:
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(0)
    rows = rng.choice(len(xy), size=min(sample, len(xy)), replace=False)
    _, neighbours = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy[rows])
    return float((look[neighbours[:, 1:]] == look[rows, None]).mean())


def run_projection(args) -> list[dict]:
    from training.projection import project_2d

    sizes = [int(s) for s in args.sizes.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    jobs = [int(j) for j in args.jobs.split(",") if j]
    rows, too_slow = [], set()
    for n in sizes:
        X, look = library_like(n, args.dim, seed=args.seed)
        for method in methods:
            for threads in jobs:
                if (method, threads) in too_slow:
                    rows.append({"n": n, "method": method, "jobs": threads, "skipped": True})
                    log(f"projection: {n} × {method} × {threads} skipped (a smaller one was slow)")
                    continue
                walls, cpus, xy = [], [], None
                for _ in range(args.repeats):
                    log(f"projection: {n} images, {method}, {threads} thread(s)…")
                    wall, cpu = time.perf_counter(), time.process_time()
                    xy = project_2d(X, method=method, n_jobs=threads, seed=args.seed)
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
                row = {
                    "n": n,
                    "method": method,
                    "jobs": threads,
                    "wall_s": statistics.median(walls),
                    "cpu_s": statistics.median(cpus),
                    "cluster_kept": cluster_kept(xy, look),
                }
                rows.append(row)
                log(f"  {row['wall_s']:.1f} s wall, {row['cpu_s']:.1f} s CPU")
                if row["wall_s"] > args.max_seconds:
                    too_slow.add((method, threads))
    base = {(r["n"], r["jobs"]): r for r in rows if r["method"] == "opentsne" and "wall_s" in r}
    for row in rows:
        ref = base.get((row["n"], row["jobs"]))
        if ref and "wall_s" in row:
            row["wall_vs_opentsne"] = row["wall_s"] / ref["wall_s"]
    return rows


def print_projection(rows: list[dict]) -> None:
    print("\nprojection (PCA → t-SNE), synthetic embeddings")
    print(
        f"{'images':>8} {'method':>9} {'threads':>7} {'wall s':>8} {'CPU s':>8}"
        f" {'× openTSNE':>10} {'kept':>6}"
    )
    for r in rows:
        if r.get("skipped"):
            print(f"{r['n']:>8} {r['method']:>9} {r['jobs']:>7} {'skipped':>8}")
            continue
        ratio = f"{r['wall_vs_opentsne']:.2f}" if "wall_vs_opentsne" in r else "—"
        print(
            f"{r['n']:>8} {r['method']:>9} {r['jobs']:>7} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f}"
            f" {ratio:>10} {r['cluster_kept']:>6.2f}"
        )


# --- Render ----------------------------------------------------------------------------


def seed_site(n: int, *, seed: int) -> str:
    """One client with ``n`` images (a third verified with one of 12 labels) and a stored
    map of them in 12 clusters; returns the admin's username."""
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.utils import timezone

    from labelling.models import (
        Client,
        Image,
        ImageLabel,
        ImageStatus,
        Label,
        Membership,
        Role,
        Sector,
        Taxonomy,
    )
    from labelling.models.images import LabelSource
    from training.models import EmbeddingMap, RunStatus
    from training.services.embedding_map import Layout, layout_bytes

    sector = Sector.objects.create(name="Bench", slug="bench")
    taxonomy = Taxonomy.objects.create(sector=sector, name="Bench looks")
    labels = [
        Label.objects.create(taxonomy=taxonomy, key=f"look_{i}", name=f"Look {i}")
        for i in range(12)
    ]
    client = Client.objects.create(name="Bench Library", slug="bench-map", sector=sector)
    user = get_user_model().objects.create_user("bench-map-admin", password=PASSWORD)
    Membership.objects.create(user=user, client=client, role=Role.ADMIN)
    statuses = [ImageStatus.VERIFIED, ImageStatus.NEEDS_REVIEW, ImageStatus.AUTO_TAGGED]
    Image.objects.bulk_create(
        [
            Image(
                client=client,
                file=f"images/bench-{i}.jpg",
                original_name=f"bench-{i}.jpg",
                sha256=hashlib.sha256(f"bench-{i}".encode()).hexdigest(),
                status=statuses[i % 3],
            )
            for i in range(n)
        ],
        batch_size=5000,
    )
    ids = np.asarray(
        Image.objects.filter(client=client).order_by("pk").values_list("pk", flat=True)
    )
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-0.75, 0.75, size=(12, 2))
    look = rng.integers(0, 12, n)
    xy = np.clip(centres[look] + rng.normal(0, 0.07, (n, 2)), -1, 1).astype(np.float32)
    ImageLabel.objects.bulk_create(
        [
            ImageLabel(image_id=int(pk), label=labels[look[i]], source=LabelSource.HUMAN)
            for i, pk in enumerate(ids)
            if i % 3 == 0
        ],
        batch_size=5000,
    )
    data = layout_bytes(Layout(image_ids=ids, xy=xy))
    name = default_storage.save(f"maps/{client.pk}/bench.npz", ContentFile(data))
    EmbeddingMap.objects.create(
        client=client,
        status=RunStatus.SUCCEEDED,
        file=name,
        file_sha256=hashlib.sha256(data).hexdigest(),
        n_points=n,
        method="opentsne",
        finished_at=timezone.now(),
    )
    return user.get_username()


def run_render(args) -> dict:
    from bench.django_setup import (
        free_port,
        server_env,
        setup_django,
        start_gunicorn,
        stop_processes,
        wait_for_http,
    )

    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        log(f"render: {chromium} not found, skipped")
        return {"skipped": "no chromium"}
    data_dir = tempfile.mkdtemp(prefix="bench-map-")
    server = None
    try:
        setup_django(data_dir, log_level="WARNING", embedded=True, collectstatic=True)
        log(f"render: seeding {args.render_points} images and a stored map…")
        username = seed_site(args.render_points, seed=args.seed)
        from django.db import connection

        connection.close()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_gunicorn(port, server_env(data_dir), workers=2, threads=2)
        if not wait_for_http(f"{base}/accounts/login/"):
            sys.exit("gunicorn did not answer within 60 s")
        return render_in_chromium(args, base, username, chromium)
    finally:
        if server is not None:
            stop_processes([server])
        shutil.rmtree(data_dir, ignore_errors=True)


def render_in_chromium(args, base: str, username: str, chromium: str) -> dict:
    from playwright.sync_api import sync_playwright

    render_ms, ready_ms, points_bytes = [], [], None
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("form[action$='/accounts/login/'] button[type=submit]")
        page.wait_for_url(lambda url: "/accounts/login/" not in url)
        for load in range(args.loads + 1):  # the first warms the server and the caches
            page = context.new_page()
            started = time.perf_counter()
            page.goto("/clients/bench-map/map/")
            page.locator('#map[data-state="ready"]').wait_for(timeout=300_000)
            ready = (time.perf_counter() - started) * 1000
            shown = int(page.get_attribute("#map", "data-points"))
            if shown != args.render_points:
                sys.exit(f"the page drew {shown} points, not {args.render_points}")
            if load:
                render_ms.append(int(page.get_attribute("#map", "data-render-ms")))
                ready_ms.append(ready)
            if args.screenshot and load == args.loads:
                folder = Path(args.screenshot)
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / "map-by-label.png"))
                page.keyboard.press("c")
                page.wait_for_timeout(300)
                page.screenshot(path=str(folder / "map-by-status.png"))
                box = page.locator("#map-canvas").bounding_box()
                page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                for _ in range(4):
                    page.mouse.wheel(0, -400)
                    page.wait_for_timeout(150)
                page.screenshot(path=str(folder / "map-zoomed.png"))
            page.close()
        points_bytes = len(context.request.get("/clients/bench-map/map/points").body())
        browser.close()
    return {
        "points": args.render_points,
        "loads": args.loads,
        "render_ms": render_ms,
        "render_ms_median": statistics.median(render_ms),
        "ready_ms_median": statistics.median(ready_ms),
        "points_response_bytes": points_bytes,
    }


def main() -> None:
    args = parse_args()
    cpu = cpu_description()
    print(
        f"machine: {cpu['model']}, {cpu['cores_available']} cores available, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    figures: dict = {"machine": cpu}
    if not args.no_render:
        render = run_render(args)
        figures["render"] = render
        if "render_ms" in render:
            print(
                f"\nrender: {render['points']:,} points, median of {render['loads']} loads: "
                f"{render['render_ms_median']:.0f} ms from the points' request to the first "
                f"frame ({render['ready_ms_median']:.0f} ms from navigation); "
                f"points answer {render['points_response_bytes'] / 1e6:.2f} MB; "
                f"each load (ms): {render['render_ms']}"
            )
    if not args.no_projection:
        if "DJANGO_SETTINGS_MODULE" not in os.environ:
            os.environ["DJANGO_SETTINGS_MODULE"] = "taxonomy_site.settings"
        rows = run_projection(args)
        figures["projection"] = rows
        print_projection(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
