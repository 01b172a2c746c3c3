"""What a web process and Celery's parent load when they import the training app.

Neither runs a model: TensorFlow initialised in Celery's parent breaks its forked children,
and scipy and sklearn are only needed where a policy is computed or a version measured."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

ENTRY_POINTS = [
    "taxonomy_site.urls",
    "taxonomy_site.celery",
    "training.tasks",
    "training.views",
    "training.api",
    "training.services.auto_accept",
    "training.services.backfill",
    "training.services.dataset",
    "training.services.evaluation",
    "training.services.policy",
    "training.services.prediction",
    "training.services.prediction_jobs",
    "training.services.retraining",
    "training.services.training",
    "training.services.versions",
    "training.services.label_audit",
    "training.services.suspects",
    "labelling.views.suspects",
]
HEAVY = ["tensorflow", "keras", "scipy", "sklearn"]


def _heavy_loaded_after(modules: list[str]) -> list[str]:
    code = (
        "import importlib, json, os, sys\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'taxonomy_site.settings')\n"
        "import django; django.setup()\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_training_entry_points_load_no_tensorflow_scipy_or_sklearn():
    assert _heavy_loaded_after(ENTRY_POINTS) == []


def test_the_check_sees_a_module_that_loads_them():
    # A pure module that imports TensorFlow at the top is caught by the same check.
    assert {"tensorflow", "keras"} <= set(_heavy_loaded_after(["training.heads"]))
