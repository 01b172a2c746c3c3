"""The whole pipeline on the embedded set-up, as `make run` starts it: a librarian uploads a
batch through the upload page and watches the library until every image has reached a final
status.

Nothing here runs in the test's own process but the browser: a fresh data dir is migrated
and seeded as `make run` does it (SQLite in WAL mode, the SQLite broker, local files, the
default backbone), gunicorn serves it, and a real Celery ingest worker process, started
and stopped by the test, takes the upload's messages from the broker. No model is active,
so by the product's rules each image is embedded for the cold start and then waits for
review. Timeouts are generous (a loaded two-core machine converts the backbone's weights
and loads TensorFlow in the worker) and nothing is timed.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from PIL import Image as PILImage

from tests.browser.conftest import TIMEOUT_MS

ROOT = Path(django_settings.BASE_DIR)
BATCH = 12
# What an image may end in; "uploaded" and "processing" are on the way there.
FINAL_STATUSES = {"auto_tagged", "needs_review", "verified", "rejected", "failed"}
START_TIMEOUT_S = 180  # migrate, seed and the web server's first answer
SETTLE_TIMEOUT_S = 600  # the worker's TensorFlow, the backbone's conversion, twelve images
RELOAD_EVERY_S = 3
# The process environment that would point the site anywhere but the embedded defaults, and
# the toggles the test run sets for in-process tests (tests/environment.py).
NOT_EMBEDDED = [
    "DATABASE_URL",
    "REDIS_URL",
    "CACHE_URL",
    "AWS_STORAGE_BUCKET_NAME",
    "TAXONOMY_COLD_START_EMBED",
    "AUTO_ACCEPT_FOLDS",
    "LABEL_AUDIT_AFTER_TRAINING",
    "CELERY_TASK_ALWAYS_EAGER",
    "DJANGO_SETTINGS_MODULE",
    "WHITENOISE_USE_FINDERS",
    "STATIC_ROOT",
]


@dataclass
class Site:
    url: str
    data_dir: Path
    passwords: dict[str, str]
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(command: list[str], env: dict[str, str], log: Path) -> str:
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=START_TIMEOUT_S
    )
    with log.open("a") as out:
        out.write(f"$ {' '.join(command)}\n{done.stdout}{done.stderr}\n")
    assert done.returncode == 0, f"{command} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # A session of its own, so that stopping it stops its children (Celery's pool) too.
    with log.open("a") as out:
        return subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(processes: list[subprocess.Popen]) -> list[subprocess.Popen]:
    """Stops every process (SIGTERM, then SIGKILL after 30 s: a worker's warm shutdown waits
    for the task it runs, which on a loaded machine can take longer); returns the ones that
    had already exited on their own before they were asked to."""
    exited = [process for process in processes if process.poll() is not None]
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    return exited


def _wait_for_http(url: str, processes: list[subprocess.Popen], log: Path) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for process in processes:
            assert process.poll() is None, f"{process.args[:4]} exited:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer in {START_TIMEOUT_S} s:\n{log.read_text()}")


@pytest.fixture
def embedded_site(tmp_path) -> Iterator[Site]:
    """`make run`'s site on a fresh data dir: migrated, its static files collected, seeded
    with the demo, gunicorn and one
    Celery ingest worker (prefork, one child, as supervisord.conf starts them)."""
    data_dir = tmp_path / "site"
    data_dir.mkdir()
    log = tmp_path / "site.log"
    env = {name: value for name, value in os.environ.items() if name not in NOT_EMBEDDED}
    env.update(
        TAXONOMY_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="taxonomy_site.settings",
        DJANGO_HTTPS="0",  # plain http on localhost, as `make run`
        DJANGO_DEBUG="0",
        LOG_LEVEL="INFO",
    )
    python = sys.executable
    _run([python, "manage.py", "migrate", "--noinput"], env, log)
    _run([python, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"], env, log)
    seeded = _run([python, "manage.py", "seed_demo"], env, log)
    passwords = dict(re.findall(r"^\s+(admin|librarian|reviewer)\s+(\S+)$", seeded, re.M))
    assert "librarian" in passwords, seeded
    port = _free_port()
    processes = [
        _start(
            [python, "-m", "gunicorn", "taxonomy_site.wsgi", "--bind", f"127.0.0.1:{port}"]
            + ["--workers", "2", "--threads", "4", "--timeout", "120"],
            env,
            log,
        ),
        _start(
            [python, "-m", "celery", "-A", "taxonomy_site", "worker", "-Q", "ingest"]
            + ["-c", "1", "-n", "ingest@%h", "--without-mingle", "--without-gossip"]
            + ["--loglevel", "INFO"],
            env,
            log,
        ),
    ]
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for_http(f"{url}/accounts/login/", processes, log)
        yield Site(url=url, data_dir=data_dir, passwords=passwords, log=log)
    finally:
        exited = _stop(processes)
    # Stopped by the test, not crashed before it asked.
    assert not exited, [(p.args[:4], p.returncode) for p in exited]


def _photos(folder: Path, count: int) -> list[Path]:
    """Small photo-like images, each of its own colours and shape (no two alike, so none is
    refused as a duplicate)."""
    paths = []
    for n in range(count):
        image = PILImage.linear_gradient("L").resize((256, 192)).convert("RGB")
        colour = (40 + 17 * n % 200, 200 - 13 * n % 180, 30 + 29 * n % 220)
        image.paste(colour, (8 * n, 10, 8 * n + 80, 120))
        image.paste((255 - colour[0], 90, colour[2]), (150, 20 + 6 * n, 240, 60 + 6 * n))
        path = folder / f"photo-{n:02d}.jpg"
        image.save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths


def _statuses(page) -> dict[str, str]:
    """Each card's file name → its status, as the library page shows them."""
    return {
        card.locator(".card-name").inner_text(): re.search(
            r"status-(\w+)", card.get_attribute("class")
        ).group(1)
        for card in page.locator(".library-card").all()
    }


