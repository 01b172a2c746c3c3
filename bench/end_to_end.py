"""End to end: images/s from upload to stored prediction, and where the time goes.

    .venv/bin/python -m bench.end_to_end --images 300 --size 1024x768 --per-request 10 --repeats 3

Everything runs on a fresh SQLite data dir (the embedded defaults), with an active head
model: before the clock starts, a head is trained by the product's own training service
(the default backbone and its embedding, at its own input size) on 60 generated verified
photos, and activated, so that every upload is embedded, predicted, stored and decided on.

Two measurements, in one run, on the same kind of images (photo-like JPEGs made in memory
before the clock starts, every one different, so nothing is a duplicate or already
embedded):

1. **The real stack.** gunicorn serves the upload API (one worker, as small as it gets);
   one Celery worker (the ``ingest`` queue, concurrency 1, the embedded broker) does
   what ``make run``'s ingest worker does: claim, decode, thumbnail and model-input image,
   then the prediction hook (embed with the backbone, the head, calibrate, store the
   Prediction, auto-tag or send to review). The clock runs from the first upload request
   until the last image has its Prediction row and has left ``processing``. A warm-up batch
   goes through first, untimed: a running worker has its model loaded.
2. **Where the time goes.** The same code in this one process, stage by stage: uploads
   through Django's test client (no socket), then the ingest service on each request's
   ids (no broker), with the product's functions wrapped by stopwatches: validation,
   hashing and storage at upload; decode, thumbnails and storage at ingest; and at
   prediction, reading the model-input image, the backbone, the head. The rest is Django,
   DRF, the database and the queueing.

Baseline, measured in the same run: the backbone alone (``run_model`` on pixels already
decoded, batches of --per-request, the same model object), the ceiling for an ingest
pipeline that must also decode, store and write. The end-to-end rate is printed as a ratio
to it, since the machines are noisy and ratios hold where absolute figures drift.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.django_setup import (  # noqa: E402
    free_port,
    server_env,
    setup_django,
    start_gunicorn,
    stop_processes,
    wait_for_http,
)
from bench.ingest import (  # noqa: E402
    Stopwatch,
    capture_ingest_queue,
    ingest_stage_seconds,
    make_images,
    patched,
    time_ingest_stages,
    time_upload_stages,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.end_to_end", description=__doc__)
    parser.add_argument("--images", type=int, default=300, help="images per timed repeat")
    parser.add_argument("--size", default="1024x768", help="WIDTHxHEIGHT of each image")
    parser.add_argument("--per-request", type=int, default=10, help="files per upload request")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backbone", default=None, help="default: the product's default")
    parser.add_argument(
        "--baseline-prefetch",
        type=int,
        metavar="N",
        help="also run the real stack with the worker reserving N tasks (1: the setting the "
        "filesystem broker had before), on as many fresh images, for a ratio in the same run",
    )
    parser.add_argument("--json", metavar="OUT", help="also write the figures as JSON")
    return parser.parse_args(argv)


# --- the world: a client, a librarian with a token, an active model ------------------------


def build_world(backbone: str | None) -> dict:
    import numpy as np
    from django.conf import settings

    from labelling.models import Membership, Role
    from labelling.services.tokens import token_create
    from tests import factories
    from tests.training.builders import add_photo
    from training.services.training import training_execute, training_request

    sector = factories.SectorFactory(name="Bench", slug="bench")
    taxonomy = factories.TaxonomyFactory(sector=sector, name="Bench photos")
    warm = factories.LabelFactory(taxonomy=taxonomy, key="warm", name="Warm")
    cool = factories.LabelFactory(taxonomy=taxonomy, key="cool", name="Cool")
    client = factories.ClientFactory(name="Bench library", slug="bench-library", sector=sector)
    user = factories.UserFactory(username="librarian", password=None)
    Membership.objects.create(user=user, client=client, role=Role.LIBRARIAN)
    rng = np.random.default_rng(0)
    for i in range(60):
        add_photo(client, rng, warm=i % 2 == 0, label=warm if i % 2 == 0 else cool)
    start = time.perf_counter()
    run = training_execute(
        run_id=training_request(
            taxonomy=taxonomy, backbone=backbone or settings.DEFAULT_BACKBONE
        ).pk
    )
    if run.model_version is None:
        raise SystemExit(f"training failed: {run.message}")
    version = run.model_version
    print(
        f"trained v{version.number} ({version.backbone}, {version.mode}, {version.embedding}, "
        f"{version.input_size} px) in {time.perf_counter() - start:.1f} s: {run.message}",
        file=sys.stderr,
    )
    return {
        "client": client,
        "user": user,
        "token": token_create(user=user, name="bench").key,
        "version": version,
    }


def new_batch(world: dict, name: str) -> int:
    from labelling.models import UploadBatch

    return UploadBatch.objects.create(
        client=world["client"], created_by=world["user"], name=name
    ).pk


def batch_finished(batch_id: int) -> tuple[int, int]:
    """(images of the batch with a stored prediction, images still waiting)."""
    from labelling.models import Image, ImageStatus, Prediction

    images = Image.objects.filter(batch_id=batch_id)
    predicted = Prediction.objects.filter(image__batch_id=batch_id).count()
    waiting = images.filter(status__in=[ImageStatus.UPLOADED, ImageStatus.PROCESSING]).count()
    return predicted, waiting


# --- 1. the real stack ------------------------------------------------------------------------


def start_processes(data_dir: str, port: int, env_extra: dict) -> list[subprocess.Popen]:
    env = server_env(data_dir, **env_extra)
    web = start_gunicorn(port, env, workers=1, threads=4)
    worker = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "celery"),
            "-A",
            "taxonomy_site",
            "worker",
            "-Q",
            "ingest",
            "-c",
            "1",
            "-n",
            "bench-ingest@%h",
            "--loglevel",
            "WARNING",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=open(Path(data_dir, "worker.log"), "w"),  # noqa: SIM115 (lives as long as it)
        stderr=subprocess.STDOUT,
    )
    return [web, worker]


def upload_over_http(session, base: str, world: dict, batch_id: int, images, per_request: int):
    url = f"{base}/api/v1/clients/{world['client'].slug}/batches/{batch_id}/files/"
    for offset in range(0, len(images), per_request):
        files = [
            ("file", (f"photo-{offset + i}.jpg", data, "image/jpeg"))
            for i, data in enumerate(images[offset : offset + per_request])
        ]
        response = session.post(url, files=files, timeout=120)
        if response.status_code != 201:
            raise SystemExit(f"upload failed: {response.status_code} {response.text[:300]}")
        _all_stored(response.json()["results"])


def _all_stored(results: list[dict]) -> None:
    """Every file must be a new image: a refused or duplicate one would never get the
    prediction the clock waits for."""
    odd = [
        f"{r['name']}: {r['status']} ({r['message']})" for r in results if r["status"] != "stored"
    ]
    if odd:
        raise SystemExit("not every file was stored as a new image: " + "; ".join(odd))


def wait_for_predictions(batch_id: int, n: int, *, timeout: float) -> float:
    """Seconds (monotonic clock) when the batch's n images all have a prediction."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        predicted, waiting = batch_finished(batch_id)
        if predicted >= n and waiting == 0:
            return time.monotonic()
        time.sleep(0.05)
    predicted, waiting = batch_finished(batch_id)
    raise SystemExit(f"timed out: {predicted} of {n} predicted, {waiting} still waiting")


