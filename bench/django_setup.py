"""The Django set-up the benchmarks share: a fresh data dir made into a working site, and
the server processes some of them start beside it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


# Benchmarks talk plain http to 127.0.0.1 and measure throughput: the https redirect and the
# request throttles of a deployment would only get in the way of what they time.
BENCH_ENV = {
    "DJANGO_HTTPS": "0",
    **{
        f"THROTTLE_{scope}": "off"
        for scope in ["LOGIN", "TOKEN", "UPLOAD", "TRAINING", "PREDICTION", "ANON", "USER"]
    },
}


def setup_django(
    data_dir: str,
    *,
    log_level: str = "ERROR",
    embedded: bool = False,
    flush: bool = False,
    collectstatic: bool = False,
) -> None:
    """Settings for ``data_dir``, then migrate. ``embedded`` ignores DATABASE_URL and
    REDIS_URL (SQLite and the embedded SQLite broker); ``flush`` empties a database named by
    DATABASE_URL, which outlives the data dir."""
    os.environ["TAXONOMY_DATA_DIR"] = data_dir
    for name, value in BENCH_ENV.items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taxonomy_site.settings")
    os.environ.setdefault("LOG_LEVEL", log_level)
    if embedded:
        os.environ["DJANGO_SETTINGS_MODULE"] = "taxonomy_site.settings"
        os.environ.pop("DATABASE_URL", None)
        os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    if flush and os.environ.get("DATABASE_URL"):
        call_command("flush", verbosity=0, interactive=False)
    if collectstatic:
        call_command("collectstatic", verbosity=0, interactive=False)


def prepare_postgres(url: str) -> None:
    """Create the bench database when missing; refuse anything not named for the bench."""
    name = urlparse(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing to empty database {name!r}: use one whose name contains 'bench'")
    import psycopg

    parsed = urlparse(url)
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(data_dir: str, **extra: str) -> dict[str, str]:
    """The environment of a server process on ``data_dir``: DEBUG off, as deployed."""
    return {
        **os.environ,
        "TAXONOMY_DATA_DIR": data_dir,
        "DJANGO_SETTINGS_MODULE": "taxonomy_site.settings",
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        **BENCH_ENV,
        **extra,
    }


def start_gunicorn(
    port: int, env: dict, *, workers: int, threads: int, options: tuple[str, ...] = ()
) -> subprocess.Popen:
    """gunicorn serving taxonomy_site.wsgi on 127.0.0.1, in a process group of its own."""
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "taxonomy_site.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        *options,
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def wait_for_http(url: str, *, any_answer: bool = False, timeout: float = 60) -> bool:
    """Whether ``url`` answered (with 2xx, or with anything if ``any_answer``) in time."""
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = requests.get(url, timeout=2)
        except (requests.ConnectionError, requests.Timeout):  # not up yet, or still starting
            time.sleep(0.2)
            continue
        if any_answer or response.ok:
            return True
        time.sleep(0.2)
    return False


def stop_processes(processes: list[subprocess.Popen], *, timeout: float = 30) -> None:
    """SIGTERM each process group, then SIGKILL what has not ended within ``timeout``."""
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
