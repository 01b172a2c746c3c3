"""Checks behind the health page: database, broker, worker, storage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.db import connection
from django.utils import timezone

from labelling.models import WorkerHeartbeat


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Check("database", True, connection.vendor)
    except Exception as exc:  # any failure is the answer, not a crash of the page
        return Check("database", False, f"{type(exc).__name__}: {exc}")


def check_broker() -> Check:
    from taxonomy_site.celery import app

    transport = app.conf.broker_url.split(":", 1)[0]
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return Check("broker", True, transport)
    except Exception as exc:
        return Check("broker", False, f"{transport}: {type(exc).__name__}: {exc}")


def check_worker() -> Check:
    # Workers run beat's heartbeat task; a recent row proves a worker consumed a task.
    window = timedelta(seconds=3 * settings.CELERY_WORKER_HEARTBEAT_SECONDS)
    latest = WorkerHeartbeat.objects.order_by("-seen_at").first()
    if latest is None:
        return Check("worker", False, "no worker has reported yet")
    age = timezone.now() - latest.seen_at
    seconds = int(age.total_seconds())
    if age > window:
        return Check("worker", False, f"last seen {seconds}s ago on {latest.hostname}")
    return Check("worker", True, f"seen {seconds}s ago on {latest.hostname}")


def check_storage() -> Check:
    name = f"health/{uuid.uuid4().hex}.txt"
    try:
        saved = default_storage.save(name, ContentFile(b"ok"))
        with default_storage.open(saved) as handle:
            content = handle.read()
        default_storage.delete(saved)
        ok = content == b"ok"
        backend = type(storages["default"]).__name__  # default_storage is a lazy proxy
        return Check("storage", ok, backend if ok else "read back differs")
    except Exception as exc:
        return Check("storage", False, f"{type(exc).__name__}: {exc}")


def run_checks() -> list[Check]:
    return [check_database(), check_broker(), check_worker(), check_storage()]
