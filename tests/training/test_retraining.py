"""The retraining policy fires once per threshold crossing, on schedule, and for the first
model; it stays single-flight and can be turned off. Decisions go through the real review
service, whose hook runs the policy."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labelling.models import ImageStatus
from labelling.services import review as rs
from tests import factories
from tests.training.builders import make_version
from training.models import RetrainingPolicy, RunStatus, TrainingRun
from training.services.retraining import (
    retraining_policies_check,
    retraining_policy_get,
    retraining_policy_set,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("queued_runs")]


@pytest.fixture(autouse=True)
def _small_policy(settings):
    settings.RETRAIN_AFTER_VERIFIED = 3
    settings.FIRST_MODEL_MIN_PER_LABEL = 2


def verify(world, label, n=1):
    for _ in range(n):
        image = factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
        rs.image_correct(
            client=world.client_a,
            user=world.reviewer,
            decision=rs.Decision(image=image.pk, decision="correct", labels=(label.pk,)),
        )


def runs(world):
    return list(TrainingRun.objects.filter(taxonomy=world.taxonomy).order_by("pk"))


def finish(run):
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.SUCCEEDED)


def test_it_fires_exactly_once_per_threshold_crossing(world):
    labels = world.labels
    make_version(world.taxonomy, labels=[labels.smiling, labels.building], active=True)
    verify(world, labels.smiling, 2)
    assert runs(world) == []
    verify(world, labels.building)
    assert len(runs(world)) == 1
    finish(runs(world)[0])
    verify(world, labels.smiling, 2)
    assert len(runs(world)) == 1
    verify(world, labels.smiling)
    assert len(runs(world)) == 2
    policy = retraining_policy_get(taxonomy=world.taxonomy)
    assert policy.verified_at_last_run == 6 and policy.last_run == runs(world)[1]
    assert "3 images verified since the last run" in policy.last_reason
    # Single flight: a crossing while a run is queued starts nothing, and the next decision
    # after it finished starts exactly one.
    verify(world, labels.building, 4)
    assert len(runs(world)) == 2
    finish(runs(world)[1])
    verify(world, labels.building)
    assert len(runs(world)) == 3
    verify(world, labels.building)
    assert len(runs(world)) == 3


def test_the_first_model_trains_once_every_label_has_a_few_verified_images(world):
    labels = world.labels
    verify(world, labels.smiling, 5)
    verify(world, labels.not_smiling, 2)
    assert runs(world) == []
    verify(world, labels.building)
    assert runs(world) == []
    verify(world, labels.building)
    assert len(runs(world)) == 1
    assert retraining_policy_get(taxonomy=world.taxonomy).last_reason.startswith("first model")


def test_an_admin_turns_it_off(world):
    retraining_policy_set(taxonomy=world.taxonomy, enabled=False, after_verified=3, every_hours=0)
    for label in vars(world.labels).values():
        verify(world, label, 3)
    assert runs(world) == []
    assert retraining_policies_check() == []


def test_the_schedule_retrains_only_when_something_new_was_verified(world):
    labels = world.labels
    make_version(world.taxonomy, labels=[labels.smiling, labels.building], active=True)
    policy = retraining_policy_set(
        taxonomy=world.taxonomy, enabled=True, after_verified=100, every_hours=24
    )
    RetrainingPolicy.objects.filter(pk=policy.pk).update(
        last_fired_at=timezone.now() - timedelta(hours=25)
    )
    assert retraining_policies_check() == []  # nothing new
    verify(world, labels.smiling)
    assert runs(world) == []  # a decision alone does not reach 100
    started = retraining_policies_check()
    assert [r.pk for r in runs(world)] == started and len(started) == 1
    finish(runs(world)[0])
    verify(world, labels.smiling)
    assert retraining_policies_check() == []  # fired less than 24 h ago
