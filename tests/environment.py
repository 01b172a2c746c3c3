"""Loaded as a pytest plugin (see pyproject's addopts) before Django's settings are read,
so that a test run writes its secret key, broker queue and caches into a temporary data
dir of its own, never into a developer's var/."""

import os
import tempfile

if "TAXONOMY_DATA_DIR" not in os.environ:
    os.environ["TAXONOMY_DATA_DIR"] = tempfile.mkdtemp(prefix="taxonomy-tests-")
# Converted backbones are cached once per run and shared by the tests that need them.
os.environ.setdefault(
    "TAXONOMY_MODEL_CACHE", os.path.join(os.environ["TAXONOMY_DATA_DIR"], "model-cache")
)
# Pages in browser tests need their CSS and JavaScript without a collectstatic step.
os.environ.setdefault("WHITENOISE_USE_FINDERS", "1")
os.makedirs(os.path.join(os.environ["TAXONOMY_DATA_DIR"], "staticfiles"), exist_ok=True)
# The test client and the browser tests' live server speak plain http, as `make run` does
# (tests/test_settings_security.py checks the https defaults in a process of their own).
os.environ.setdefault("DJANGO_HTTPS", "0")
# Ingestion before any model embeds nothing in tests unless a test asks for it (with the tiny
# backbone): most tests ingest without a model and need no network to be loaded.
os.environ.setdefault("TAXONOMY_COLD_START_EMBED", "0")
