"""What the training services write to the audit log: training requested (by whom, or by
beat), activation, promotion and rollback, and retraining policy changes."""

import pytest

from labelling.models import AuditAction, AuditEvent
from tests.training.builders import make_version
from training.services.retraining import retraining_policy_set
from training.services.training import training_request
from training.services.versions import model_activate, model_rollback

pytestmark = pytest.mark.django_db


def test_training_start_is_recorded_with_who_asked(world, monkeypatch):
    from training import tasks

    monkeypatch.setattr(tasks.train, "delay", lambda run_id: None)
    run = training_request(taxonomy=world.taxonomy, user=world.owner)
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.TRAINING_STARTED
    assert event.actor == world.owner and event.sector == world.sector
    assert event.detail["run"] == run.pk


def test_beat_started_training_has_no_actor(world, monkeypatch):
    from training import tasks

    monkeypatch.setattr(tasks.train, "delay", lambda run_id: None)
    training_request(taxonomy=world.taxonomy)
    assert AuditEvent.objects.get().actor is None


def test_activation_and_rollback_are_recorded(world):
    labels = [world.labels.smiling, world.labels.building]
    v1 = make_version(world.taxonomy, labels=labels, active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=labels, stored=True)
    model_activate(model_version=v2, user=world.owner, force=True)
    model_rollback(taxonomy=world.taxonomy, user=world.outsider)
    activated, rolled_back = AuditEvent.objects.order_by("id")
    assert activated.action == AuditAction.VERSION_ACTIVATED
    assert activated.actor == world.owner and activated.detail["forced"] is True
    assert activated.detail == {
        "model_version": v2.pk,
        "number": v2.number,
        "previous": v1.number,
        "forced": True,
    }
    assert "force-activated" in activated.summary
    assert rolled_back.action == AuditAction.VERSION_ROLLED_BACK
    assert rolled_back.actor == world.outsider and rolled_back.detail["number"] == v1.number


def test_a_refused_activation_records_nothing(world, gold):
    from training.services.evaluation import Comparison
    from training.services.versions import ActivationRefused

    labels = [world.labels.smiling, world.labels.building]
    make_version(world.taxonomy, labels=labels, active=True, stored=True)
    worse = make_version(world.taxonomy, labels=labels, stored=True)
    gold.result = Comparison(n=10, candidate_top1=0.5, active_top1=0.9)
    with pytest.raises(ActivationRefused):
        model_activate(model_version=worse, user=world.owner)
    assert not AuditEvent.objects.exists()


def test_a_retraining_policy_change_is_recorded_once(world):
    args = {"taxonomy": world.taxonomy, "after_verified": 40, "every_hours": 0}
    retraining_policy_set(enabled=True, user=world.owner, **args)
    retraining_policy_set(enabled=True, user=world.owner, **args)  # nothing changed
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.RETRAINING_POLICY_CHANGED
    assert event.detail["after_verified"] == 40 and "after 40 verified" in event.summary


def test_a_clients_target_and_consent_are_recorded_for_that_client(world):
    from training.services.client_settings import client_consent_set, client_target_set

    client_target_set(client=world.client_a, target=0.9, user=world.owner)
    client_target_set(client=world.client_a, target=0.9, user=world.owner)  # no change
    client_consent_set(client=world.client_a, trains_sector_model=False, user=world.owner)
    client_consent_set(client=world.client_a, trains_sector_model=False, user=world.owner)
    target, consent = AuditEvent.objects.order_by("id")
    assert target.action == AuditAction.AUTO_ACCEPT_TARGET_CHANGED
    assert target.client == world.client_a and target.detail == {"target": 0.9, "before": None}
    assert "90%" in target.summary
    assert consent.action == AuditAction.TRAINING_CONSENT_CHANGED
    assert consent.client == world.client_a and consent.actor == world.owner
