"""The ML core's Django glue: training runs, versions, activation, rollback, prediction.

These run the real backbone (EfficientNet-Lite0 with its packaged ImageNet weights) at a
tiny input size, on images built in memory: two colour families a head can tell apart.
"""

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command

from labelling.models import Image, ImageStatus, Prediction
from tests import factories
from tests.training.builders import add_photo as add_image
from tests.training.builders import verified_library
from training import runtime
from training.models import ActiveModel, ModelVersion, RunStatus, TrainingRun
from training.services.dataset import is_gold_test
from training.services.prediction import images_predict, model_probabilities
from training.services.training import (
    TrainingAlreadyRunning,
    training_execute,
    training_request,
)
from training.services.versions import ActivationRefused, model_activate, model_rollback

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_backbone", "quick_heads")]


@pytest.fixture
def library(world):
    """60 verified images of the world's taxonomy: warm photos are 'smiling', cool ones
    'building'."""
    world.rng = verified_library(world, n=60)
    return world


def train_now(world, **kwargs) -> TrainingRun:
    run = training_request(taxonomy=world.taxonomy, **kwargs)
    return training_execute(run_id=run.pk)


def test_a_training_run_makes_an_active_version_with_metrics(library):
    run = train_now(library)
    assert run.status == RunStatus.SUCCEEDED, run.message
    version = run.model_version
    assert ActiveModel.objects.get(taxonomy=library.taxonomy).model_version == version
    assert version.number == 1
    assert version.backbone == "efficientnet_lite0"
    assert version.input_size == 64
    assert version.taxonomy_version == library.taxonomy.version
    assert sorted(version.class_labels) == sorted(
        [library.labels.smiling.pk, library.labels.building.pk]
    )
    assert version.metrics["top1_accuracy"]["value"] >= 0.8
    assert 0 < version.n_train < 60
    # thresholds are chosen on out-of-fold answers over every non-gold image
    training = version.metrics["training"]
    assert version.policy["chosen_on"] == "out_of_fold"
    assert training["n_out_of_fold"] == training["n_train"] + training["n_val"]
    assert len(version.heldout["out_of_fold"]["y"]) == training["n_out_of_fold"]
    # its answers on the gold test images, kept for comparisons without a model
    gold = {str(i.pk) for i in Image.objects.all() if is_gold_test(i.sha256)}
    assert set(version.gold_answers) == gold
    assert set(version.gold_answers.values()) <= set(version.class_labels)
    # progress was reported after every epoch
    run.refresh_from_db()
    assert run.epoch == len(run.history) >= 1
    assert "val_loss" in run.history[0]


def test_the_loss_and_accuracy_of_each_epoch_are_stored_as_it_finishes(library, monkeypatch):
    """What the live curves poll: after every epoch the stored run already holds that epoch's
    loss and accuracy (training and validation), and the progress answer carries them."""
    from training import views as model_views
    from training.services import training as training_service

    seen: list[tuple[int, list[dict]]] = []
    report = training_service._report_epoch

    def spying(run, epoch, logs):
        report(run, epoch, logs)
        stored = TrainingRun.objects.get(pk=run.pk)  # what another request would read now
        seen.append((stored.epoch, model_views.run_state(stored, "alpha")["history"]))

    monkeypatch.setattr(training_service, "_report_epoch", spying)
    run = train_now(library)
    assert run.status == RunStatus.SUCCEEDED, run.message
    assert seen, "no epoch was reported"
    for n, (epoch, history) in enumerate(seen, start=1):
        assert epoch == n and [entry["epoch"] for entry in history] == list(range(1, n + 1))
        last = history[-1]
        assert set(last) == {"epoch", "loss", "val_loss", "accuracy", "val_accuracy"}
        assert 0.0 <= last["accuracy"] <= 1.0 and 0.0 <= last["val_accuracy"] <= 1.0
        assert last["loss"] >= 0.0
    run.refresh_from_db()
    stored = [round(e["loss"], 4) for e in run.history]
    assert [e["loss"] for e in seen[-1][1]] == stored


def test_the_progress_answer_keeps_only_the_curves_figures_of_a_history(world):
    from training import views as model_views

    history = [
        {"epoch": 1, "loss": 0.912345, "accuracy": 0.5, "lr": 0.001, "val_loss": 1.0},
        "not an entry",
        {"loss": 0.7, "val_accuracy": 0.75, "note": "x"},
    ]
    assert model_views.curve_points(history) == [
        {"epoch": 1, "loss": 0.9123, "accuracy": 0.5, "val_loss": 1.0},
        {"epoch": 3, "loss": 0.7, "val_accuracy": 0.75},
    ]
    assert model_views.curve_points([]) == []


