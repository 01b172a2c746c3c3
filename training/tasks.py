"""Celery tasks of the training app: they take ids, load rows, call one service.

No TensorFlow at import time (see taxonomy_site.celery): the services import it inside the
worker child that runs them.
"""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from training.models import ModelVersion


@shared_task(
    name="training.train",
    queue="training",
    acks_late=True,
    # A training run may take hours on a CPU; these limits replace Celery's defaults, and
    # the broker's visibility timeout (settings) outlasts them.
    soft_time_limit=5 * 3600,
    time_limit=5 * 3600 + 300,
)
def train(run_id: int) -> None:
    from training.services.training import training_execute

    training_execute(run_id=run_id)


@shared_task(name="training.sweep_stale_runs", queue="ingest", ignore_result=True)
def sweep_stale_runs() -> None:
    from training.services.label_audit import label_audit_sweep_stale
    from training.services.training import training_requeue_waiting, training_sweep_stale

    stale_after = timedelta(minutes=settings.TRAINING_STALE_AFTER_MINUTES)
    training_sweep_stale(stale_after=stale_after)
    training_requeue_waiting(waiting_after=stale_after)
    # An audit has no heartbeat: it is failed once past its own time limit.
    label_audit_sweep_stale(stale_after=timedelta(seconds=audit_labels.time_limit + 60))


@shared_task(name="training.requeue_stalled_prediction_jobs", queue="ingest", ignore_result=True)
def requeue_stalled_prediction_jobs() -> None:
    from training.services.prediction_jobs import prediction_jobs_requeue_stalled

    prediction_jobs_requeue_stalled()


@shared_task(name="training.predict", queue="ingest", acks_late=True)
def predict(
    image_ids: list[int], top_n: int | None = None, model_version_id: int | None = None
) -> None:
    from training.services.prediction import images_predict

    version = None
    if model_version_id is not None:
        version = ModelVersion.objects.filter(pk=model_version_id).first()
        if version is None:
            return  # the version is gone: nothing to answer with
    images_predict(image_ids=image_ids, top_n=top_n, decide=False, model_version=version)


@shared_task(name="training.evaluate", queue="training", acks_late=True)
def evaluate(model_version_id: int) -> None:
    from training.services.evaluation import model_evaluate

    version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is not None:
        model_evaluate(model_version=version)


@shared_task(name="training.backfill", queue="ingest", acks_late=True, ignore_result=True)
def backfill(model_version_id: int, after: int = 0) -> None:
    """One small batch, then the next is queued behind whatever arrived meanwhile."""
    from training.services.backfill import backfill_step

    version = ModelVersion.objects.filter(pk=model_version_id).first()
    if version is None:
        return
    step = backfill_step(model_version=version, after=after)
    if step.remaining:
        backfill.delay(model_version_id, step.last_id)


@shared_task(name="training.resume_backfills", queue="ingest", ignore_result=True)
def resume_backfills() -> None:
    from training.services.backfill import backfills_resume

    backfills_resume()


@shared_task(name="training.check_retraining_policies", queue="ingest", ignore_result=True)
def check_retraining_policies() -> None:
    from training.services.retraining import retraining_policies_check

    retraining_policies_check()


@shared_task(
    name="training.audit_labels",
    queue="training",
    acks_late=True,
    # k-fold heads over a large library: minutes, not Celery's default.
    soft_time_limit=2 * 3600,
    time_limit=2 * 3600 + 300,
)
def audit_labels(audit_id: int) -> None:
    from training.services.label_audit import label_audit_execute

    label_audit_execute(audit_id=audit_id)


@shared_task(name="training.group_no_label", queue="training", acks_late=True, ignore_result=True)
def group_no_label(client_id: int) -> None:
    from labelling.models import Client
    from training.services.new_label_candidates import no_label_grouping_compute

    client = Client.objects.filter(pk=client_id).first()
    if client is not None:
        no_label_grouping_compute(client=client)
