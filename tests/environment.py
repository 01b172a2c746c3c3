"""Loaded as a pytest plugin (see pyproject's addopts) before Django's settings are read,
so that a test run writes its secret key, broker queue and caches into a temporary data
dir of its own, never into a developer's var/."""

import os
import tempfile

if "TAXONOMY_DATA_DIR" not in os.environ:
    os.environ["TAXONOMY_DATA_DIR"] = tempfile.mkdtemp(prefix="taxonomy-tests-")
# Converted backbones are cached once per run and shared by the tests that need them (the
# cache writes each file under a temporary name and renames it, so processes can share it).
os.environ.setdefault(
    "TAXONOMY_MODEL_CACHE", os.path.join(os.environ["TAXONOMY_DATA_DIR"], "model-cache")
)

# Under pytest-xdist each worker process (gw0, gw1, ...) gets a data dir of its own, so its
# SQLite broker, caches and files are its own, and a Redis database of its own (counting
# down from the one given), so that one worker's Celery worker never takes another's tasks.
# pytest-django gives each worker its own test database.
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _worker.startswith("gw"):
    _index = int(_worker[2:])
    os.environ["TAXONOMY_DATA_DIR"] = os.path.join(os.environ["TAXONOMY_DATA_DIR"], _worker)
    os.makedirs(os.environ["TAXONOMY_DATA_DIR"], exist_ok=True)
    for _name in ("REDIS_URL", "CACHE_URL"):
        _url = os.environ.get(_name)
        if _url:
            _base, _, _db = _url.rpartition("/")
            if _db.isdigit():
                os.environ[_name] = f"{_base}/{(int(_db) - _index) % 16}"
# Pages in browser tests need their CSS and JavaScript without a collectstatic step.
os.environ.setdefault("WHITENOISE_USE_FINDERS", "1")
os.makedirs(os.path.join(os.environ["TAXONOMY_DATA_DIR"], "staticfiles"), exist_ok=True)
# The test client and the browser tests' live server speak plain http, as `make run` does
# (tests/test_settings_security.py checks the https defaults in a process of their own).
os.environ.setdefault("DJANGO_HTTPS", "0")
# Ingestion before any model embeds nothing in tests unless a test asks for it (with the tiny
# backbone): most tests ingest without a model and need no network to be loaded.
os.environ.setdefault("TAXONOMY_COLD_START_EMBED", "0")
# Tiny configurations of what every head run also does: two folds, not five, for the
# auto-accept thresholds, and no label audit after each run; the tests of each turn it on.
os.environ.setdefault("AUTO_ACCEPT_FOLDS", "2")
os.environ.setdefault("LABEL_AUDIT_AFTER_TRAINING", "0")
