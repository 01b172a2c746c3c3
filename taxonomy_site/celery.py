"""The Celery app.

TensorFlow must never be imported here or by the task modules at import time: the prefork
parent would initialise it and every forked child would inherit a broken runtime. Tasks
load models lazily inside the child (see training.runtime).
"""

import os

from celery import Celery
from kombu import Queue
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taxonomy_site.settings")

# The embedded broker's URL scheme (settings: "sqlitebroker+sqlite:///..."); the module is
# imported only by a process that connects to it.
TRANSPORT_ALIASES.setdefault("sqlitebroker", "taxonomy_site.broker:Transport")

app = Celery("taxonomy_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("ingest"), Queue("training"))
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """SQLite creates the embedded broker's file, not the folder it lives in."""
    url = app.conf.broker_url or ""
    if "+sqlite:///" in url:
        os.makedirs(os.path.dirname(url.split("+sqlite:///", 1)[1]), exist_ok=True)