def test_a_second_request_is_refused_while_one_runs(library):
    training_request(taxonomy=library.taxonomy)
    with pytest.raises(TrainingAlreadyRunning, match="already queued"):
        training_request(taxonomy=library.taxonomy)
    assert TrainingRun.objects.count() == 1


def test_too_little_data_fails_the_run_with_a_clear_message(world):
    rng = np.random.default_rng(1)
    add_image(world.client_a, rng, warm=True, label=world.labels.smiling)
    run = train_now(world)
    assert run.status == RunStatus.FAILED
    assert "at least two labels" in run.message


def test_predict_is_idempotent_per_version(library):
    train_now(library)
    image = add_image(library.client_a, library.rng, warm=True, status=ImageStatus.NEEDS_REVIEW)
    first = images_predict(image_ids=[image.pk])
    second = images_predict(image_ids=[image.pk])
    assert first.predicted == [image.pk]
    assert second.predicted == [] and second.skipped == [image.pk]
    prediction = Prediction.objects.get(image=image)
    assert prediction.top_label == library.labels.smiling
    assert [r["label"] for r in prediction.ranked][0] == library.labels.smiling.pk


def test_an_unreadable_image_fails_with_a_reason(library):
    train_now(library)
    image = factories.ImageFactory(
        client=library.client_a,
        file=ContentFile(b"not an image at all", name="images/broken.jpg"),
        status=ImageStatus.PROCESSING,
    )
    outcome = images_predict(image_ids=[image.pk])
    image.refresh_from_db()
    assert image.pk in outcome.failed
    assert image.status == ImageStatus.FAILED
    assert "cannot read the image" in image.failure_reason