def real_stack(
    args, world: dict, data_dir: str, image_sets: list[list[bytes]], env_extra=None
) -> list[dict]:
    import requests

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    processes = start_processes(data_dir, port, env_extra or {})
    label = " ".join(f"{k}={v}" for k, v in (env_extra or {}).items()) or "as configured"
    results = []
    try:
        # Any answer will do: 503 only says the worker has not sent a heartbeat yet.
        if not wait_for_http(f"{base}/health/?format=json", any_answer=True):
            raise SystemExit("gunicorn did not answer within 60 s")
        session = requests.Session()
        session.headers["Authorization"] = f"Token {world['token']}"
        warmup, *timed = image_sets
        batch = new_batch(world, "warm-up")
        upload_over_http(session, base, world, batch, warmup, args.per_request)
        wait_for_predictions(batch, len(warmup), timeout=600)
        for repeat, images in enumerate(timed, 1):
            batch = new_batch(world, f"real stack {repeat}")
            start = time.monotonic()
            upload_over_http(session, base, world, batch, images, args.per_request)
            uploaded = time.monotonic()
            done = wait_for_predictions(batch, len(images), timeout=1200)
            result = {
                "images": len(images),
                "seconds": done - start,
                "upload_seconds": uploaded - start,
                "images_per_s": len(images) / (done - start),
                **latencies(batch),
            }
            results.append(result)
            print(
                f"real stack ({label}), repeat {repeat}: {result['images_per_s']:.1f} images/s "
                f"(uploads done after {result['upload_seconds']:.1f} s of "
                f"{result['seconds']:.1f} s; each image waited "
                f"{result['upload_to_prediction_s_median']:.1f} s (median) for its prediction)",
                file=sys.stderr,
            )
    finally:
        stop_processes(processes)
    return results


