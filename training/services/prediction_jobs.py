"""Prediction jobs: images sent (or named) for prediction and answered later by the worker.

A job pins the version that was active when it was asked for, and its progress is counted
from that version's Prediction rows: the job row never changes after it is made, so the
worker needs nothing but the ``training.predict`` task that already predicts images.

New files go through the upload service like any upload (the same checks, the same refusals,
one row per content hash): they join the client's library and are ingested as usual.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from labelling.models import Client, Image, ImageStatus, Label, Prediction
from labelling.services import uploads
from training.models import PredictionJob
from training.selectors import active_version
from training.tasks import predict

logger = logging.getLogger(__name__)

MAX_TOP_N = 20
MAX_IMAGE_IDS = 500

QUEUED, RUNNING, DONE = "queued", "running", "done"
JOB_STATUSES = (QUEUED, RUNNING, DONE)


class NoActiveModel(Exception):
    """The client's sector has no model to predict with yet."""


@dataclass
class JobRequested:
    job: PredictionJob | None  # None when no image was left to predict
    files: list[uploads.FileOutcome] = field(default_factory=list)  # one per file sent


@dataclass
class JobProgress:
    status: str  # QUEUED, RUNNING or DONE
    done: int
    total: int
    # One per image, in id order: {"image": Image, "state": "pending"|"predicted"|"failed",
    # "labels": [{"id", "key", "name", "probability"}], "error": str}
    results: list[dict]


