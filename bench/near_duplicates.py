"""Near-duplicate look-up benchmark: finding the images an upload looks like among a
client's stored perceptual hashes, through the hash-band index against reading every hash.

    nice -n 5 .venv/bin/python -m bench.near_duplicates [--stored 50000] [--lookups 300]
        [--seed 0] [--json OUT]

What runs: a fresh site in a temporary data dir (SQLite, WAL, as configured; or the
PostgreSQL database DATABASE_URL names, emptied first, so its name must contain "bench"),
one client with --stored images (rows only: the look-up never opens a file) whose dHashes
are drawn in two ways, one after the other:

- uniform: every bit a coin toss (hashes of varied photos come close to this);
- skewed: each bit set with probability 0.3, so band values repeat far more often (flat or
  dark libraries, the index's bad case).

Each look-up asks about one hash, as the upload of one file does: half are stored hashes
with 0–6 bits flipped (a near-duplicate is there to find), half fresh draws. Three ways:

- scan: read every (id, hash) of the client and compare them all, as the image page did;
- index: the product's ``near_duplicates_of`` (one indexed query on the 68 probe keys);
- index ×10: one call for ten hashes at once (a script's request of ten files).

It prints, per distribution, the median time per look-up of each (ms), the ratio scan/index,
how many stored hashes the index read per look-up (median, and as a share of all), and
whether both found the same images for every look-up (they must: with at most 6 differing
bits, one of the 4 bands differs by at most one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import log  # noqa: E402
from bench.django_setup import prepare_postgres, setup_django  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stored", type=int, default=50_000, help="hashes stored per client")
    parser.add_argument("--lookups", type=int, default=300, help="look-ups per way and draw")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    return parser.parse_args(argv)


def draw_hashes(rng: np.random.Generator, n: int, p_one: float) -> list[str]:
    bits = rng.random((n, 64)) < p_one
    weights = 1 << np.arange(64, dtype=np.uint64)
    values = (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)
    return [f"{int(v):016x}" for v in values]


def probes(rng: np.random.Generator, stored: list[str], n: int, p_one: float) -> list[str]:
    out = []
    fresh = draw_hashes(rng, n, p_one)
    for i in range(n):
        if i % 2:
            out.append(fresh[i])
            continue
        value = int(stored[int(rng.integers(len(stored)))], 16)
        for bit in rng.choice(64, size=int(rng.integers(0, 7)), replace=False):
            value ^= 1 << int(bit)
        out.append(f"{value:016x}")
    return out


def seed_client(name: str, hashes: list[str]):
    from labelling.models import Client, Image, Sector
    from labelling.services.duplicates import image_hash_bands_store

    sector, _ = Sector.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    client = Client.objects.create(name=name, slug=name, sector=sector)
    rows = []
    for start in range(0, len(hashes), 5000):
        chunk = [
            Image(client=client, file=f"bench/{start + n}.jpg", sha256=f"{start + n:064x}", dhash=h)
            for n, h in enumerate(hashes[start : start + 5000])
        ]
        rows += Image.objects.bulk_create(chunk)
        image_hash_bands_store(images=rows[-len(chunk) :], new=True)
    _analyze()
    return client


def _analyze() -> None:
    """A live database's statistics are kept by autovacuum (SQLite needs none here); tables
    bulk-loaded a moment ago have none, and PostgreSQL would then join the few band rows
    found to the images by reading every image."""
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE labelling_image")
            cursor.execute("ANALYZE labelling_imagehashband")


def scan(client_id: int, value: str) -> list[tuple[int, int]]:
    """The look-up the image page made before the index: every hash of the client."""
    from labelling.models import Image
    from labelling.perceptual_hash import NEAR_DUPLICATE_BITS, distance

    rows = Image.objects.filter(client_id=client_id).exclude(dhash="").values_list("pk", "dhash")
    found = [(pk, distance(value, other)) for pk, other in rows.iterator()]
    near = sorted((d, pk) for pk, d in found if d <= NEAR_DUPLICATE_BITS)
    return [(pk, d) for d, pk in near[:5]]


def candidates_read(client_id: int, value: str) -> int:
    from labelling.models import ImageHashBand
    from labelling.perceptual_hash import probe_keys

    return (
        ImageHashBand.objects.filter(client_id=client_id, key__in=probe_keys(value))
        .values("image_id")
        .distinct()
        .count()
    )


def timed(fn, items) -> tuple[list[float], list]:
    times, answers = [], []
    for item in items:
        start = time.perf_counter()
        answers.append(fn(item))
        times.append(time.perf_counter() - start)
    return times, answers


def run_draw(label: str, p_one: float, args, rng) -> dict:
    from labelling.selectors.duplicates import near_duplicates_of

    stored = draw_hashes(rng, args.stored, p_one)
    start = time.perf_counter()
    client = seed_client(f"bench-{label}", stored)
    seeded = time.perf_counter() - start
    log(f"{label}: stored {args.stored:,} hashes and their index in {seeded:.1f} s")
    asked = probes(rng, stored, args.lookups, p_one)
    # A fake id per probe: none is a stored image, so nothing is left out as "itself".
    index_answers = lambda v: near_duplicates_of(client.pk, {-1: v})[-1]  # noqa: E731
    for value in asked[:5]:  # warm-up: the first queries load pages into the cache
        scan(client.pk, value), index_answers(value)
    scan_times, scan_found = timed(lambda v: scan(client.pk, v), asked)
    index_times, index_found = timed(index_answers, asked)
    batches = [asked[i : i + 10] for i in range(0, len(asked), 10)]
    batch_times, _ = timed(
        lambda chunk: near_duplicates_of(client.pk, {-(i + 1): v for i, v in enumerate(chunk)}),
        batches,
    )
    read = [candidates_read(client.pk, v) for v in asked]
    agree = sum(a == b for a, b in zip(scan_found, index_found, strict=True))
    scan_ms = statistics.median(scan_times) * 1000
    index_ms = statistics.median(index_times) * 1000
    batch_ms = statistics.median(batch_times) * 1000 / 10
    return {
        "distribution": label,
        "p_one": p_one,
        "stored": args.stored,
        "lookups": len(asked),
        "seed_seconds": round(seeded, 2),
        "scan_ms_median": round(scan_ms, 3),
        "index_ms_median": round(index_ms, 3),
        "index_x10_ms_per_hash_median": round(batch_ms, 3),
        "scan_over_index": round(scan_ms / index_ms, 1),
        "read_per_lookup_median": statistics.median(read),
        "read_share_median": round(statistics.median(read) / args.stored, 5),
        "read_per_lookup_max": max(read),
        "same_answers": f"{agree}/{len(asked)}",
        "found_any": sum(bool(f) for f in index_found),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-near-duplicates-") as data_dir:
        url = os.environ.get("DATABASE_URL")
        if url:
            prepare_postgres(url)
        setup_django(data_dir, flush=bool(url))
        from django.db import connection

        rng = np.random.default_rng(args.seed)
        rows = [run_draw(label, p, args, rng) for label, p in [("uniform", 0.5), ("skewed", 0.3)]]
        report = {"database": connection.vendor, "seed": args.seed, "draws": rows}
    print(f"near-duplicate look-ups, {args.stored:,} stored hashes, {connection.vendor}")
    header = (
        f"{'draw':8} {'scan ms':>8} {'index ms':>9} {'×10 ms/hash':>12} {'scan/index':>10} "
        f"{'read (median, share)':>22} {'read max':>9} {'same':>9} {'found':>6}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['distribution']:8} {r['scan_ms_median']:8.2f} {r['index_ms_median']:9.3f} "
            f"{r['index_x10_ms_per_hash_median']:12.3f} {r['scan_over_index']:10.1f} "
            f"{r['read_per_lookup_median']:>12} ({r['read_share_median']:.3%}) "
            f"{r['read_per_lookup_max']:9} {r['same_answers']:>9} {r['found_any']:6}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"command": sys.argv, **report}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
