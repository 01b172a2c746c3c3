"""Review queue benchmark: next-items and submit under concurrent reviewers, against a real
server process, and the time from a keypress to the next image rendered in Chromium.

    .venv/bin/python bench/review_load.py               # SQLite, in a temporary data dir
    createdb -h 127.0.0.1 -U postgres bench_review
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_review \
        .venv/bin/python bench/review_load.py

What runs, and how:
- a fresh database: a SQLite file (WAL, as configured) in a temporary data dir, or the
  PostgreSQL database DATABASE_URL names, which is emptied first (so its name must contain
  "bench"; it is created when missing);
- seed: one client with --images images waiting for review, each with a prediction (top-5 of
  a 20-label taxonomy, confidences spread out), --reviewers reviewers with API tokens; and a
  second client with --browser-images real JPEGs (1024×768) for the browser part;
- gunicorn serves taxonomy_site.wsgi on 127.0.0.1 (--workers × --threads, as `make run`
  starts it), DEBUG off, static files collected;
- load: --reviewers processes, each its own HTTP keep-alive connection, warm up (five
  next + release, not timed: a running server has its code loaded), then loop for --seconds:
  POST …/review/next/ {count: --count}, look at the images for --think seconds each (±50 %
  at random; 0: no pause at all, which measures the server saturated), then POST
  …/review/decisions/ with an answer for each (accept, or a correction one time in five),
  until the queue is empty or the time is up. Every image handed out is recorded with who got
  it: an image handed to two reviewers is counted as given twice; the database is checked
  afterwards (one live review per answered image, no hold left). Besides the clients' times,
  gunicorn's access log gives each request's time inside the server;
- browser: Debian's chromium (Playwright) logs in as a reviewer of the second client, opens
  the queue page and presses Enter --keys times, one after the other as soon as the next
  image is on screen; the page's own performance marks ("review-key" → "review-rendered",
  i.e. until the frame with the new image is painted) give the durations.

It prints p50/p95/max in ms for next, submit and the two together (one reviewer's cycle),
the throughput, the number of images given twice, and the keypress-to-render figures.

On SQLite one connection is held open for the whole run (--no-hold-db-open to drop it), as a
long-running site has one open somewhere: Django closes SQLite connections after each
request, and the last one to close a WAL database checkpoints it, which a lone request would
then pay for. --conn-max-age N serves with persistent connections instead. The machine's
load average is printed first: other work on a small machine shows in every figure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.django_setup import (  # noqa: E402
    free_port,
    prepare_postgres,
    server_env,
    setup_django,
    start_gunicorn,
    stop_processes,
    wait_for_http,
)
from bench.review_world import PASSWORD, check_database, seed  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reviewers", type=int, default=4)
    parser.add_argument("--images", type=int, default=2000, help="images waiting for review")
    parser.add_argument("--count", type=int, default=1, help="images per call to next")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the load phase")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds a reviewer looks at each image before answering (0: as fast as possible)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--browser-images", type=int, default=60)
    parser.add_argument("--keys", type=int, default=50, help="keypresses in Chromium")
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=None,
        help="serve with DATABASES CONN_MAX_AGE set to this (default: as configured)",
    )
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument(
        "--hold-db-open",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="SQLite: keep one connection open during the run, as a long-running site has",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    return parser.parse_args()


# --- Server --------------------------------------------------------------------------------


def start_server(args, data_dir: str, port: int) -> subprocess.Popen:
    env = server_env(data_dir)
    if args.conn_max_age is not None:
        # The configured settings with persistent connections, for comparison.
        Path(data_dir, "bench_review_settings.py").write_text(
            "from taxonomy_site.settings import *  # noqa: F403\n"
            f'DATABASES["default"]["CONN_MAX_AGE"] = {int(args.conn_max_age)}  # noqa: F405\n'
        )
        env["DJANGO_SETTINGS_MODULE"] = "bench_review_settings"
        env["PYTHONPATH"] = os.pathsep.join([data_dir, str(ROOT)])
    # Each request's own time in the server (microseconds), to set beside the clients'.
    access_log = (
        "--access-logfile",
        str(Path(data_dir, "access.log")),
        "--access-logformat",
        "%(m)s %(U)s %(s)s %(D)s",
    )
    server = start_gunicorn(
        port, env, workers=args.workers, threads=args.threads, options=access_log
    )
    if wait_for_http(f"http://127.0.0.1:{port}/accounts/login/"):
        return server
    stop_processes([server], timeout=20)
    sys.exit("gunicorn did not answer within 60 s")


# --- Load ----------------------------------------------------------------------------------


class Api:
    """A keep-alive HTTP/1.1 connection speaking JSON with a token: http.client rather than
    requests, so that four clients take as little as possible of the CPU the server needs."""

    def __init__(self, base: str, token: str):
        parsed = urlparse(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.headers = {
            "Authorization": f"Token {token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.conn = None

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        import http.client

        payload = json.dumps(body).encode()
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            try:
                self.conn.request("POST", path, body=payload, headers=self.headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, json.loads(data or b"{}")
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def reviewer_loop(
    base: str, token: str, count: int, seconds: float, think: float, start_at: float, out
):
    import random

    api = Api(base, token)
    rng = random.Random(token)
    prefix = "/api/v1/clients/bench-load/review/"
    next_ms, submit_ms, cycle_ms, given, errors = [], [], [], [], []
    for _ in range(5):
        status, body = api.post(prefix + "next/", {"count": 1})
        api.post(prefix + "release/", {})
    while time.time() < start_at:
        time.sleep(0.001)
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        t0 = time.perf_counter()
        status, body = api.post(prefix + "next/", {"count": count})
        t1 = time.perf_counter()
        if status != 200:
            errors.append(f"next {status}: {str(body)[:200]}")
            continue
        items = body["items"]
        if not items:
            break
        next_ms.append((t1 - t0) * 1000)
        given.extend(item["id"] for item in items)
        if think:
            # People do not take the same time over every image: ±50 %, so that the
            # reviewers do not send their requests in step.
            time.sleep(sum(think * rng.uniform(0.5, 1.5) for _ in items))
        decisions = []
        for item in items:
            n += 1
            suggestions = item["suggestions"]
            if n % 5 == 0 and len(suggestions) > 1:
                answer = {"decision": "correct", "labels": [suggestions[1]["label"]]}
            else:
                answer = {"decision": "accept"}
            decisions.append(
                {"image": item["id"], "lease": item["lease"]["token"], "seconds_spent": 1, **answer}
            )
        t2 = time.perf_counter()
        status, body = api.post(prefix + "decisions/", {"decisions": decisions})
        t3 = time.perf_counter()
        if status != 201:
            errors.append(f"decisions {status}: {str(body)[:200]}")
        submit_ms.append((t3 - t2) * 1000)
        cycle_ms.append((t1 - t0 + t3 - t2) * 1000)
    out.put(
        {
            "seconds": seconds - max(0.0, end - time.monotonic()),
            "token": token,
            "next": next_ms,
            "submit": submit_ms,
            "cycle": cycle_ms,
            "given": given,
            "errors": errors,
        }
    )


def run_load(args, base: str, tokens: list[str], access_log: Path) -> dict:
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    start_at = time.time() + 5.0
    processes = [
        ctx.Process(
            target=reviewer_loop,
            args=(base, token, args.count, args.seconds, args.think, start_at, out),
        )
        for token in tokens
    ]
    for process in processes:
        process.start()
    # What the server logged until the clock starts is the warm-up.
    time.sleep(max(0.0, start_at - time.time() - 0.05))
    warmup_lines = len(access_log.read_text().splitlines()) if access_log.exists() else 0
    results = [out.get(timeout=args.seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    # The run ends when the time is up or, earlier, when the queue is empty.
    return {
        "results": results,
        "wall": max(r["seconds"] for r in results),
        "warmup_lines": warmup_lines,
    }


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(name: str, values: list[float]) -> str:
    return (
        f"  {name:<24} n={len(values):>6}  p50={statistics.median(values):7.1f} ms  "
        f"p95={percentile(values, 95):7.1f} ms  max={max(values):7.1f} ms"
        if values
        else f"  {name:<24} n=0"
    )


def server_times(data_dir: str, skip: int = 0) -> dict[str, list[float]]:
    """Milliseconds each API request took inside gunicorn, by endpoint (from its access log),
    after the first ``skip`` lines (the warm-up)."""
    times: dict[str, list[float]] = {"next": [], "decisions": []}
    log = Path(data_dir, "access.log")
    if not log.exists():
        return times
    for line in log.read_text().splitlines()[skip:]:
        parts = line.split()
        if len(parts) == 4 and "/bench-load/review/" in parts[1]:
            endpoint = parts[1].rstrip("/").rsplit("/", 1)[-1]
            if endpoint in times:
                times[endpoint].append(int(parts[3]) / 1000)
    return times


# --- Browser -------------------------------------------------------------------------------


def run_browser(base: str, username: str, keys: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
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
        page.goto("/clients/bench-browser/review/")
        page.locator("#review-stage[data-image-id] img").wait_for()
        page.wait_for_load_state("networkidle")
        for n in range(keys):
            shown = page.get_attribute("#review-stage", "data-image-id")
            page.keyboard.press("Enter")
            page.wait_for_function(
                "([n, shown]) => window.reviewTimings.length >= n && "
                "document.getElementById('review-stage').dataset.imageId !== shown",
                arg=[n + 1, shown],
            )
            # A reviewer looks at each image for a moment; prefetching happens meanwhile.
            page.wait_for_timeout(150)
        timings = page.evaluate("window.reviewTimings")
        context.close()
        browser.close()
    return timings


# --- Main ----------------------------------------------------------------------------------


def main() -> None:
    args = parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url:
        prepare_postgres(database_url)
    data_dir = tempfile.mkdtemp(prefix="bench-review-")
    server = keeper = None
    try:
        setup_django(data_dir, log_level="WARNING", flush=True, collectstatic=True)
        from django.db import connection

        print(
            f"database: {connection.vendor} ({connection.settings_dict['NAME']}); "
            f"{args.images} images waiting; {args.reviewers} reviewers, {args.count} per next; "
            f"gunicorn {args.workers}×{args.threads}"
            f"{f', CONN_MAX_AGE={args.conn_max_age}' if args.conn_max_age is not None else ''}; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        t0 = time.perf_counter()
        seeded = seed(args)
        print(f"seeded in {time.perf_counter() - t0:.1f} s")
        if connection.vendor == "sqlite":
            # Start the server on a checkpointed database, as a long-running one would be.
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        if connection.vendor == "sqlite" and args.hold_db_open:
            import sqlite3

            # What a long-running deployment has: some connection always open. Without it,
            # every request that finds the database closed recovers the WAL on opening and
            # checkpoints it on closing (Django closes SQLite connections after each request
            # unless CONN_MAX_AGE says otherwise).
            keeper = sqlite3.connect(connection.settings_dict["NAME"])
            keeper.execute("PRAGMA journal_mode=WAL").fetchall()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(args, data_dir, port)

        load = run_load(args, base, seeded["tokens"], Path(data_dir, "access.log"))
        results = load["results"]
        given_by = {r["token"]: r["given"] for r in results}
        owners: dict[int, set[str]] = {}
        for token, ids in given_by.items():
            for image_id in ids:
                owners.setdefault(image_id, set()).add(token)
        given_twice = sum(1 for holders in owners.values() if len(holders) > 1)
        all_next = [v for r in results for v in r["next"]]
        all_submit = [v for r in results for v in r["submit"]]
        all_cycle = [v for r in results for v in r["cycle"]]
        errors = [e for r in results for e in r["errors"]]
        db = check_database()
        pace = f"{args.think} s per image" if args.think else "no pause between requests"
        print(f"\nload: {args.reviewers} reviewers for {load['wall']:.0f} s, {pace}")
        print(summary("next", all_next))
        print(summary("submit", all_submit))
        print(summary("next + submit (cycle)", all_cycle))
        inside = server_times(data_dir, skip=load["warmup_lines"])
        print(summary("next, inside gunicorn", inside["next"]))
        print(summary("submit, inside gunicorn", inside["decisions"]))
        decided = sum(len(r["given"]) for r in results)
        print(f"  throughput: {decided / load['wall']:.0f} images decided per second")
        print(f"  images handed out: {len(owners)}; given to two reviewers: {given_twice}")
        print(
            f"  database: {db['answered']} live reviews, {db['reviewed_twice']} images "
            f"reviewed twice, {db['holds_left']} holds left, {db['still_waiting']} waiting"
        )
        if errors:
            print(f"  errors: {len(errors)}, first: {errors[0]}")

        figures = {
            "database": connection.vendor,
            "next_ms": [statistics.median(all_next), percentile(all_next, 95)],
            "submit_ms": [statistics.median(all_submit), percentile(all_submit, 95)],
            "cycle_ms": [statistics.median(all_cycle), percentile(all_cycle, 95)],
            "given_twice": given_twice,
            "errors": len(errors),
        }
        if not args.no_browser:
            if shutil.which(os.environ.get("CHROMIUM_PATH", "chromium")) or os.path.exists(
                "/usr/bin/chromium"
            ):
                timings = run_browser(base, seeded["browser_user"], args.keys)
                print(f"\nchromium: keypress → next image painted, {len(timings)} keys")
                print(summary("key → rendered", timings))
                figures["key_to_render_ms"] = [
                    statistics.median(timings),
                    percentile(timings, 95),
                ]
            else:
                print("\nchromium: not installed, browser part skipped")
        print("\n" + json.dumps(figures))
    finally:
        if server is not None:
            stop_processes([server], timeout=20)
        if keeper is not None:
            keeper.close()
        if args.keep:
            print(f"data dir kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
