"""The Celery app.

TensorFlow must never be imported here or by the task modules at import time: the prefork
parent would initialise it and every forked child would inherit a broken runtime. Tasks
load models lazily inside the child (see training.runtime).
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taxonomy_site.settings")

app = Celery("taxonomy_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = (Queue("ingest"), Queue("training"))
app.autodiscover_tasks()


def ensure_broker_folders() -> None:
    """The filesystem transport needs its folders to exist before anyone publishes."""
    options = app.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            os.makedirs(options[key], exist_ok=True)
