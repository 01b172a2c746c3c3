"""The embedded broker (kombu's SQLAlchemy transport on SQLite, taxonomy_site.broker)
delivers every message, even with writers and readers in separate processes at once."""

import multiprocessing
import sqlite3
from queue import Empty

import pytest
from kombu import Connection
from sqlalchemy.exc import OperationalError

import taxonomy_site.celery  # noqa: F401  registers the transport's alias


def _url(path) -> str:
    return f"sqlitebroker+sqlite:///{path}"


def _connection(path, **options) -> Connection:
    return Connection(_url(path), transport_options={"polling_interval": 0.01, **options})


def _publish(path, start: int, count: int) -> None:
    with _connection(path) as connection:
        queue = connection.SimpleQueue("work")
        for number in range(start, start + count):
            queue.put({"n": number})


def _consume(path, results) -> None:
    seen = []
    with _connection(path) as connection:
        queue = connection.SimpleQueue("work")
        while True:
            try:
                message = queue.get(timeout=5)
            except Empty:
                break
            if message.payload == "stop":
                message.ack()
                break
            seen.append(message.payload["n"])
            message.ack()
    results.put(seen)


def test_it_never_loses_a_message_written_while_workers_read(tmp_path):
    path = tmp_path / "broker.sqlite3"
    _publish(path, 0, 1)  # creates the tables before the processes race for them
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    readers = [context.Process(target=_consume, args=(path, results)) for _ in range(2)]
    writers = [context.Process(target=_publish, args=(path, 1 + 300 * i, 300)) for i in range(2)]
    for process in readers + writers:
        process.start()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    with _connection(path) as connection:
        for _ in readers:
            connection.SimpleQueue("work").put("stop")
    seen = [number for _ in readers for number in results.get(timeout=120)]
    for process in readers:
        process.join(120)
    assert sorted(seen) == list(range(601))  # each one, exactly once
    with _connection(path) as connection:
        assert connection.SimpleQueue("work").qsize() == 0


def test_an_acked_message_leaves_no_row(tmp_path):
    path = tmp_path / "broker.sqlite3"
    with _connection(path) as connection:
        queue = connection.SimpleQueue("work")
        queue.put({"n": 1})
        queue.get(timeout=5).ack()
    rows = sqlite3.connect(path).execute("select count(*) from kombu_message").fetchone()
    assert rows == (0,)


def _take_and_die(path) -> None:
    import os

    with _connection(path, visibility_timeout=3600) as connection:
        connection.SimpleQueue("work").get(timeout=5)
        os._exit(0)  # killed before it could ack or hand the message back


def test_a_message_whose_worker_vanished_comes_back_after_the_visibility_timeout(tmp_path):
    path = tmp_path / "broker.sqlite3"
    _publish(path, 1, 1)
    process = multiprocessing.get_context("spawn").Process(target=_take_and_die, args=(path,))
    process.start()
    process.join(60)
    assert process.exitcode == 0
    with _connection(path, visibility_timeout=3600) as connection:
        with pytest.raises(Empty):  # still within its window: nobody else gets it
            connection.SimpleQueue("work").get(timeout=0.1)
    with _connection(path, visibility_timeout=0) as connection:
        queue = connection.SimpleQueue("work")
        again = queue.get(timeout=5)
        assert again.payload == {"n": 1}
        again.ack()
        with pytest.raises(Empty):
            queue.get(timeout=0.1)


def test_a_rejected_message_is_handed_out_again_once(tmp_path):
    path = tmp_path / "broker.sqlite3"
    with _connection(path) as connection:
        queue = connection.SimpleQueue("work")
        queue.put({"n": 1})
        queue.get(timeout=5).requeue()
        queue.get(timeout=5).ack()
        with pytest.raises(Empty):
            queue.get(timeout=0.1)


def test_a_write_that_fails_raises(tmp_path):
    path = tmp_path / "broker.sqlite3"
    _publish(path, 0, 1)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the lock past the timeout
    try:
        with _connection(path, busy_timeout=0.05) as connection:
            with pytest.raises(OperationalError):
                connection.SimpleQueue("work").put({"n": 2}, retry=False)
    finally:
        blocker.execute("ROLLBACK")
