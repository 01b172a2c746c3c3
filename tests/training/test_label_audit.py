"""The label-noise audit in the product: a training run queues it, a real Celery worker on
the training queue runs it, and its stored scores put the flipped labels first; images a
reviewer excluded leave the training dataset."""

import time

import numpy as np
import pytest
from celery.contrib.testing.worker import start_worker

from labelling.models import ImageLabel
from taxonomy_site.celery import app
from tests.training.builders import add_photo
from training.models import LabelAudit, LabelNoiseScore, RunStatus, TrainingExclusion
from training.services.dataset import verified_dataset
from training.services.label_audit import label_audit_execute, label_audit_request
from training.services.training import training_execute, training_request

pytestmark = pytest.mark.usefixtures("tiny_backbone", "quick_heads")


def noisy_library(world, n=60, flipped=(4, 17, 30, 45)):
    """Warm photos are 'smiling', cool ones 'building', except the flipped ones."""
    rng = np.random.default_rng(0)
    images, wrong = [], []
    for i in range(n):
        warm = i % 2 == 0
        label = world.labels.smiling if warm else world.labels.building
        if i in flipped:
            label = world.labels.building if warm else world.labels.smiling
        image = add_photo(world.client_a, rng, warm=warm, label=label)
        images.append(image)
        if i in flipped:
            wrong.append(image.pk)
    return images, wrong


@pytest.fixture
def training_worker(transactional_db):
    app.control.purge()
    with start_worker(
        app, pool="solo", queues=["training"], perform_ping_check=False, shutdown_timeout=30
    ) as worker:
        yield worker


def _wait_for(condition, seconds=300):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def test_a_training_run_queues_an_audit_that_a_worker_runs_and_that_ranks_flipped_first(
    world, training_worker, settings
):
    settings.LABEL_AUDIT_AFTER_TRAINING = True  # the product's default; tests turn it off
    _, wrong = noisy_library(world)
    training_request(taxonomy=world.taxonomy, user=world.owner)
    assert _wait_for(
        lambda: LabelAudit.objects.filter(
            status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]
        ).exists()
    )
    audit = LabelAudit.objects.get()
    assert audit.status == RunStatus.SUCCEEDED, audit.message
    assert audit.model_version is not None
    assert audit.n_images == 60
    top = list(LabelNoiseScore.objects.filter(audit=audit).order_by("rank")[: len(wrong)])
    assert {s.image_id for s in top} == set(wrong)
    suspects = set(
        LabelNoiseScore.objects.filter(audit=audit, is_suspect=True).values_list(
            "image_id", flat=True
        )
    )
    assert suspects >= set(wrong) and audit.n_suspects == len(suspects)
    for score in top:
        assert score.suggested_id != score.label_id  # the other colour's label
        assert score.self_confidence < 0.5
        assert len(score.neighbour_labels) == 10
        assert 0 <= score.spread <= 1


def _count_audit_heads(monkeypatch) -> list:
    """The heads the audit's own folds train (each still trained for real)."""
    from training import noise_heads

    calls: list = []
    train_head = noise_heads.train_head

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return train_head(*args, **kwargs)

    monkeypatch.setattr(noise_heads, "train_head", counted)
    return calls


@pytest.mark.django_db
def test_the_audit_after_a_run_reuses_its_out_of_fold_scores_and_trains_no_head(world, monkeypatch):
    _, wrong = noisy_library(world)
    run = training_execute(run_id=training_request(taxonomy=world.taxonomy).pk)
    version = run.model_version
    stored = version.heldout["out_of_fold"]
    gold = {int(pk) for pk in version.gold_answers}
    # Every non-gold image was scored out of fold, so nothing is left for the audit to fit.
    assert (
        len(stored["image_ids"])
        == run.model_version.metrics["training"]["n_train"] + (version.metrics["training"]["n_val"])
    )
    assert set(stored["image_ids"]) | gold == {
        i.pk for i in verified_dataset(world.taxonomy).images
    }

    calls = _count_audit_heads(monkeypatch)
    audit = label_audit_execute(audit_id=label_audit_request(taxonomy=world.taxonomy).pk)
    assert audit.status == RunStatus.SUCCEEDED, audit.message
    assert calls == []
    scores = {s.image_id: s for s in LabelNoiseScore.objects.filter(audit=audit)}
    assert len(scores) == 60
    # Each non-gold image's self-confidence is the run's out-of-fold probability of its label.
    for pk, row, y in zip(stored["image_ids"], stored["proba"], stored["y"], strict=True):
        assert scores[pk].label_id == version.class_labels[y]
        expected = (row[y] + 1e-6) / (sum(row) + 1e-6 * len(row))
        assert scores[pk].self_confidence == pytest.approx(expected, abs=1e-6)
    top = sorted(scores.values(), key=lambda s: s.rank)[: len(wrong)]
    assert {s.image_id for s in top} == set(wrong)

    # An image relabelled since the run is scored afresh: the audit trains the fold holding it.
    relabelled = stored["image_ids"][0]
    other = next(label for label in version.class_labels if label != scores[relabelled].label_id)
    ImageLabel.objects.filter(image_id=relabelled).update(label_id=other)
    calls.clear()
    audit = label_audit_execute(audit_id=label_audit_request(taxonomy=world.taxonomy).pk)
    assert audit.status == RunStatus.SUCCEEDED, audit.message
    assert len(calls) == 1
    assert LabelNoiseScore.objects.get(audit=audit, image_id=relabelled).label_id == other


@pytest.mark.django_db
def test_a_second_request_while_one_is_queued_returns_it(world):
    first = label_audit_request(taxonomy=world.taxonomy)
    assert label_audit_request(taxonomy=world.taxonomy) == first


@pytest.mark.django_db
def test_without_an_active_head_model_the_audit_fails_with_a_reason(world):
    noisy_library(world, n=10)
    audit = label_audit_request(taxonomy=world.taxonomy)
    audit = label_audit_execute(audit_id=audit.pk)
    assert audit.status == RunStatus.FAILED
    assert "no active head model" in audit.message
    assert label_audit_execute(audit_id=audit.pk) is None  # not claimed twice


@pytest.mark.django_db
def test_an_excluded_image_leaves_the_training_dataset(world):
    images, _ = noisy_library(world, n=10)
    assert len(verified_dataset(world.taxonomy).images) == 10
    TrainingExclusion.objects.create(image=images[3], excluded_by=world.reviewer)
    kept = verified_dataset(world.taxonomy).images
    assert len(kept) == 9 and images[3] not in kept


@pytest.mark.django_db
def test_a_new_audit_drops_older_undecided_scores_and_keeps_decisions(world):
    from training.models import SuspectDecision
    from training.services.label_audit import label_audit_prune

    images, _ = noisy_library(world, n=3)
    old, new = (
        LabelAudit.objects.create(taxonomy=world.taxonomy, status=RunStatus.SUCCEEDED)
        for _ in range(2)
    )
    label = world.labels.smiling

    def score(audit, image, decision=""):
        return LabelNoiseScore.objects.create(
            audit=audit,
            image=image,
            label=label,
            suggested=label,
            rank=1,
            score=0.5,
            self_confidence=0.5,
            suggested_probability=0.5,
            neighbour_disagreement=0.5,
            decision=decision,
        )

    kept = score(old, images[0], SuspectDecision.KEEP)
    score(old, images[1])
    fresh = score(new, images[1])
    assert label_audit_prune(audit=new) == 1
    assert set(LabelNoiseScore.objects.values_list("pk", flat=True)) == {kept.pk, fresh.pk}
