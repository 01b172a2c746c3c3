"""Ingestion benchmark: N images through the upload API, then through the ingest task.

    .venv/bin/python bench/ingest.py --images 2000 --size 640x480 --per-request 10 --repeats 3

What runs, and how:
- the API: Django's test client in this process posts the files to
  /api/v1/clients/<slug>/batches/<id>/files/ (the whole stack: middleware, token auth, DRF,
  multipart parsing, validation, hashing, storage, the INSERT, the on-commit enqueue) but no
  socket and no HTTP server (so no gunicorn, no TLS);
- the worker: the ingest task's service runs in this process on the ids each request queued
  (no broker, no Celery worker): claim, read the original, decode, thumbnail and model-input
  image, store them, call the prediction hook (no model active: it returns), move to review.
Everything goes to a fresh SQLite database and media folder in a temporary data dir.

Images are generated in memory before the clock starts: photo-like (a gradient, shapes and
grain, so that JPEG sizes look like camera JPEGs scaled down), each one different.

It prints images/s for each phase, and the share of each phase's time spent in decode,
thumbnail, hashing and storage (the rest is Django, DRF, multipart parsing and the database),
as medians over the repeats.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.django_setup import setup_django  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1000, help="images per repeat")
    parser.add_argument("--size", default="640x480", help="WIDTHxHEIGHT of each image")
    parser.add_argument("--format", default="JPEG", choices=["JPEG", "PNG", "WEBP", "TIFF"])
    parser.add_argument("--per-request", type=int, default=10, help="files per API request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality", type=int, default=85, help="JPEG/WebP quality")
    return parser.parse_args()


def make_images(count: int, size: tuple[int, int], fmt: str, quality: int, seed: int) -> list:
    import numpy as np

    from bench.photos import encoded, photo_like

    rng = np.random.default_rng(seed)
    return [encoded(photo_like(rng, size), fmt, quality) for _ in range(count)]


class Stopwatch:
    """Seconds spent inside wrapped functions, by stage."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner, name: str, stage: str, patches: list) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        patches.append((owner, name, original))
        setattr(owner, name, timed)


@contextmanager
def patched(patches: list):
    try:
        yield
    finally:
        for owner, name, original in reversed(patches):
            setattr(owner, name, original)
        patches.clear()


def capture_ingest_queue(patches: list) -> list[list[int]]:
    """The ids each upload request queues for ingestion, kept here instead of sent to the
    broker (the bench runs the ingest service itself)."""
    from labelling.services import uploads

    queued: list[list[int]] = []
    patches.append((uploads, "enqueue_ingest", uploads.enqueue_ingest))
    uploads.enqueue_ingest = lambda ids: queued.append(list(ids))
    return queued


def time_upload_stages(watch: Stopwatch, patches: list) -> None:
    from labelling import image_validation
    from labelling.services import uploads

    watch.wrap(image_validation, "inspect_image", "upload: validate + decode", patches)
    watch.wrap(uploads, "_sha256", "upload: hashing", patches)
    watch.wrap(uploads, "_store", "upload: storage", patches)


def time_ingest_stages(watch: Stopwatch, patches: list, *, prefix: str) -> None:
    from PIL import Image as PILImage

    from labelling import image_validation
    from labelling.services import ingest

    watch.wrap(ingest, "_load_original", f"{prefix}: storage read", patches)
    watch.wrap(ingest, "_derive", "_derive", patches)
    watch.wrap(image_validation, "_encode_jpeg", f"{prefix}: thumbnails", patches)
    watch.wrap(PILImage.Image, "thumbnail", f"{prefix}: thumbnails", patches)
    watch.wrap(ingest, "_replace", f"{prefix}: storage write", patches)


def ingest_stage_seconds(watch: Stopwatch, *, prefix: str) -> dict[str, float]:
    """The stopwatch's seconds, with decode split out of the derivatives' work: _derive =
    decode (open, draft, load, EXIF transpose, sRGB) + the thumbnail work timed inside it."""
    stages = dict(watch.seconds)
    stages[f"{prefix}: decode"] = stages.pop("_derive") - stages.get(f"{prefix}: thumbnails", 0.0)
    return stages


