"""What the librarian's and admin's pages must say when the pipeline has stalled: no worker
seen for a while, or images waiting longer than expected to be processed."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from labelling.models import Image, ImageStatus, Role, WorkerHeartbeat

NOTICE_ROLES = {Role.ADMIN, Role.LIBRARIAN}


def pipeline_notices(*, client) -> list[str]:
    """Cached briefly: every page of every member asks."""
    key = f"pipeline-notices:{client.pk}"
    notices = cache.get(key)
    if notices is None:
        notices = _pipeline_notices(client)
        cache.set(key, notices, settings.PIPELINE_NOTICE_CACHE_SECONDS)
    return notices


def _pipeline_notices(client) -> list[str]:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return []  # tasks run inside the request: there is no worker to miss
    now = timezone.now()
    notices = []
    silent = timedelta(minutes=settings.PIPELINE_WORKER_SILENT_MINUTES)
    latest = WorkerHeartbeat.objects.order_by("-seen_at").values_list("seen_at", flat=True)
    seen_at = latest.first()
    if seen_at is None or now - seen_at > silent:
        notices.append(
            f"No worker has been seen for over {settings.PIPELINE_WORKER_SILENT_MINUTES} "
            "minutes: new uploads are not being tagged. Start the workers (make run starts "
            "them) or ask your administrator; the health page (/health/) says more."
        )
    waiting = Image.objects.filter(
        client=client,
        status__in=[ImageStatus.UPLOADED, ImageStatus.PROCESSING],
        created_at__lt=now - timedelta(minutes=settings.PIPELINE_WAIT_MINUTES),
    ).count()
    if waiting:
        notices.append(
            f"{waiting} image{'s have' if waiting != 1 else ' has'} waited over "
            f"{settings.PIPELINE_WAIT_MINUTES} minutes to be processed. Nothing is lost: they "
            "are processed once a worker runs; check the health page (/health/)."
        )
    return notices
