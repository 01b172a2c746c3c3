"""Celery tasks of the labelling app. No TensorFlow here (see taxonomy_site.celery).

Services import these tasks at the top to enqueue them; a task imports its service inside
the function, so the dependency runs one way (services → tasks at import time)."""

import socket

from celery import shared_task
from celery.signals import worker_ready
from django.utils import timezone

from labelling.models import WorkerHeartbeat


@shared_task(name="labelling.worker_heartbeat", queue="ingest", ignore_result=True)
def worker_heartbeat() -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=socket.gethostname(), defaults={"seen_at": timezone.now()}
    )


@worker_ready.connect
def _report_ready(**_kwargs) -> None:
    # Report at once rather than after the first beat interval, so the health page turns
    # green as soon as a worker is up.
    worker_heartbeat.delay()


@shared_task(name="labelling.ingest_images", queue="ingest", ignore_result=True)
def ingest_images(image_ids: list[int]) -> None:
    """Derivatives and prediction for freshly uploaded images. Idempotent: each image is
    claimed first, so a repeated message finds nothing left to do."""
    from labelling.services.ingest import images_ingest

    images_ingest(image_ids=image_ids)


@shared_task(name="labelling.sweep_stuck_images", queue="ingest", ignore_result=True)
def sweep_stuck_images() -> None:
    """Periodic (beat): queue again images stuck in processing or left in uploaded."""
    from labelling.services.ingest import stuck_images_requeue

    stuck_images_requeue()