def latencies(batch_id: int) -> dict:
    """Per image, from the database's own timestamps: upload stored → processing claimed
    (the queue), and → prediction stored."""
    from labelling.models import Image, Prediction

    created = dict(Image.objects.filter(batch_id=batch_id).values_list("pk", "created_at"))
    predicted = dict(
        Prediction.objects.filter(image__batch_id=batch_id).values_list("image_id", "created_at")
    )
    waits = sorted((predicted[pk] - created[pk]).total_seconds() for pk in created)
    return {
        "upload_to_prediction_s_median": statistics.median(waits),
        "upload_to_prediction_s_max": waits[-1],
    }


# --- 2. where the time goes -------------------------------------------------------------------


def in_process(args, world: dict, images: list[bytes], name: str, *, timed: bool) -> dict:
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client

    import training.inference
    import training.runtime
    from labelling.services import ingest
    from training import embedding_store

    batch = new_batch(world, name)
    http = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {world['token']}")
    url = f"/api/v1/clients/{world['client'].slug}/batches/{batch}/files/"
    watch = Stopwatch()
    patches: list = []
    queued = capture_ingest_queue(patches)
    time_upload_stages(watch, patches)
    time_ingest_stages(watch, patches, prefix="ingest")
    watch.wrap(embedding_store, "load_pixels", "predict: read model-input image", patches)
    backbone = training.runtime.backbone_model(
        world["version"].backbone, world["version"].embedding
    )
    original_run = training.inference.run_model

    def run_model(model, inputs, **kwargs):
        stage = "predict: backbone" if model is backbone else "predict: head"
        t0 = time.perf_counter()
        try:
            return original_run(model, inputs, **kwargs)
        finally:
            watch.seconds[stage] += time.perf_counter() - t0

    patches.append((training.inference, "run_model", original_run))
    training.inference.run_model = run_model
    files = [
        SimpleUploadedFile(f"photo-{i}.jpg", data, "application/octet-stream")
        for i, data in enumerate(images)
    ]
    with patched(patches):
        start = time.perf_counter()
        for offset in range(0, len(files), args.per_request):
            # One request, then the ingest task on what it queued: as a worker keeping up.
            response = http.post(url, {"file": files[offset : offset + args.per_request]})
            if response.status_code != 201:
                raise SystemExit(f"upload failed: {response.status_code} {response.content[:300]}")
            _all_stored(response.json()["results"])
            for ids in queued:
                ingest.images_ingest(image_ids=ids)
            queued.clear()
        seconds = time.perf_counter() - start
    predicted, waiting = batch_finished(batch)
    if predicted != len(images) or waiting:
        raise SystemExit(f"in process: {predicted} of {len(images)} predicted, {waiting} waiting")
    stages = ingest_stage_seconds(watch, prefix="ingest")
    if timed:
        print(
            f"in process: {len(images) / seconds:.1f} images/s over {seconds:.1f} s",
            file=sys.stderr,
        )
    return {"images": len(images), "seconds": seconds, "stages": stages}


def backbone_alone(world: dict, images: list[bytes], per_request: int) -> dict:
    """The ceiling for the model's part: the backbone on decoded pixels, nothing else."""
    import io

    import numpy as np

    from training.backbones.preprocess import load_image_for_backbone
    from training.inference import run_model
    from training.runtime import backbone_model

    version = world["version"]
    model = backbone_model(version.backbone, version.embedding)
    pixels = np.stack([load_image_for_backbone(io.BytesIO(d), version.input_size) for d in images])
    run_model(model, pixels[:per_request], batch_size=per_request)  # traced already; cheap
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run_model(model, pixels, batch_size=per_request)
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"images": len(images), "seconds": seconds, "images_per_s": len(images) / seconds}


# --- report -----------------------------------------------------------------------------------


