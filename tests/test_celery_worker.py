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


def test_a_task_whose_worker_child_is_killed_is_delivered_again(tmp_path):
    """acks_late + task_reject_on_worker_lost: the message comes back at once, on Redis and
    on the embedded broker, without waiting for a sweeper or the visibility timeout."""
    import os
    import subprocess
    import sys

    from taxonomy_site.celery import app as celery_app

    folder = tmp_path / "task"
    folder.mkdir()
    celery_app.control.purge()
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "taxonomy_site", "worker", "-P", "prefork"]
        + ["-c", "1", "-Q", "crashtest", "-I", "tests.worker_tasks", "-n", "crashtest@%h"]
        + ["--without-mingle", "--without-gossip", "--loglevel", "INFO"],
        # The redelivery is under test, not Celery's 10 s wait for a dead child's result.
        env={**os.environ, "CELERY_WORKER_LOST_WAIT": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        celery_app.send_task("tests.die_once", args=[str(folder)], queue="crashtest")
        deadline = time.monotonic() + 90
        while not (folder / "ran-again").exists() and time.monotonic() < deadline:
            assert worker.poll() is None, "the worker itself died"
            time.sleep(0.2)
        first = (folder / "first-delivery").read_text()
        again = (folder / "ran-again").read_text()
        assert first != again  # a fresh child ran the same message
    finally:
        worker.terminate()
        output = worker.communicate(timeout=30)[0]
    assert "WorkerLostError" in output or "signal 9" in output
