"""The pure ML modules stay free of Django, so that they run on a GPU host on their own."""

import json
import subprocess
import sys
from pathlib import Path

from training import PURE_MODULES

REPO = Path(__file__).resolve().parents[2]


def _imported_after(modules: list[str]) -> list[str]:
    # A fresh interpreter with no settings: what the import pulls in, nothing else.
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_every_pure_module_loads_no_django():
    loaded = _imported_after(list(PURE_MODULES))
    assert set(PURE_MODULES) <= set(loaded)
    assert [m for m in loaded if m == "django" or m.startswith("django.")] == []
    assert [m for m in loaded if m.split(".")[0] == "labelling"] == []


def test_the_check_sees_a_module_that_imports_django():
    # The subprocess check itself would notice: a Django module in the list is caught.
    loaded = _imported_after(["training.runtime"])
    assert "django" in loaded
