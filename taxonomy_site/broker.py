"""The embedded Celery broker: kombu's SQLAlchemy transport on a SQLite file, made safe.

Kombu's SQLAlchemy transport keeps each message as a row, and SQLite commits a row whole or
not at all, so a reader never sees half a message (the filesystem transport's failure: a
file read before it was fully written, ~2 in 1,000 under load, and a dead worker). Out of
the box it still loses work in three ways, which this transport closes:

- a failed write is rolled back and forgotten; here it raises, so the caller knows;
- a message handed to a worker is only marked invisible, kept in the worker's memory, and
  never seen again if that worker dies; here a claimed row is stamped, and a row claimed
  longer ago than the visibility timeout is handed out again (as Redis does);
- acknowledged rows are kept forever; here an ack deletes the row.

The database is its own file (not the product's), in WAL mode with a busy timeout, and every
claim takes SQLite's write lock first (BEGIN IMMEDIATE), so two workers never claim one row.
"""

import datetime
from json import dumps, loads
from queue import Empty

from kombu.transport import sqlalchemy as kombu_sqla
from kombu.transport import virtual
from sqlalchemy import create_engine, event

# Key, inside a message's delivery_info, of the row that holds it.
ROW_KEY = "sqlite_row_id"


def _now() -> datetime.datetime:
    # kombu's table stores naive timestamps; UTC keeps them comparable across restarts.
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _stamp(moment: datetime.datetime) -> str:
    # The text SQLAlchemy's DateTime writes on SQLite, so that rows compare as times.
    return moment.isoformat(sep=" ", timespec="microseconds")


def _sqlite_engine(url: str, *, busy_timeout: float):
    engine = create_engine(url, connect_args={"timeout": busy_timeout})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the sqlite3 module, say when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # A writer takes the lock up front: a read that later upgrades to a write could fail
        # with "database is locked" instead of waiting its turn.
        mode = "DEFERRED" if connection.get_execution_options().get("read_only") else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


class QoS(virtual.QoS):
    def ack(self, delivery_tag):
        message = self._delivered.get(delivery_tag)
        if message is not None:
            self.channel._delete_row(message.delivery_info.get(ROW_KEY))
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if not requeue:
            message = self._delivered.get(delivery_tag)
            if message is not None:
                self.channel._delete_row(message.delivery_info.get(ROW_KEY))
        super().reject(delivery_tag, requeue=requeue)


class Channel(kombu_sqla.Channel):
    QoS = QoS
    _sqlite_engines: dict = {}

    def __init__(self, connection, **kwargs):
        options = connection.client.transport_options
        self.visibility_timeout = float(options.get("visibility_timeout", 3600))
        self.busy_timeout = float(options.get("busy_timeout", 30))
        self._queue_ids: dict[str, int] = {}
        super().__init__(connection, **kwargs)

    @property
    def engine(self):
        url = self.connection.client.hostname
        # One engine per file and lock timeout: a connection asking for another timeout
        # must not be handed an engine made with the first one's.
        key = (url, self.busy_timeout)
        engine = self._sqlite_engines.get(key)
        if engine is None:
            with kombu_sqla._MUTEX:
                engine = self._sqlite_engines.get(key)
                if engine is None:
                    engine = _sqlite_engine(url, busy_timeout=self.busy_timeout)
                    kombu_sqla.metadata.create_all(engine)
                    self._sqlite_engines[key] = engine
        return engine

    def _queue_id(self, queue: str) -> int:
        queue_id = self._queue_ids.get(queue)
        if queue_id is None:
            table = self.queue_tablename
            with self.engine.begin() as connection:
                connection.exec_driver_sql(
                    f"INSERT OR IGNORE INTO {table} (name) VALUES (?)", (queue,)
                )
                queue_id = connection.exec_driver_sql(
                    f"SELECT id FROM {table} WHERE name = ?", (queue,)
                ).scalar()
            self._queue_ids[queue] = queue_id
        return queue_id

    def _new_queue(self, queue, **kwargs):
        self._queue_id(queue)

    # Plain SQL: a claim is three statements, and building SQLAlchemy expressions for each
    # cost more than running them.
    def _ready_sql(self) -> str:
        return (
            f"FROM {self.message_tablename} WHERE queue_id = ? AND (visible = 1 OR timestamp < ?)"
        )

    def _ready_args(self, queue: str) -> tuple:
        expired = _now() - datetime.timedelta(seconds=self.visibility_timeout)
        return (self._queue_id(queue), _stamp(expired))

    def _put(self, queue, payload, **kwargs):
        # No try/except: a message that could not be written must fail the publish.
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"INSERT INTO {self.message_tablename} (queue_id, payload, visible, version) "
                "VALUES (?, ?, 1, 1)",
                (self._queue_id(queue), dumps(payload)),
            )

    def _get(self, queue):
        ready_args = self._ready_args(queue)
        # Idle polls only read, so they never queue for the write lock.
        with self.engine.connect().execution_options(read_only=True) as connection:
            found = connection.exec_driver_sql(
                f"SELECT 1 {self._ready_sql()} LIMIT 1", ready_args
            ).first()
        if found is None:
            raise Empty()
        with self.engine.begin() as connection:
            row = connection.exec_driver_sql(
                f"UPDATE {self.message_tablename} "
                "SET visible = 0, timestamp = ?, version = version + 1 "
                f"WHERE id = (SELECT id {self._ready_sql()} ORDER BY id LIMIT 1) "
                "RETURNING id, payload, version",
                (_stamp(_now()), *ready_args),
            ).first()
        if row is None:
            raise Empty()
        payload = loads(row.payload)
        payload["properties"].setdefault("delivery_info", {})[ROW_KEY] = row.id
        if row.version > 2:  # claimed before, by a worker that never acked it
            payload["redelivered"] = True
        return payload

    def _restore(self, message):
        # Hand the same row out again instead of writing a copy: the old row would also come
        # back after the visibility timeout, and the task would run twice.
        row_id = message.delivery_info.get(ROW_KEY)
        if row_id is None:
            return super()._restore(message)
        with self.engine.begin() as connection:
            connection.exec_driver_sql(
                f"UPDATE {self.message_tablename} SET visible = 1 WHERE id = ?", (row_id,)
            )

    def _delete_row(self, row_id):
        if row_id is not None:
            with self.engine.begin() as connection:
                connection.exec_driver_sql(
                    f"DELETE FROM {self.message_tablename} WHERE id = ?", (row_id,)
                )

    def _purge(self, queue):
        with self.engine.begin() as connection:
            result = connection.exec_driver_sql(
                f"DELETE FROM {self.message_tablename} WHERE queue_id = ?",
                (self._queue_id(queue),),
            )
        return result.rowcount

    def _size(self, queue):
        with self.engine.connect().execution_options(read_only=True) as connection:
            return connection.exec_driver_sql(
                f"SELECT count(*) {self._ready_sql()}", self._ready_args(queue)
            ).scalar()


class Transport(kombu_sqla.Transport):
    Channel = Channel