def report(args, world, real, local, ceiling, before) -> dict:
    version = world["version"]
    n = args.images
    real_rate = statistics.median(r["images_per_s"] for r in real)
    upload_share = statistics.median(r["upload_seconds"] / r["seconds"] for r in real)
    local_rate = statistics.median(r["images"] / r["seconds"] for r in local)
    ceiling_rate = statistics.median(r["images_per_s"] for r in ceiling)
    print(
        f"\n{n} JPEG images of {args.size}, {args.per_request} per request, median of "
        f"{len(real)} repeats; model: {version.backbone} {version.mode} on the "
        f"{version.embedding} embedding, {version.input_size} px"
    )
    print(
        f"  real stack (gunicorn + Celery worker, upload → stored prediction): "
        f"{real_rate:6.1f} images/s  (uploads finish at {upload_share:.0%} of the time)"
    )
    wait = statistics.median(r["upload_to_prediction_s_median"] for r in real)
    print(f"  from its upload to its stored prediction, an image waited {wait:.1f} s (median)")
    print(f"  one process, stage by stage: {local_rate:6.1f} images/s")
    print(
        f"  baseline, the backbone alone at batch {args.per_request}: {ceiling_rate:6.1f} images/s"
    )
    print(f"  real stack / backbone alone: {real_rate / ceiling_rate:.2f}")
    before_rate = statistics.median(r["images_per_s"] for r in before) if before else None
    if before_rate:
        print(
            f"  real stack with the worker reserving {args.baseline_prefetch} task(s): "
            f"{before_rate:6.1f} images/s (as configured / this: {real_rate / before_rate:.1f}x)"
        )
    stages = sorted({s for r in local for s in r["stages"]})
    print("\n  where one process's time goes (median share; ms per image):")
    shares = {}
    for stage in stages:
        share = statistics.median(r["stages"].get(stage, 0.0) / r["seconds"] for r in local)
        ms = statistics.median(r["stages"].get(stage, 0.0) / r["images"] * 1000 for r in local)
        shares[stage] = {"share": share, "ms_per_image": ms}
        print(f"    {stage:<34} {share:6.1%}  {ms:7.2f} ms")
    rest = max(0.0, 1 - sum(s["share"] for s in shares.values()))
    rest_ms = statistics.median(
        (r["seconds"] - sum(r["stages"].values())) / r["images"] * 1000 for r in local
    )
    shares["rest: Django, DRF, database, queueing"] = {"share": rest, "ms_per_image": rest_ms}
    print(f"    {'rest: Django, DRF, database, queueing':<34} {rest:6.1%}  {rest_ms:7.2f} ms")
    return {
        "command": "python -m bench.end_to_end " + " ".join(getattr(args, "argv", [])),
        "model": {
            "backbone": version.backbone,
            "mode": version.mode,
            "embedding": version.embedding,
            "input_size": version.input_size,
        },
        "images": n,
        "size": args.size,
        "per_request": args.per_request,
        "real_stack": real,
        "real_stack_images_per_s": real_rate,
        "in_process": local,
        "in_process_images_per_s": local_rate,
        "backbone_alone": ceiling,
        "backbone_alone_images_per_s": ceiling_rate,
        "ratio_real_stack_to_backbone": real_rate / ceiling_rate,
        "baseline_prefetch": args.baseline_prefetch,
        "real_stack_baseline_prefetch": before,
        "real_stack_baseline_prefetch_images_per_s": before_rate,
        "stages": shares,
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    args.argv = argv
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as data_dir:
        setup_django(data_dir, embedded=True)  # SQLite and the embedded broker
        world = build_world(args.backbone)
        sets = [
            make_images(n, (width, height), "JPEG", 85, seed)
            for seed, n in enumerate([args.per_request * 2] + [args.images] * args.repeats)
        ]
        real = real_stack(args, world, data_dir, sets)
        before = []
        if args.baseline_prefetch is not None:
            sets = [
                make_images(n, (width, height), "JPEG", 85, 500 + seed)
                for seed, n in enumerate([args.per_request * 2] + [args.images] * args.repeats)
            ]
            env = {"CELERY_WORKER_PREFETCH_MULTIPLIER": str(args.baseline_prefetch)}
            before = real_stack(args, world, data_dir, sets, env)
        # In process: a fresh set per repeat again, since those above are now duplicates.
        more = [
            make_images(n, (width, height), "JPEG", 85, 1000 + seed)
            for seed, n in enumerate([args.per_request * 2] + [args.images] * args.repeats)
        ]
        in_process(args, world, more[0], "in-process warm-up", timed=False)
        local, ceiling = [], []
        for repeat, images in enumerate(more[1:], 1):
            local.append(in_process(args, world, images, f"in process {repeat}", timed=True))
            ceiling.append(backbone_alone(world, images, args.per_request))
        result = report(args, world, real, local, ceiling, before)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
