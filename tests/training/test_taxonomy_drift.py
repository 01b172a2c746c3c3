"""The models page warns when the active model's labels no longer match the taxonomy, and
offers to retrain."""

import pytest
from django.test import Client as BrowserClient
from django.urls import reverse

from labelling.services.taxonomy import label_create, label_retire, label_update
from labelling.services.taxonomy_restructure import label_merge
from tests.training.builders import make_version
from training.selectors import taxonomy_drift

pytestmark = pytest.mark.django_db


def all_labels(world):
    return [world.labels.smiling, world.labels.not_smiling, world.labels.building]


def page(world) -> str:
    browser = BrowserClient()
    browser.force_login(world.owner)
    return browser.get(reverse("models", args=["alpha"])).content.decode()


def test_no_warning_while_the_labels_match_even_after_a_rename(world):
    make_version(world.taxonomy, labels=all_labels(world), active=True)
    label_update(label=world.labels.smiling, data={"name": "Happy"})
    world.taxonomy.refresh_from_db()
    assert (
        taxonomy_drift(world.taxonomy, make_version(world.taxonomy, labels=all_labels(world)))
        is None
    )
    assert 'id="taxonomy-drift"' not in page(world)


def test_a_new_label_warns_and_offers_retraining(world):
    version = make_version(world.taxonomy, labels=all_labels(world), active=True)
    label_create(taxonomy=world.taxonomy, key="lawn", name="Lawn")
    html = page(world)
    assert 'id="taxonomy-drift"' in html and "New since: Lawn." in html
    assert f'action="{reverse("models-train", args=["alpha"])}"' in html
    assert f'value="{version.backbone}"' in html


def test_a_retired_or_merged_label_warns(world):
    make_version(world.taxonomy, labels=all_labels(world), active=True)
    label_merge(label=world.labels.not_smiling, into=world.labels.smiling)
    label_retire(label=world.labels.building)
    world.taxonomy.refresh_from_db()
    drift = taxonomy_drift(world.taxonomy, make_version(world.taxonomy, labels=all_labels(world)))
    assert drift["gone"] == ["Building", "Not smiling"] and drift["added"] == []
    assert "Retired or merged away: Building, Not smiling." in page(world)


def test_no_warning_without_an_active_model(world):
    label_create(taxonomy=world.taxonomy, key="lawn", name="Lawn")
    assert 'id="taxonomy-drift"' not in page(world)


def test_the_warnings_retrain_button_queues_a_run(
    world, queued_runs, django_capture_on_commit_callbacks
):
    from training.models import TrainingRun

    version = make_version(world.taxonomy, labels=all_labels(world), active=True)
    label_create(taxonomy=world.taxonomy, key="lawn", name="Lawn")
    browser = BrowserClient()
    browser.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            reverse("models-train", args=["alpha"]),
            {"mode": "head", "backbone": version.backbone},
        )
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert queued_runs == [run.pk] and run.requested_by == world.owner


def test_a_label_left_out_for_want_of_images_is_said_so_not_called_new(world):
    # Trained on this very taxonomy version, but without a label that had too few images.
    labels = [label for label in all_labels(world) if label != world.labels.building]
    make_version(world.taxonomy, labels=labels, active=True)
    html = page(world)
    assert "does not know every label" in html and "Not learned: Building" in html
    assert "New since" not in html and "no longer matches" not in html