def run_once(args, images: list[bytes], repeat: int) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    from labelling.models import Client as Tenant
    from labelling.models import Image, Membership, Role, Sector, UploadBatch
    from labelling.services import ingest
    from labelling.services.tokens import token_create
    from tests.factories import UserFactory

    sector, _ = Sector.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    tenant = Tenant.objects.create(name=f"Bench {repeat}", slug=f"bench-{repeat}", sector=sector)
    user = UserFactory(username=f"bench{repeat}", password=None)
    Membership.objects.create(user=user, client=tenant, role=Role.LIBRARIAN)
    token = token_create(user=user, name="bench")
    batch = UploadBatch.objects.create(client=tenant, created_by=user, name="bench")
    http = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {token.key}")
    url = f"/api/v1/clients/{tenant.slug}/batches/{batch.pk}/files/"

    watch = Stopwatch()
    patches: list = []
    # --- API phase ------------------------------------------------------------------------
    queued = capture_ingest_queue(patches)
    time_upload_stages(watch, patches)
    files = [
        SimpleUploadedFile(f"image-{i}.{args.format.lower()}", data, "application/octet-stream")
        for i, data in enumerate(images)
    ]
    with patched(patches):
        start = time.perf_counter()
        for offset in range(0, len(files), args.per_request):
            chunk = files[offset : offset + args.per_request]
            for f in chunk:
                f.seek(0)
            response = http.post(url, {"file": chunk})
            if response.status_code != 201:
                raise SystemExit(f"upload failed: {response.status_code} {response.content[:300]}")
        api_seconds = time.perf_counter() - start
    stored = Image.objects.filter(batch=batch).count()
    if stored != len(images):
        raise SystemExit(f"{stored} of {len(images)} images stored")
    api_stages = dict(watch.seconds)

    # --- worker phase ---------------------------------------------------------------------
    watch = Stopwatch()
    time_ingest_stages(watch, patches, prefix="worker")
    with patched(patches):
        start = time.perf_counter()
        for ids in queued:
            ingest.images_ingest(image_ids=ids)
        worker_seconds = time.perf_counter() - start
    worker_stages = ingest_stage_seconds(watch, prefix="worker")
    done = Image.objects.filter(batch=batch, status="needs_review").count()
    if done != len(images):
        raise SystemExit(f"{done} of {len(images)} images ingested")
    return {
        "api_seconds": api_seconds,
        "worker_seconds": worker_seconds,
        "api_stages": api_stages,
        "worker_stages": worker_stages,
        "bytes": sum(len(d) for d in images),
    }


def main() -> None:
    args = parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as data_dir:
        setup_django(data_dir)
        results = []
        for repeat in range(args.repeats):
            images = make_images(args.images, (width, height), args.format, args.quality, repeat)
            results.append(run_once(args, images, repeat))
            r = results[-1]
            print(
                f"repeat {repeat + 1}: API {args.images / r['api_seconds']:.0f} images/s, "
                f"worker {args.images / r['worker_seconds']:.0f} images/s",
                file=sys.stderr,
            )
    report(args, results, (width, height))


def report(args, results: list[dict], size: tuple[int, int]) -> None:
    n = args.images
    mean_kb = statistics.median(r["bytes"] for r in results) / n / 1024
    api_rate = statistics.median(n / r["api_seconds"] for r in results)
    worker_rate = statistics.median(n / r["worker_seconds"] for r in results)
    both_rate = statistics.median(n / (r["api_seconds"] + r["worker_seconds"]) for r in results)
    print(
        f"\n{n} {args.format} images of {size[0]}x{size[1]} (~{mean_kb:.0f} KB), "
        f"{args.per_request} per request, median of {len(results)} repeats, one process "
        f"(in-process test client; ingest task run in-process, no broker)"
    )
    print(f"  upload API (validate + hash + store + insert): {api_rate:8.1f} images/s")
    print(f"  worker (read + decode + thumbnails + store):   {worker_rate:8.1f} images/s")
    print(f"  both, one after the other:                     {both_rate:8.1f} images/s")
    for phase, key, total in (
        ("upload API", "api_stages", "api_seconds"),
        ("worker", "worker_stages", "worker_seconds"),
    ):
        stages = sorted({s for r in results for s in r[key]})
        print(f"\n  share of {phase} time (median):")
        shares_sum = 0.0
        for stage in stages:
            share = statistics.median(r[key].get(stage, 0.0) / r[total] for r in results)
            ms = statistics.median(r[key].get(stage, 0.0) / n * 1000 for r in results)
            shares_sum += share
            print(f"    {stage:<28} {share:6.1%}   {ms:6.2f} ms/image")
        print(f"    {'rest (Django, DB, parsing)':<28} {max(0.0, 1 - shares_sum):6.1%}")


if __name__ == "__main__":
    main()
