"""A task for the worker tests, loaded into a real worker with ``--include``."""

import os
import signal
from pathlib import Path

from celery import shared_task


@shared_task(name="tests.die_once", queue="crashtest")
def die_once(folder: str) -> None:
    """The first delivery kills its own worker child, as the kernel's OOM killer would; the
    second one (the same message, delivered again) records that it ran."""
    marker = Path(folder) / "first-delivery"
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    (Path(folder) / "ran-again").write_text(str(os.getpid()))