def test_a_half_written_artifact_is_never_activated(library):
    first = train_now(library).model_version
    second = train_now(library).model_version  # may or may not be active now
    model_activate(model_version=first, force=True)
    # cut the stored file short, as a crash mid-copy would, and drop the local copies
    with default_storage.open(second.artifact, "rb") as handle:
        data = handle.read()
    default_storage.delete(second.artifact)
    default_storage.save(second.artifact, ContentFile(data[: len(data) // 2]))
    runtime.forget_models()
    _clear_local_artifacts()
    with pytest.raises(ActivationRefused):
        model_activate(model_version=second, force=True)
    assert ActiveModel.objects.get(taxonomy=library.taxonomy).model_version == first


def _clear_local_artifacts():
    from django.conf import settings

    folder = settings.MODEL_CACHE_DIR / "artifacts"
    for path in folder.glob("*") if folder.exists() else []:
        path.unlink()


def test_rollback_restores_the_previous_predictions_exactly(library):
    first = train_now(library).model_version
    image = add_image(library.client_a, library.rng, warm=False, status=ImageStatus.NEEDS_REVIEW)
    images_predict(image_ids=[image.pk])
    before = Prediction.objects.get(image=image, model_version=first).ranked

    second = train_now(library).model_version
    model_activate(model_version=second, force=True)
    images_predict(image_ids=[image.pk])
    assert Prediction.objects.filter(image=image).count() == 2

    model_rollback(taxonomy=library.taxonomy)
    assert ActiveModel.objects.get(taxonomy=library.taxonomy).model_version == first
    # a fresh process loads the artifact again and answers as before
    runtime.forget_models()
    _clear_local_artifacts()
    proba, ids, _ = model_probabilities(first, [image])
    again = [
        {"label": first.class_labels[i], "probability": round(float(proba[0][i]), 6)}
        for i in np.argsort(-proba[0], kind="stable")
    ]
    assert ids == [image.pk]
    assert again == before[: len(again)]


def test_rollback_without_history_is_refused(library):
    train_now(library)
    with pytest.raises(ActivationRefused, match="nothing to roll back"):
        model_rollback(taxonomy=library.taxonomy)


def test_the_management_commands_train_evaluate_activate_and_roll_back(library, capsys):
    call_command("train", "--sector", library.sector.slug)
    call_command("train", "--sector", library.sector.slug)
    versions = list(ModelVersion.objects.order_by("number"))
    assert len(versions) == 2
    call_command("activate", str(versions[1].pk), "--force")
    call_command("rollback", "--sector", library.sector.slug)
    assert ActiveModel.objects.get(taxonomy=library.taxonomy).model_version == versions[0]
    call_command("evaluate", "--sector", library.sector.slug)
    out = capsys.readouterr().out
    assert "Trained v1" in out and "gold test images" in out


def test_a_run_whose_worker_died_is_failed_by_the_sweeper_and_training_can_start_again(world):
    from datetime import timedelta

    from django.utils import timezone

    from training.tasks import sweep_stale_runs

    run = training_request(taxonomy=world.taxonomy)
    long_ago = timezone.now() - timedelta(hours=3)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )
    with pytest.raises(TrainingAlreadyRunning):
        training_request(taxonomy=world.taxonomy)

    sweep_stale_runs()

    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "worker stopped" in run.message
    assert training_request(taxonomy=world.taxonomy).status == RunStatus.QUEUED


def test_a_run_still_queued_long_after_it_was_asked_is_sent_again_once_per_period(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from training import tasks
    from training.services.training import training_requeue_waiting

    sent = []
    monkeypatch.setattr(tasks.train, "delay", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        run = training_request(taxonomy=world.taxonomy)
    assert sent == [run.pk]  # the first message, lost somewhere after this
    period = timedelta(minutes=90)
    with django_capture_on_commit_callbacks(execute=True):
        assert training_requeue_waiting(waiting_after=period) == []  # a fresh run waits

    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - 2 * period)
    with django_capture_on_commit_callbacks(execute=True):
        assert training_requeue_waiting(waiting_after=period) == [run.pk]
        assert training_requeue_waiting(waiting_after=period) == []  # not again this period
    assert sent == [run.pk, run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED


def test_a_redelivered_task_does_not_run_a_claimed_run_twice(library):
    run = training_request(taxonomy=library.taxonomy)
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    assert training_execute(run_id=run.pk) is None
    assert not ModelVersion.objects.exists()


def test_a_head_version_reads_the_kind_of_embedding_it_was_trained_on(library, monkeypatch):
    import dataclasses

    from training.backbones import POOLED, POOLED_GRID, base
    from training.models import ImageEmbedding

    grid_version = train_now(library).model_version
    assert grid_version.embedding == POOLED_GRID  # lite0's choice for heads
    stored = set(ImageEmbedding.objects.values_list("key", "dim"))
    assert stored == {("efficientnet_lite0/pooled+grid", 3008)}

    # A version trained when heads read the pooled kind (as every version made before the
    # grid existed) keeps serving beside it: each reads its own rows.
    spec = base._REGISTRY["efficientnet_lite0"]
    monkeypatch.setitem(
        base._REGISTRY, "efficientnet_lite0", dataclasses.replace(spec, default_embedding=POOLED)
    )
    pooled_version = train_now(library).model_version
    assert pooled_version.embedding == POOLED
    assert ("efficientnet_lite0", 1280) in set(ImageEmbedding.objects.values_list("key", "dim"))

    image = add_image(library.client_a, library.rng, warm=True, status=ImageStatus.NEEDS_REVIEW)
    for version in (grid_version, pooled_version):
        proba, ids, failures = model_probabilities(version, [image])
        assert ids == [image.pk] and not failures
        top = version.class_labels[int(proba[0].argmax())]
        assert top == library.labels.smiling.pk


def test_promotion_has_an_active_version_without_answers_measured_first(library):
    first = train_now(library).model_version
    ModelVersion.objects.filter(pk=first.pk).update(gold_answers={})  # made before answers
    second = train_now(library)
    first.refresh_from_db()
    assert first.gold_answers and set(first.gold_answers) == set(second.model_version.gold_answers)


def test_a_head_on_the_flip_embedding_reads_both_views_everywhere(library, monkeypatch, settings):
    """Trained on each view, served on their average: prediction, the out-of-fold thresholds
    and the label audit all read the same stored rows through the same model."""
    import dataclasses

    from training.backbones import POOLED_GRID_FLIP, base
    from training.models import ImageEmbedding, LabelAudit
    from training.services.label_audit import label_audit_execute, label_audit_request

    spec = base._REGISTRY["efficientnet_lite0"]
    monkeypatch.setitem(
        base._REGISTRY,
        "efficientnet_lite0",
        dataclasses.replace(spec, default_embedding=POOLED_GRID_FLIP),
    )
    settings.AUTO_ACCEPT_FOLDS = 2
    run = train_now(library)
    assert run.status == RunStatus.SUCCEEDED, run.message
    version = run.model_version
    assert version.embedding == POOLED_GRID_FLIP
    assert set(ImageEmbedding.objects.values_list("key", "dim")) == {
        ("efficientnet_lite0/pooled+grid+flip", 2 * 3008)
    }
    assert version.policy["chosen_on"] == "out_of_fold"
    assert version.metrics["top1_accuracy"]["value"] >= 0.8

    image = add_image(library.client_a, library.rng, warm=True, status=ImageStatus.NEEDS_REVIEW)
    proba, ids, failures = model_probabilities(version, [image])
    assert ids == [image.pk] and not failures
    assert version.class_labels[int(proba[0].argmax())] == library.labels.smiling.pk

    audit = label_audit_request(taxonomy=library.taxonomy, model_version=version)
    label_audit_execute(audit_id=audit.pk)
    audit = LabelAudit.objects.get(pk=audit.pk)
    assert audit.status == RunStatus.SUCCEEDED, audit.message
    assert audit.n_images == 60
