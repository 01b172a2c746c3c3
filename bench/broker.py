"""Embedded broker benchmark: does a transport that needs no server lose messages under load?

    .venv/bin/python -m bench.broker [--messages 10000] [--consumers 2] [--burners N]
                                     [--transports filesystem,sqlitebroker[,kombu-sqlalchemy]]

For each transport, in a fresh temporary folder: N burner processes keep every CPU busy (a
worker on a loaded host), one producer publishes the messages as fast as it can, and the
consumers (separate processes, like the ingest and training workers) read and ack them at
once. An exception out of the transport while reading is a worker crash: it is counted, and
the consumer reconnects (as a supervised worker would be restarted). When the producer is
done and the queue has been quiet for a few seconds, it counts the messages never received
(lost) and those received twice, and prints msg/s from the first publish to the last ack.

- ``filesystem``: kombu's filesystem transport (the old embedded default);
- ``kombu-sqlalchemy``: kombu's SQLAlchemy transport on SQLite, as kombu ships it;
- ``sqlitebroker``: the same on ``taxonomy_site.broker`` (the embedded default now).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from queue import Empty

QUIET_SECONDS = 5.0


def _connection(transport: str, folder: str):
    from kombu import Connection

    import taxonomy_site.celery  # noqa: F401  registers the sqlitebroker alias

    if transport == "filesystem":
        queue_folder = os.path.join(folder, "queue")
        os.makedirs(queue_folder, exist_ok=True)
        options = {"data_folder_in": queue_folder, "data_folder_out": queue_folder}
        return Connection("filesystem://", transport_options={**options, "polling_interval": 0.1})
    url = f"sqlite:///{folder}/broker.sqlite3"
    if transport == "kombu-sqlalchemy":
        # It hands every option to create_engine, which refuses polling_interval: 1 s polls.
        return Connection(f"sqla+{url}")
    return Connection(f"sqlitebroker+{url}", transport_options={"polling_interval": 0.1})


def _burn(stop) -> None:
    while not stop.is_set():
        sum(range(10_000))


def _produce(transport: str, folder: str, count: int, started) -> None:
    with _connection(transport, folder) as connection:
        queue = connection.SimpleQueue("bench")
        started.value = time.time()
        for number in range(count):
            queue.put({"n": number, "padding": "x" * 512})


def _consume(transport: str, folder: str, produced, results) -> None:
    seen: list[int] = []
    crashes = 0
    last_ack = 0.0
    while True:
        try:
            with _connection(transport, folder) as connection:
                queue = connection.SimpleQueue("bench")
                quiet_since = time.monotonic()
                while True:
                    try:
                        message = queue.get(timeout=0.5)
                    except Empty:
                        if produced.is_set() and time.monotonic() - quiet_since > QUIET_SECONDS:
                            results.put((seen, crashes, last_ack))
                            return
                        continue
                    seen.append(message.payload["n"])
                    message.ack()
                    last_ack = time.time()
                    quiet_since = time.monotonic()
        except Exception:  # noqa: BLE001  what would have killed a worker
            crashes += 1


def run(transport: str, *, messages: int, consumers: int, burners: int) -> dict:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as folder:
        with _connection(transport, folder) as connection:
            connection.SimpleQueue("bench").queue.declare()
        stop, produced = context.Event(), context.Event()
        started = context.Value("d", 0.0)
        results = context.Queue()
        burning = [context.Process(target=_burn, args=(stop,)) for _ in range(burners)]
        reading = [
            context.Process(target=_consume, args=(transport, folder, produced, results))
            for _ in range(consumers)
        ]
        producer = context.Process(target=_produce, args=(transport, folder, messages, started))
        for process in burning + reading + [producer]:
            process.start()
        producer.join()
        produced.set()
        outcomes = [results.get() for _ in reading]
        stop.set()
        for process in burning + reading:
            process.join()
        if producer.exitcode != 0:
            raise SystemExit(f"{transport}: the producer failed (exit {producer.exitcode})")
    received = [number for seen, _, _ in outcomes for number in seen]
    distinct = set(received)
    last_ack = max((ack for _, _, ack in outcomes), default=started.value)
    return {
        "transport": transport,
        "messages": messages,
        "lost": messages - len(distinct & set(range(messages))),
        "duplicates": len(received) - len(distinct),
        "crashes": sum(crashes for _, crashes, _ in outcomes),
        "msg_per_s": round(len(distinct) / max(last_ack - started.value, 1e-9), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--consumers", type=int, default=2)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--transports", default="filesystem,sqlitebroker", type=str)
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taxonomy_site.settings")
    os.environ.setdefault("TAXONOMY_DATA_DIR", tempfile.mkdtemp(prefix="bench-broker-data-"))
    print(
        f"{args.messages} messages, {args.consumers} consumers, {args.burners} CPU burners "
        f"({os.cpu_count()} CPUs)"
    )
    print(f"{'transport':<18}{'lost':>6}{'dupes':>7}{'crashes':>9}{'msg/s':>9}")
    for transport in args.transports.split(","):
        row = run(transport, messages=args.messages, consumers=args.consumers, burners=args.burners)
        print(
            f"{row['transport']:<18}{row['lost']:>6}{row['duplicates']:>7}"
            f"{row['crashes']:>9}{row['msg_per_s']:>9}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
