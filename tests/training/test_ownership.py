"""Who owns a sector's shared model: its maintainers train how they like, promote, force and
roll back; a client's admin asks for retraining, sets the client's own auto-accept target
(which moves only that client's decisions), says whether the client's verified images train
the model, and sees no other client's people."""

import numpy as np
import pytest
from django.test import Client as BrowserClient
from django.urls import reverse

from tests.training.builders import add_photo, make_version, verified_library
from training.models import ActiveModel, ClientModelSettings, ModelActivation, TrainingRun
from training.services.client_settings import client_consent_set, client_target_set
from training.services.dataset import verified_dataset
from training.services.policy import auto_accepts

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_heads")]


def as_user(user) -> BrowserClient:
    browser = BrowserClient()
    browser.force_login(user)
    return browser


def two_versions(world):
    labels = [world.labels.smiling, world.labels.building]
    v1 = make_version(world.taxonomy, labels=labels, accuracy=0.8, active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=labels, accuracy=0.9, seed=4, stored=True)
    return v1, v2


def test_a_client_admin_cannot_promote_force_or_roll_back_the_shared_model(world):
    v1, v2 = two_versions(world)
    browser = as_user(world.owner)
    for url, data in (
        (reverse("model-version-activate", args=["alpha", v2.pk]), {"force": "on"}),
        (
            reverse("model-version-activate", args=["alpha", v2.pk]),
            {"force": "on", "confirm": "yes"},
        ),
        (reverse("models-rollback", args=["alpha"]), {"confirm": "yes"}),
        (reverse("models-retraining", args=["alpha"]), {"after_verified": "5", "every_hours": "1"}),
    ):
        response = browser.post(url, data)
        assert response.status_code == 403, url
        assert b"maintainers" in response.content
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v1
    assert ModelActivation.objects.count() == 1


def test_a_client_admin_asks_for_retraining_in_the_default_mode(
    world, queued_runs, settings, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(world.owner).post(
            reverse("models-train", args=["alpha"]),
            {"mode": "finetune", "backbone": "inception_v3"},
        )
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert (run.mode, run.backbone) == ("head", settings.DEFAULT_BACKBONE)
    assert run.requested_by == world.owner and queued_runs == [run.pk]


def test_a_maintainer_chooses_how_to_train(world, queued_runs):
    as_user(world.maintainer).post(
        reverse("models-train", args=["alpha"]),
        {"mode": "finetune", "backbone": "efficientnet_lite0"},
    )
    assert TrainingRun.objects.get().mode == "finetune"


def test_another_clients_admin_cannot_change_a_target_or_roll_back_a_clients_model(world):
    v1, _v2 = two_versions(world)
    client_target_set(client=world.client_a, target=0.9, user=world.owner)
    browser = as_user(world.outsider)  # charlie, admin of beta
    assert (
        browser.post(reverse("models-target", args=["alpha"]), {"target": "50"}).status_code == 404
    )
    assert (
        browser.post(reverse("models-rollback", args=["alpha"]), {"confirm": "yes"}).status_code
        == 404
    )
    # On the pages of their own client the rollback is still the maintainers'.
    assert (
        browser.post(reverse("models-rollback", args=["beta"]), {"confirm": "yes"}).status_code
        == 403
    )
    assert ClientModelSettings.objects.get(client=world.client_a).auto_accept_target == 0.9
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v1


def _between(version, low_policy, high_policy):
    """A class and a probability that passes the lower target's threshold, not the higher's."""
    for label_id, high in high_policy["thresholds"].items():
        low = low_policy["thresholds"].get(label_id)
        if low is not None and low < high:
            return int(label_id), (low + high) / 2
    pytest.fail("the two targets chose the same thresholds")


def test_a_client_admins_target_changes_only_that_clients_decisions(world):
    version = make_version(
        world.taxonomy,
        labels=[world.labels.smiling, world.labels.building],
        accuracy=0.8,
        active=True,
    )
    shared_before = dict(version.policy)
    response = as_user(world.owner).post(reverse("models-target", args=["alpha"]), {"target": "60"})
    assert response.status_code == 302
    own = ClientModelSettings.objects.get(client=world.client_a)
    label_id, probability = _between(version, own.policy, version.policy)
    assert auto_accepts(version, label_id, probability, client_id=world.client_a.pk)
    assert not auto_accepts(version, label_id, probability, client_id=world.client_b.pk)
    assert not auto_accepts(version, label_id, probability)  # and the version's own stays
    version.refresh_from_db()
    assert version.policy == shared_before


def test_a_clients_thresholds_follow_the_version_that_serves(world):
    labels = [world.labels.smiling, world.labels.building]
    v1 = make_version(world.taxonomy, labels=labels, accuracy=0.8, active=True)
    client_target_set(client=world.client_a, target=0.6)
    v2 = make_version(world.taxonomy, labels=labels, accuracy=0.95, seed=9, active=True)
    label_id = v2.class_labels[0]
    auto_accepts(v2, label_id, 0.99, client_id=world.client_a.pk)
    own = ClientModelSettings.objects.get(client=world.client_a)
    assert own.policy["model_version"] == v2.pk and own.policy["target_precision"] == 0.6
    assert v1.pk != v2.pk


def test_the_runs_and_activations_name_no_other_clients_people(world, queued_runs):
    v1, v2 = two_versions(world)
    as_user(world.owner).post(reverse("models-train", args=["alpha"]))  # alice asks
    ModelActivation.objects.update(activated_by=world.owner)
    html = as_user(world.outsider).get(reverse("models", args=["beta"])).content.decode()
    assert "alice" not in html and "another client&#x27;s admin" in html
    own = as_user(world.owner).get(reverse("models", args=["alpha"])).content.decode()
    assert "asked by alice" in own


def test_consent_decides_whose_images_train_and_the_dashboard_says_so(world):
    verified_library(world, n=12)
    rng = np.random.default_rng(3)
    b_images = [
        add_photo(
            world.client_b,
            rng,
            warm=i % 2 == 0,
            label=world.labels.smiling if i % 2 == 0 else world.labels.building,
        )
        for i in range(6)
    ]
    everyone = {image.pk for image in verified_dataset(world.taxonomy).images}
    assert {image.pk for image in b_images} <= everyone
    response = as_user(world.outsider).post(reverse("models-consent", args=["beta"]), {})
    assert response.status_code == 302
    assert ClientModelSettings.objects.get(client=world.client_b).trains_sector_model is False
    consenting = {image.pk for image in verified_dataset(world.taxonomy).images}
    assert consenting == everyone - {image.pk for image in b_images}
    html = as_user(world.owner).get(reverse("models", args=["alpha"])).content.decode()
    assert "1 of the sector's 2 clients" in html
    client_consent_set(client=world.client_b, trains_sector_model=True)
    assert {image.pk for image in verified_dataset(world.taxonomy).images} == everyone


def test_a_librarian_cannot_change_consent(world):
    response = as_user(world.librarian).post(reverse("models-consent", args=["alpha"]), {})
    assert response.status_code == 403
    assert not ClientModelSettings.objects.exists()


def test_a_target_change_is_in_the_audit_log_of_that_client(world):
    from labelling.models import AuditEvent

    make_version(world.taxonomy, labels=[world.labels.smiling, world.labels.building], active=True)
    as_user(world.owner).post(reverse("models-target", args=["alpha"]), {"target": "80"})
    event = AuditEvent.objects.get(action="auto_accept_target_changed")
    assert event.client == world.client_a and event.actor == world.owner
    assert "80%" in event.summary
