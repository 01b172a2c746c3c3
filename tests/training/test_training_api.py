"""The training API: runs (single flight), versions, activation (with force) and rollback,
for the owner (an admin of client A), its other roles, and an outsider (admin of client B of
another sector, and a non-member of client A)."""

import hashlib

import pytest
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from tests import factories
from tests.training.builders import activate_row, finished_run, make_version
from training import api as training_api
from training.models import ActiveModel, ModelActivation, RunStatus, TrainingRun
from training.services.evaluation import Comparison

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_heads")]


def labels_of(world):
    return [world.labels.smiling, world.labels.building]


def runs_url(slug="alpha"):
    return reverse("api-training-runs", args=[slug])


# --- Training runs ----------------------------------------------------------------------------


def test_an_admin_queues_a_run_after_the_commit(
    world, api_client_for, queued_runs, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(world.owner).post(
            runs_url(), {"mode": "head", "backbone": "efficientnet_lite0"}, format="json"
        )
    assert response.status_code == 202, response.content
    run = TrainingRun.objects.get()
    assert response.json()["id"] == run.pk
    assert response.json()["status"] == "queued"
    assert response.json()["max_epochs"] == run.max_epochs > 0
    assert run.requested_by == world.owner and run.taxonomy == world.taxonomy
    assert queued_runs == [run.pk]


def test_a_second_run_is_refused_while_one_is_queued(world, api_client_for, queued_runs):
    api = api_client_for(world.owner)
    assert api.post(runs_url(), {}, format="json").status_code == 202
    response = api.post(runs_url(), {"mode": "finetune"}, format="json")
    assert response.status_code == 409
    assert "already queued" in response.json()["detail"]
    assert TrainingRun.objects.count() == 1


def test_an_admin_of_another_client_of_the_sector_is_refused_too(
    world, api_client_for, queued_runs
):
    # Runs are the sector's: single flight holds across its clients.
    assert api_client_for(world.owner).post(runs_url(), {}, format="json").status_code == 202
    response = api_client_for(world.outsider).post(runs_url("beta"), {}, format="json")
    assert response.status_code == 409


@pytest.mark.parametrize(
    "body, field",
    [({"mode": "sideways"}, "mode"), ({"backbone": "resnet_9000"}, "backbone")],
)
def test_a_bad_mode_or_backbone_is_a_400(world, api_client_for, queued_runs, body, field):
    response = api_client_for(world.maintainer).post(runs_url(), body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert TrainingRun.objects.count() == 0


@pytest.mark.parametrize("persona", ["librarian", "reviewer"])
def test_other_roles_cannot_train(world, api_client_for, queued_runs, persona):
    response = api_client_for(getattr(world, persona)).post(runs_url(), {}, format="json")
    assert response.status_code == 403
    assert TrainingRun.objects.count() == 0


def test_a_non_member_gets_404_for_the_runs(world, api_client_for, queued_runs):
    api = api_client_for(world.outsider)
    assert api.post(runs_url(), {}, format="json").status_code == 404
    assert api.get(runs_url()).status_code == 404
    assert TrainingRun.objects.count() == 0


def test_anonymous_is_refused(world, api_client_for):
    assert api_client_for(None).get(runs_url()).status_code == 401


def test_members_read_a_runs_progress(world, api_client_for):
    run = factories.TrainingRunFactory(
        taxonomy=world.taxonomy,
        status=RunStatus.RUNNING,
        epoch=5,
        max_epochs=200,
        history=[{"epoch": 1, "loss": 0.7, "val_loss": 0.8}],
    )
    url = reverse("api-training-run", args=["alpha", run.pk])
    for persona in ("owner", "librarian", "reviewer"):
        response = api_client_for(getattr(world, persona)).get(url)
        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["epoch"], body["max_epochs"]) == ("running", 5, 200)
        assert body["progress"] == pytest.approx(0.025)
        assert body["history"][0]["val_loss"] == 0.8
    listed = api_client_for(world.reviewer).get(runs_url()).json()
    assert [r["id"] for r in listed["results"]] == [run.pk]
    assert api_client_for(world.outsider).get(url).status_code == 404


def test_a_run_of_another_sector_is_404(world, other, api_client_for):
    run = factories.TrainingRunFactory(taxonomy=other.taxonomy)
    url = reverse("api-training-run", args=["alpha", run.pk])
    assert api_client_for(world.owner).get(url).status_code == 404


# --- Model versions ---------------------------------------------------------------------------


def test_members_list_the_versions_with_the_active_one_marked(world, other, api_client_for):
    v1 = make_version(world.taxonomy, labels=labels_of(world), accuracy=0.8, active=True)
    v2 = make_version(world.taxonomy, labels=labels_of(world), accuracy=0.9, seed=1)
    url = reverse("api-model-versions", args=["alpha"])
    for persona in ("owner", "librarian", "reviewer"):
        response = api_client_for(getattr(world, persona)).get(url)
        assert response.status_code == 200
    rows = response.json()["results"]
    assert [(r["number"], r["is_active"]) for r in rows] == [(2, False), (1, True)]
    summary = rows[0]["summary"]
    assert summary["top1"] == pytest.approx(v2.metrics["top1_accuracy"]["value"])
    low, high = summary["top1_ci95"]
    assert low < summary["top1"] < high
    assert {"top3", "log_loss", "ece", "n_test"} <= set(summary)
    # another sector's versions never show
    assert other.version.pk not in [r["id"] for r in rows]
    detail = api_client_for(world.owner).get(reverse("api-model-version", args=["alpha", v1.pk]))
    assert detail.status_code == 200
    assert detail.json()["policy"]["target_precision"] == world.taxonomy.auto_accept_target
    assert detail.json()["metrics"]["per_class"]


def test_a_version_of_another_sector_is_404(world, other, api_client_for):
    api = api_client_for(world.owner)
    assert (
        api.get(reverse("api-model-version", args=["alpha", other.version.pk])).status_code == 404
    )
    url = reverse("api-model-version-activate", args=["alpha", other.version.pk])
    assert api.post(url, {}, format="json").status_code == 404
    assert ActiveModel.objects.get(taxonomy=other.taxonomy).model_version == other.version


def test_a_non_member_gets_404_for_the_versions(world, api_client_for):
    v1 = make_version(world.taxonomy, labels=labels_of(world), active=True)
    api = api_client_for(world.outsider)
    assert api.get(reverse("api-model-versions", args=["alpha"])).status_code == 404
    activate = reverse("api-model-version-activate", args=["alpha", v1.pk])
    assert api.post(activate, {}, format="json").status_code == 404
    assert api.post(reverse("api-model-rollback", args=["alpha"])).status_code == 404


def test_a_maintainer_activates_a_version_that_is_not_worse(world, api_client_for, gold):
    v1 = make_version(world.taxonomy, labels=labels_of(world), active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=labels_of(world), stored=True)
    gold.result = Comparison(n=12, candidate_top1=0.9, active_top1=0.8)
    url = reverse("api-model-version-activate", args=["alpha", v2.pk])
    response = api_client_for(world.maintainer).post(url, {}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model_version"]["number"] == 2 and body["previous"]["number"] == 1
    assert body["activated_by"] == "mia" and body["forced"] is False
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v2
    assert v1.pk != v2.pk


def test_a_worse_version_is_refused_unless_forced(world, api_client_for, gold):
    make_version(world.taxonomy, labels=labels_of(world), active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=labels_of(world), stored=True)
    gold.result = Comparison(n=12, candidate_top1=0.5, active_top1=0.8)
    url = reverse("api-model-version-activate", args=["alpha", v2.pk])
    api = api_client_for(world.maintainer)
    refused = api.post(url, {"force": False}, format="json")
    assert refused.status_code == 409
    assert "worse than the active version" in refused.json()["detail"]
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version != v2
    forced = api.post(url, {"force": True}, format="json")
    assert forced.status_code == 200
    assert forced.json()["forced"] is True
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v2


def test_an_unloadable_artifact_is_refused_even_forced(world, api_client_for):
    make_version(world.taxonomy, labels=labels_of(world), active=True)
    v2 = make_version(world.taxonomy, labels=labels_of(world))  # its file does not exist
    url = reverse("api-model-version-activate", args=["alpha", v2.pk])
    response = api_client_for(world.maintainer).post(url, {"force": True}, format="json")
    assert response.status_code == 409
    assert "cannot be read" in response.json()["detail"]


def test_an_artifact_cut_short_is_refused_even_forced(world, api_client_for):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    make_version(world.taxonomy, labels=labels_of(world), active=True)
    v2 = make_version(world.taxonomy, labels=labels_of(world))
    whole = b"PK" + bytes(range(256)) * 40
    v2.artifact = default_storage.save(v2.artifact, ContentFile(whole[: len(whole) // 2]))
    v2.artifact_sha256 = hashlib.sha256(whole).hexdigest()  # what was recorded at writing
    v2.save()
    url = reverse("api-model-version-activate", args=["alpha", v2.pk])
    response = api_client_for(world.maintainer).post(url, {"force": True}, format="json")
    assert response.status_code == 409
    assert "does not match the checksum" in response.json()["detail"]
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version != v2


@pytest.mark.parametrize("persona", ["librarian", "reviewer"])
def test_other_roles_cannot_activate_or_roll_back(world, api_client_for, persona):
    make_version(world.taxonomy, labels=labels_of(world), active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=labels_of(world), stored=True)
    api = api_client_for(getattr(world, persona))
    activate = reverse("api-model-version-activate", args=["alpha", v2.pk])
    assert api.post(activate, {"force": True}, format="json").status_code == 403
    assert api.post(reverse("api-model-rollback", args=["alpha"])).status_code == 403
    assert ModelActivation.objects.count() == 1


def test_a_maintainer_rolls_back_to_the_previous_version(world, api_client_for):
    v1 = make_version(world.taxonomy, labels=labels_of(world), active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=labels_of(world), stored=True)
    activate_row(v2)
    response = api_client_for(world.maintainer).post(reverse("api-model-rollback", args=["alpha"]))
    assert response.status_code == 200, response.content
    assert response.json()["is_rollback"] is True
    assert response.json()["model_version"]["id"] == v1.pk
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v1


def test_a_rollback_with_nowhere_to_go_is_a_409(world, api_client_for):
    api = api_client_for(world.maintainer)
    url = reverse("api-model-rollback", args=["alpha"])
    nothing = api.post(url)
    assert nothing.status_code == 409 and "no active model" in nothing.json()["detail"]
    make_version(world.taxonomy, labels=labels_of(world), active=True, stored=True)
    first = api.post(url)
    assert first.status_code == 409 and "nothing to roll back" in first.json()["detail"]


def test_a_finished_run_points_at_its_version(world, api_client_for):
    version = make_version(world.taxonomy, labels=labels_of(world), active=True)
    run = finished_run(version)
    body = api_client_for(world.owner).get(reverse("api-training-run", args=["alpha", run.pk]))
    assert body.json()["model_version"] == {
        "id": version.pk,
        "number": 1,
        "backbone": "efficientnet_lite0",
        "mode": "head",
    }


def test_the_training_and_prediction_api_document_without_warnings():
    GENERATOR_STATS.reset()
    try:
        schema = SchemaGenerator(patterns=training_api.urlpatterns).get_schema(
            request=None, public=True
        )
        assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
        assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)
    finally:
        GENERATOR_STATS.reset()
    assert {
        "/predict/",
        "/predict/jobs/{job_id}/",
        "/clients/{client_slug}/training-runs/",
        "/clients/{client_slug}/training-runs/{run_id}/",
        "/clients/{client_slug}/model-versions/",
        "/clients/{client_slug}/model-versions/{version_id}/",
        "/clients/{client_slug}/model-versions/{version_id}/activate/",
        "/clients/{client_slug}/rollback/",
    } <= set(schema["paths"])


def test_activation_compares_stored_gold_answers_and_runs_no_model(
    world, api_client_for, monkeypatch
):
    from tests.training.builders import verified_library
    from training.services import prediction
    from training.services.dataset import is_gold_test

    def no_model(*args, **kwargs):
        raise AssertionError("a web request ran a model")

    monkeypatch.setattr(prediction, "model_probabilities", no_model)
    verified_library(world, n=40)
    from labelling.models import Image

    gold = [i for i in Image.objects.filter(client=world.client_a) if is_gold_test(i.sha256)]
    truth = {str(i.pk): i.image_labels.get().label_id for i in gold}
    active = make_version(world.taxonomy, labels=labels_of(world), active=True, stored=True)
    active.gold_answers = truth
    active.save()
    worse = make_version(world.taxonomy, labels=labels_of(world), stored=True)
    worse.gold_answers = {**truth, str(gold[0].pk): world.labels.not_smiling.pk}
    worse.save()
    api = api_client_for(world.maintainer)
    url = reverse("api-model-version-activate", args=["alpha", worse.pk])

    refused = api.post(url, {}, format="json")
    assert refused.status_code == 409
    assert f"same {len(gold)} gold test images" in refused.json()["detail"]

    # No answers stored.
    unmeasured = make_version(world.taxonomy, labels=labels_of(world), stored=True)
    response = api.post(
        reverse("api-model-version-activate", args=["alpha", unmeasured.pk]), {}, format="json"
    )
    assert response.status_code == 409
    assert "have not answered the same gold test images" in response.json()["detail"]
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == active


def test_a_client_admin_cannot_activate_or_roll_back_and_asks_in_the_default_mode(
    world, api_client_for, queued_runs, settings
):
    v1 = make_version(world.taxonomy, labels=labels_of(world), active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=labels_of(world), stored=True)
    api = api_client_for(world.owner)
    url = reverse("api-model-version-activate", args=["alpha", v2.pk])
    assert api.post(url, {"force": True}, format="json").status_code == 403
    assert api.post(reverse("api-model-rollback", args=["alpha"])).status_code == 403
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v1
    body = api.post(runs_url(), {"mode": "finetune"}, format="json").json()
    assert (body["mode"], body["backbone"]) == ("head", settings.DEFAULT_BACKBONE)
    assert body["requested_by"] == "alice"
    seen_by_beta = api_client_for(world.outsider).get(runs_url("beta")).json()
    assert seen_by_beta["results"][0]["requested_by"] == "another client's admin"
