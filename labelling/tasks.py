"""Celery tasks of the labelling app. No TensorFlow here (see taxonomy_site.celery)."""

import socket

from celery import shared_task
from django.utils import timezone

from labelling.models import WorkerHeartbeat


@shared_task(name="labelling.worker_heartbeat", queue="ingest", ignore_result=True)
def worker_heartbeat() -> None:
    WorkerHeartbeat.objects.update_or_create(
        hostname=socket.gethostname(), defaults={"seen_at": timezone.now()}
    )