# Its site drops DATABASE_URL, REDIS_URL and the rest: under any environment it tests the
# same embedded set-up, so a second pass on other servers would only repeat it.
@pytest.mark.embedded_only
def test_a_batch_uploaded_in_the_browser_reaches_final_statuses_through_a_real_worker(
    browser, embedded_site, tmp_path
):
    site = embedded_site
    folder = tmp_path / "to-upload"
    folder.mkdir()
    files = _photos(folder, BATCH)
    context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
    # A loaded machine with a worker busy in TensorFlow beside the web server: pages get
    # three times the in-process browser tests' allowance.
    context.set_default_timeout(3 * TIMEOUT_MS)
    context.set_default_navigation_timeout(3 * TIMEOUT_MS)
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    try:
        page = context.new_page()
        page.goto("/accounts/login/")
        page.fill("#id_username", "librarian")
        page.fill("#id_password", site.passwords["librarian"])
        page.click("form[action$='/accounts/login/'] button[type=submit]")
        page.locator("[data-role-home]").wait_for()

        page.goto("/clients/demo-university/upload/")
        page.fill("#batch-name", "Embedded batch")
        page.locator("input.uppy-Dashboard-input:not([webkitdirectory])").first.set_input_files(
            [str(f) for f in files]
        )
        page.locator(".uppy-StatusBar-actionBtn--upload").click()
        rows = page.locator("#upload-outcomes tbody tr")
        rows.nth(BATCH - 1).wait_for(timeout=120_000)
        assert page.locator("#upload-summary [data-count=stored]").inner_text() == str(BATCH)

        page.locator("#batch-link a").click()
        page.wait_for_url("**/clients/demo-university/library/?batch=*")
        library = page.url
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        seen = _statuses(page)
        while set(seen.values()) - FINAL_STATUSES or len(seen) < BATCH:
            assert time.monotonic() < deadline, (
                f"not every image reached a final status in {SETTLE_TIMEOUT_S} s: {seen}\n"
                f"{site.log.read_text()[-6000:]}"
            )
            time.sleep(RELOAD_EVERY_S)
            page.goto(library)
            seen = _statuses(page)
    finally:
        context.close()

    assert sorted(seen) == sorted(f.name for f in files)
    # No model is active: by the product's rules each image waits for a person, none failed,
    # and the worker embedded each one for the cold-start queue on the way.
    assert set(seen.values()) == {"needs_review"}, seen
    assert _stored(site) == {"images": BATCH, "embedded": BATCH}


def _stored(site: Site) -> dict[str, int]:
    """What the site's database file holds: images, and images with a stored embedding."""
    import sqlite3

    db = sqlite3.connect(site.data_dir / "db.sqlite3")
    try:
        images = db.execute("SELECT COUNT(*) FROM labelling_image").fetchone()[0]
        embedded = db.execute(
            "SELECT COUNT(DISTINCT image_id) FROM training_imageembedding"
        ).fetchone()[0]
    finally:
        db.close()
    return {"images": images, "embedded": embedded}
