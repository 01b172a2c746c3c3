"""A real Celery worker, on the configured broker (the filesystem transport by default,
Redis when REDIS_URL is set), consumes a task and writes to the real database."""

import time

import pytest
from celery.contrib.testing.worker import start_worker

from labelling.health import check_worker
from labelling.models import WorkerHeartbeat
from labelling.tasks import worker_heartbeat
from taxonomy_site.celery import app, ensure_broker_folders


@pytest.fixture
def celery_worker(transactional_db, tmp_path):
    assert not check_worker().ok  # nothing has reported before the worker starts
    options = dict(app.conf.broker_transport_options or {})
    if app.conf.broker_url.startswith("filesystem"):
        # A broker folder of its own, so no message of another run is consumed here.
        for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
            options[key] = str(tmp_path / "broker" / key)
        app.conf.broker_transport_options = options
        ensure_broker_folders()
    saved = app.conf.broker_transport_options
    try:
        with start_worker(
            app, pool="solo", queues=["ingest"], perform_ping_check=False, shutdown_timeout=10
        ) as worker:
            yield worker
    finally:
        app.conf.broker_transport_options = saved


def test_a_real_worker_runs_the_heartbeat(celery_worker):
    worker_heartbeat.delay()
    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert WorkerHeartbeat.objects.exists()
    assert check_worker().ok