def prediction_job_create(
    *,
    client: Client,
    user,
    files: Sequence[uploads.IncomingFile] = (),
    image_ids: Sequence[int] = (),
    top_n: int | None = None,
) -> JobRequested:
    """Store ``files`` through the upload service, add the client's images ``image_ids``, and
    queue their prediction by the sector's active version (after the commit).

    Raises NoActiveModel before anything is stored when the sector has no active model, and
    ValidationError for a bad ``top_n`` or an image id that is not the client's."""
    top_n = settings.PREDICTION_TOP_N if top_n is None else top_n
    if not 1 <= top_n <= MAX_TOP_N:
        raise ValidationError({"top_n": f"Ask for 1 to {MAX_TOP_N} labels per image."})
    if len(files) > uploads.MAX_FILES_PER_REQUEST:
        raise ValidationError(
            {"files": f"At most {uploads.MAX_FILES_PER_REQUEST} files per request."}
        )
    wanted = list(dict.fromkeys(int(i) for i in image_ids))
    if len(wanted) > MAX_IMAGE_IDS:
        raise ValidationError({"image_ids": f"At most {MAX_IMAGE_IDS} images per request."})
    taxonomy = client.taxonomy
    version = active_version(taxonomy) if taxonomy is not None else None
    if version is None:
        raise NoActiveModel(
            f"The {client.sector.name} sector has no active model yet, so nothing can be "
            "predicted: an admin must train one (or activate a version) first."
        )
    known = set(Image.objects.for_client(client).filter(pk__in=wanted).values_list("pk", flat=True))
    unknown = [i for i in wanted if i not in known]
    if unknown:
        # The same answer for another client's image and for no image at all.
        listed = ", ".join(str(i) for i in unknown[:20])
        raise ValidationError({"image_ids": f"No image {listed} in {client.name}'s library."})

    outcomes: list[uploads.FileOutcome] = []
    if files:
        batch = uploads.batch_create(
            client=client,
            user=user,
            name=f"Sent for prediction {timezone.localtime():%Y-%m-%d %H:%M}",
        )
        outcomes = uploads.batch_files_upload(batch=batch, user=user, files=files)
    # A duplicate is the image already in the library: predicting it answers the file.
    from_files = [o.image.pk for o in outcomes if o.image is not None]
    ids = list(dict.fromkeys([*wanted, *from_files]))
    if not ids:
        return JobRequested(job=None, files=outcomes)
    with transaction.atomic():
        job = PredictionJob.objects.create(
            client=client,
            model_version=version,
            top_n=top_n,
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        job.images.set(ids)
        transaction.on_commit(lambda: _enqueue(ids, top_n, version.pk))
    return JobRequested(job=job, files=outcomes)


def _enqueue(image_ids: list[int], top_n: int, model_version_id: int) -> None:
    try:
        # The job's own version, even if the pointer moves before the worker gets to it.
        predict.delay(image_ids, top_n, model_version_id)
    except Exception:  # the job is stored; a broker hiccup must not turn it into a 500
        logger.exception("could not queue prediction of images %s", image_ids)


def prediction_jobs_requeue_stalled(*, now=None) -> dict[str, int]:
    """Queue again the images of jobs that stopped moving; returns {job id: images queued}.

    A predict message can be lost: on the embedded broker a whole worker killed mid-task takes
    its reserved messages with it, and a broker can lose its queue. A job counts as stalled
    when it is older than PREDICTION_JOB_STALE_AFTER_MINUTES, has images without a
    prediction of its version (and not failed), and none of its predictions is that recent.
    Predicting is idempotent per (image, version), so a job merely stuck behind a long queue
    costs its images a lookup each when they come round twice. Jobs older than
    PREDICTION_JOB_RETRY_HOURS are left alone: their images keep their state."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=settings.PREDICTION_JOB_STALE_AFTER_MINUTES)
    oldest = now - timedelta(hours=settings.PREDICTION_JOB_RETRY_HOURS)
    requeued: dict[str, int] = {}
    jobs = PredictionJob.objects.filter(created_at__lt=stale, created_at__gte=oldest)
    for job in jobs.order_by("created_at").iterator():
        images = job.images.all()
        predictions = Prediction.objects.filter(
            model_version_id=job.model_version_id, image__in=images
        )
        if (predictions.aggregate(latest=Max("created_at"))["latest"] or stale) > stale:
            continue  # it is moving
        pending = list(
            images.exclude(pk__in=predictions.values("image_id"))
            .exclude(status=ImageStatus.FAILED)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for start in range(0, len(pending), MAX_IMAGE_IDS):
            _enqueue(pending[start : start + MAX_IMAGE_IDS], job.top_n, job.model_version_id)
        if pending:
            logger.warning(
                "prediction job %s stalled: %d images queued again", job.pk, len(pending)
            )
            requeued[str(job.pk)] = len(pending)
    return requeued


def prediction_job_progress(*, job: PredictionJob) -> JobProgress:
    """Where a job stands, from the Prediction rows of its version. An image the worker could
    not read (ingestion marked it failed) counts as finished, with the reason."""
    images = list(job.images.order_by("pk").only("id", "original_name", "status", "failure_reason"))
    predictions = {
        p.image_id: p
        for p in Prediction.objects.filter(
            model_version_id=job.model_version_id, image_id__in=[i.pk for i in images]
        ).only("image_id", "ranked")
    }
    label_ids = {
        entry["label"] for p in predictions.values() for entry in _entries(p.ranked, job.top_n)
    }
    labels = Label.objects.in_bulk(label_ids) if label_ids else {}
    names = job.client.display_names() if label_ids else {}
    results = []
    done = 0
    for image in images:
        prediction = predictions.get(image.pk)
        if prediction is not None:
            state, error = "predicted", ""
            ranked = [
                {
                    "id": entry["label"],
                    "key": labels[entry["label"]].key,
                    "name": names.get(entry["label"], labels[entry["label"]].name),
                    "probability": entry["probability"],
                }
                for entry in _entries(prediction.ranked, job.top_n)
                if entry["label"] in labels
            ]
        elif image.status == ImageStatus.FAILED:
            state, error, ranked = "failed", image.failure_reason or "The image is unreadable.", []
        else:
            state, error, ranked = "pending", "", []
        done += state != "pending"
        results.append({"image": image, "state": state, "labels": ranked, "error": error})
    total = len(images)
    status = DONE if done == total else RUNNING if done else QUEUED
    return JobProgress(status=status, done=done, total=total, results=results)


def _entries(ranked, top_n: int) -> list[dict]:
    return [e for e in (ranked or []) if isinstance(e, dict) and "label" in e][:top_n]
