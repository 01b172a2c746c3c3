"""Celery tasks of the labelling app. No TensorFlow here (see taxonomy_site.celery)."""

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
