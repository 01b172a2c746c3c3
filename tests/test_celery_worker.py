"""A real Celery worker, on the configured broker (the SQLite transport by default,
Redis when REDIS_URL is set), consumes a task and writes to the real database."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from labelling.health import check_worker
from labelling.models import WorkerHeartbeat
from labelling.tasks import worker_heartbeat
from taxonomy_site.celery import app


@pytest.fixture
def celery_worker(transactional_db):
    assert not check_worker().ok  # nothing has reported before the worker starts
    app.control.purge()  # no message left by another test is consumed here
    with start_worker(
        app, pool="solo", queues=["ingest"], perform_ping_check=False, shutdown_timeout=10
    ) as worker:
        yield worker


def test_a_real_worker_runs_the_heartbeat(celery_worker):
    worker_heartbeat.delay()
    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert WorkerHeartbeat.objects.exists()
    assert check_worker().ok
