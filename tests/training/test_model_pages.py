"""The model pages of a client's admins: versions, one version, two compared; train (single
flight), the progress endpoint, activate (force when refused), roll back, the auto-accept
target. Owner, member and outsider on each; one test runs the real services end to end."""

import re

import pytest
from django.contrib.messages import get_messages
from django.test import Client as BrowserClient
from django.urls import reverse

from labelling.models import Image
from tests import factories
from tests.training.builders import finished_run, make_version, verified_library
from training import runtime
from training import views as model_views
from training.models import (
    ActiveModel,
    ClientModelSettings,
    ModelActivation,
    ModelVersion,
    RunStatus,
    TrainingRun,
)
from training.services import versions
from training.services.dataset import is_gold_test
from training.services.evaluation import Comparison
from training.services.training import training_execute, training_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_heads")]


def two_labels(world):
    return [world.labels.smiling, world.labels.building]


def as_user(user, *, csrf=False) -> BrowserClient:
    browser = BrowserClient(enforce_csrf_checks=csrf)
    browser.force_login(user)
    return browser


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- Who sees what ------------------------------------------------------------------------------


def test_the_owner_sees_the_versions_with_their_figures(world):
    v1 = make_version(world.taxonomy, labels=two_labels(world), accuracy=0.8, active=True)
    make_version(world.taxonomy, labels=two_labels(world), accuracy=0.95, seed=3)
    response = as_user(world.owner).get(reverse("models", args=["alpha"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-version="2"' in html and 'data-version="1" class="active-row"' in html
    top1 = v1.metrics["top1_accuracy"]
    assert f"{top1['value'] * 100:.1f}%" in html
    assert f"{top1['ci95_low'] * 100:.0f}%–{top1['ci95_high'] * 100:.0f}%" in html
    assert "efficientnet_lite0" in html and "Head on stored embeddings" in html
    assert 'name="csrfmiddlewaretoken"' in html  # train and rollback are CSRF-protected forms


@pytest.mark.parametrize("persona", ["librarian", "reviewer"])
def test_other_roles_get_403_on_every_page(world, persona, queued_runs):
    version = make_version(world.taxonomy, labels=two_labels(world), active=True)
    run = finished_run(version)
    browser = as_user(getattr(world, persona))
    for url in (
        reverse("models", args=["alpha"]),
        reverse("model-version", args=["alpha", version.pk]),
        reverse("models-run-progress", args=["alpha", run.pk]),
        f"{reverse('models-compare', args=['alpha'])}?a={version.pk}&b={version.pk}",
    ):
        assert browser.get(url).status_code == 403, url
    for url in (
        reverse("models-train", args=["alpha"]),
        reverse("models-rollback", args=["alpha"]),
        reverse("models-target", args=["alpha"]),
        reverse("models-retraining", args=["alpha"]),
        reverse("model-version-activate", args=["alpha", version.pk]),
        reverse("models-evaluate", args=["alpha"]),
    ):
        data = {"target": "0.9", "force": "on", "version": version.pk, "after_verified": "5"}
        assert browser.post(url, data).status_code == 403, url
    assert queued_runs == [] and TrainingRun.objects.count() == 1


def test_anything_of_another_sector_is_404(world, other, queued_runs):
    make_version(world.taxonomy, labels=two_labels(world), active=True)
    browser = as_user(world.owner)
    assert (
        browser.get(reverse("model-version", args=["alpha", other.version.pk])).status_code == 404
    )
    assert (
        browser.get(reverse("models-run-progress", args=["alpha", other.run.pk])).status_code == 404
    )
    url = f"{reverse('models-compare', args=['alpha'])}?a={other.version.pk}&b={other.version.pk}"
    assert browser.get(url).status_code == 404
    activate = reverse("model-version-activate", args=["alpha", other.version.pk])
    assert browser.post(activate, {"force": "on"}).status_code == 404
    assert ActiveModel.objects.filter(model_version=other.version).exists()
    evaluate = browser.post(
        reverse("models-evaluate", args=["alpha"]), {"version": other.version.pk}
    )
    assert evaluate.status_code == 404


def test_an_admin_of_another_sector_sees_only_their_own_models(world, other):
    mine = make_version(world.taxonomy, labels=two_labels(world), active=True)
    browser = as_user(other.admin)
    listing = browser.get(reverse("models", args=["gamma"])).content.decode()
    assert "Retail" in listing and "Universities" not in listing
    assert browser.get(reverse("model-version", args=["gamma", mine.pk])).status_code == 404


def test_an_admin_of_another_client_of_the_sector_shares_its_models(world):
    # Models are the sector's: client B's admin manages the same versions.
    version = make_version(world.taxonomy, labels=two_labels(world), active=True)
    response = as_user(world.outsider).get(reverse("model-version", args=["beta", version.pk]))
    assert response.status_code == 200


def test_a_foreign_clients_slug_is_404_on_every_page(world, queued_runs):
    """Beta's admin shares alpha's sector models, but not alpha's address: not a member of
    alpha, so alpha's model pages do not exist for them."""
    version = make_version(world.taxonomy, labels=two_labels(world), active=True)
    run = finished_run(version)
    browser = as_user(world.outsider)
    for url in (
        reverse("models", args=["alpha"]),
        reverse("model-version", args=["alpha", version.pk]),
        reverse("models-run-progress", args=["alpha", run.pk]),
        f"{reverse('models-compare', args=['alpha'])}?a={version.pk}&b={version.pk}",
        reverse("models", args=["no-such-client"]),
    ):
        assert browser.get(url).status_code == 404, url
    for url in (
        reverse("models-train", args=["alpha"]),
        reverse("models-rollback", args=["alpha"]),
        reverse("model-version-activate", args=["alpha", version.pk]),
    ):
        assert browser.post(url, {"mode": "head", "force": "on"}).status_code == 404, url
    assert queued_runs == [] and TrainingRun.objects.count() == 1


def test_a_wrong_role_is_told_why(world):
    response = as_user(world.librarian).get(reverse("models", args=["alpha"]))
    assert response.status_code == 403
    assert "Your role (librarian) does not manage" in response.content.decode()


# --- The old addresses ---------------------------------------------------------------------------


def test_the_old_addresses_redirect_to_the_current_clients_keeping_the_query(world):
    browser = as_user(world.owner)  # alice: alpha only
    response = browser.get("/models/compare/?a=b")
    assert response.status_code == 302
    assert response["Location"] == reverse("models-compare", args=["alpha"]) + "?a=b"
    listing = browser.get("/models/")
    assert listing.status_code == 302 and listing["Location"] == reverse("models", args=["alpha"])
    detail = browser.get("/models/7/?x=1&y=2")
    assert detail["Location"] == reverse("model-version", args=["alpha", 7]) + "?x=1&y=2"


def test_the_old_addresses_follow_the_client_chosen_in_the_switcher(world):
    both = factories.UserFactory()
    factories.MembershipFactory(user=both, client=world.client_a, role="admin")
    factories.MembershipFactory(user=both, client=world.client_b, role="admin")
    browser = as_user(both)
    # Two clients and none chosen: home, to choose one.
    unsure = browser.get("/models/?a=b")
    assert unsure.status_code == 302 and unsure["Location"] == reverse("home")
    browser.post(reverse("switch-client"), {"client": world.client_b.pk})
    chosen = browser.get("/models/?a=b")
    assert chosen.status_code == 302
    assert chosen["Location"] == reverse("models", args=["beta"]) + "?a=b"


def test_the_old_addresses_send_a_user_without_a_client_home_and_anonymous_to_log_in(world):
    response = as_user(factories.UserFactory()).get("/models/")
    assert response.status_code == 302 and response["Location"] == reverse("home")
    anonymous = BrowserClient().get("/models/?a=b")
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]


def test_anonymous_is_sent_to_log_in_and_a_user_without_a_client_gets_404(world):
    response = BrowserClient().get(reverse("models", args=["alpha"]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert (
        as_user(factories.UserFactory()).get(reverse("models", args=["alpha"])).status_code == 404
    )


def test_site_staff_without_a_membership_open_the_models_pages_and_roll_back(world, other):
    v1 = make_version(world.taxonomy, labels=two_labels(world), active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=two_labels(world), stored=True)
    versions.model_activate(model_version=v2, force=True)
    staff = factories.UserFactory(username="sam", is_staff=True)  # belongs to no client
    browser = as_user(staff)
    page = browser.get(reverse("models", args=["alpha"]))
    assert page.status_code == 200 and 'id="rollback-button"' in page.content.decode()
    assert browser.get(reverse("model-version", args=["alpha", v1.pk])).status_code == 200
    assert browser.get(reverse("models", args=["gamma"])).status_code == 200  # any sector
    back = browser.post(reverse("models-rollback", args=["alpha"]), {"confirm": "yes"})
    assert back.status_code == 302
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v1
    assert browser.get(reverse("models", args=["nowhere"])).status_code == 404


def test_a_maintainer_who_is_not_its_admin_leaves_a_clients_own_choices_alone(world):
    version = make_version(world.taxonomy, labels=two_labels(world), active=True, stored=True)
    own = ClientModelSettings.objects.create(client=world.client_a, trains_sector_model=True)
    browser = as_user(factories.UserFactory(username="sam", is_staff=True))
    page = browser.get(reverse("models", args=["alpha"])).content.decode()
    assert 'id="consent-button"' not in page and "Alpha University's admins choose this" in page
    detail = browser.get(reverse("model-version", args=["alpha", version.pk])).content.decode()
    assert 'id="target-form"' not in detail and 'id="target-note"' in detail
    refused = browser.post(reverse("models-consent", args=["alpha"]), {})
    assert refused.status_code == 403
    assert (
        browser.post(reverse("models-target", args=["alpha"]), {"target": "60"}).status_code == 403
    )
    own.refresh_from_db()
    assert own.trains_sector_model is True and own.auto_accept_target is None
    owner_page = as_user(world.owner).get(reverse("models", args=["alpha"])).content.decode()
    assert 'id="consent-button"' in owner_page


def test_a_listed_maintainer_without_a_membership_opens_only_their_sectors_models(world, other):
    keeper = factories.UserFactory(username="kim")
    world.client_a.sector.maintainers.add(keeper)
    browser = as_user(keeper)
    assert browser.get(reverse("models", args=["alpha"])).status_code == 200
    assert browser.get(reverse("models", args=["gamma"])).status_code == 404


def test_a_stranger_still_gets_404_on_the_models_pages(world):
    v1 = make_version(world.taxonomy, labels=two_labels(world), active=True, stored=True)
    browser = as_user(factories.UserFactory(username="stranger"))
    assert browser.get(reverse("models", args=["alpha"])).status_code == 404
    assert browser.get(reverse("model-version", args=["alpha", v1.pk])).status_code == 404
    assert (
        browser.post(reverse("models-rollback", args=["alpha"]), {"confirm": "yes"}).status_code
        == 404
    )


# --- One version ---------------------------------------------------------------------------------


def test_a_version_page_shows_its_classes_matrix_curve_and_policy(world):
    factories.ClientLabelNameFactory(
        client=world.client_a, label=world.labels.smiling, name="Happy students"
    )
    version = make_version(world.taxonomy, labels=two_labels(world), active=True)
    finished_run(version, epochs=6)
    html = (
        as_user(world.owner)
        .get(reverse("model-version", args=["alpha", version.pk]))
        .content.decode()
    )
    per_class = re.search(r'<table class="models-table" id="per-class">.*?</table>', html, re.S)
    assert "Happy students" in per_class.group(0) and "building" in per_class.group(0)
    matrix = version.metrics["confusion_matrix"]
    confusion = re.search(r'id="confusion">.*?</table>', html, re.S).group(0)
    assert confusion.count('class="num hit"') == 2
    assert f">{matrix[0][0]}<" in confusion
    assert html.count("<polyline") == 2 and "validation loss" in html
    test = version.policy["test"]
    assert f"{test['coverage'] * 100:.1f}%" in html
    assert f"{test['precision'] * 100:.1f}%" in html
    low, high = test["precision_ci95"]
    assert f"95% CI {low * 100:.1f}%–{high * 100:.1f}%" in html
    assert 'id="target-form"' in html and 'value="95"' in html  # percent, as everywhere
    assert 'id="activate-form"' not in html  # already active


def test_a_version_without_history_or_policy_still_shows(world):
    version = make_version(world.taxonomy, labels=two_labels(world))
    ModelVersion.objects.filter(pk=version.pk).update(policy={}, metrics={})
    response = as_user(world.owner).get(reverse("model-version", args=["alpha", version.pk]))
    assert response.status_code == 200
    assert (
        b"No training history" in response.content and b"no auto-accept policy" in response.content
    )


# --- Training ------------------------------------------------------------------------------------


def test_an_admin_starts_training_and_a_second_is_refused_with_a_message(
    world, queued_runs, django_capture_on_commit_callbacks
):
    browser = as_user(world.owner)
    data = {"mode": "head", "backbone": "efficientnet_lite0"}
    with django_capture_on_commit_callbacks(execute=True):
        first = browser.post(reverse("models-train", args=["alpha"]), data)
    assert first.status_code == 302
    run = TrainingRun.objects.get()
    assert run.requested_by == world.owner and queued_runs == [run.pk]
    second = browser.post(
        reverse("models-train", args=["alpha"]), {**data, "mode": "finetune"}, follow=True
    )
    assert any("already queued" in m for m in flash(second))
    assert TrainingRun.objects.count() == 1
    page = second.content.decode()
    assert 'id="run-progress" data-status="queued"' in page


def test_the_train_form_answers_json_to_the_page_script(world, queued_runs):
    browser = as_user(world.maintainer)
    data = {"mode": "head", "backbone": "efficientnet_lite0"}
    started = browser.post(
        reverse("models-train", args=["alpha"]), data, HTTP_ACCEPT="application/json"
    )
    assert started.status_code == 202
    run = started.json()["run"]
    assert run["status"] == "queued" and run["percent"] == 0
    assert run["progress_url"] == reverse("models-run-progress", args=["alpha", run["id"]])
    refused = browser.post(
        reverse("models-train", args=["alpha"]), data, HTTP_ACCEPT="application/json"
    )
    assert refused.status_code == 409 and "already queued" in refused.json()["detail"]
    bad = browser.post(
        reverse("models-train", args=["alpha"]),
        {**data, "backbone": "nope"},
        HTTP_ACCEPT="application/json",
    )
    assert bad.status_code == 400


def test_the_train_form_needs_its_csrf_token(world, queued_runs):
    response = as_user(world.owner, csrf=True).post(
        reverse("models-train", args=["alpha"]), {"mode": "head"}
    )
    assert response.status_code == 403
    assert TrainingRun.objects.count() == 0


def test_the_progress_endpoint_follows_a_run(world):
    run = factories.TrainingRunFactory(taxonomy=world.taxonomy, max_epochs=200)
    browser = as_user(world.owner)
    url = reverse("models-run-progress", args=["alpha", run.pk])
    assert browser.get(url).json()["status"] == "queued"
    TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, epoch=50)
    running = browser.get(url).json()
    assert (running["status"], running["epoch"], running["max_epochs"]) == ("running", 50, 200)
    assert running["percent"] == 25 and running["finished"] is False
    version = make_version(world.taxonomy, labels=two_labels(world), active=True)
    TrainingRun.objects.filter(pk=run.pk).update(
        status=RunStatus.SUCCEEDED, model_version=version, message="v1 is now active."
    )
    done = browser.get(url).json()
    assert done["percent"] == 100 and done["finished"] is True
    assert done["version"] == {
        "number": 1,
        "url": reverse("model-version", args=["alpha", version.pk]),
    }
    assert done["message"] == "v1 is now active."


# --- Activate, roll back, target -----------------------------------------------------------------


def test_a_refused_activation_offers_to_force_it(world, gold):
    make_version(world.taxonomy, labels=two_labels(world), active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=two_labels(world), stored=True)
    gold.result = Comparison(n=20, candidate_top1=0.6, active_top1=0.85)
    browser = as_user(world.maintainer)
    url = reverse("model-version-activate", args=["alpha", v2.pk])
    refused = browser.post(url)
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "worse than the active version" in html and 'id="force-button"' in html
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version != v2
    asked = browser.post(url, {"force": "on"})  # forcing asks first, and says who it touches
    assert asked.status_code == 200 and 'id="confirm-form"' in asked.content.decode()
    assert "Alpha University and 1 other client" in asked.content.decode()
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version != v2
    forced = browser.post(url, {"force": "on", "confirm": "yes"})
    assert forced.status_code == 302
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v2
    assert ModelActivation.objects.filter(model_version=v2, forced=True).exists()


def test_an_unloadable_version_is_refused_without_a_force_button(world):
    make_version(world.taxonomy, labels=two_labels(world), active=True)
    v2 = make_version(world.taxonomy, labels=two_labels(world))  # no file behind it
    refused = as_user(world.maintainer).post(
        reverse("model-version-activate", args=["alpha", v2.pk])
    )
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "cannot be read" in html and 'id="force-button"' not in html


def test_a_maintainer_rolls_back_and_is_told_when_there_is_nowhere_to_go(world):
    v1 = make_version(world.taxonomy, labels=two_labels(world), active=True, stored=True)
    v2 = make_version(world.taxonomy, labels=two_labels(world), stored=True)
    versions.model_activate(model_version=v2, force=True)
    browser = as_user(world.maintainer)
    asked = browser.post(reverse("models-rollback", args=["alpha"])).content.decode()
    assert "Roll back to v1?" in asked and "Alpha University and 1 other client" in asked
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v2
    back = browser.post(reverse("models-rollback", args=["alpha"]), {"confirm": "yes"}, follow=True)
    assert any("v1 is the active model again" in m for m in flash(back))
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v1
    nowhere = browser.post(
        reverse("models-rollback", args=["alpha"]), {"confirm": "yes"}, follow=True
    )
    assert any("nothing to roll back" in m for m in flash(nowhere))


def test_a_new_target_is_the_clients_own_and_leaves_the_shared_version_alone(world):
    version = make_version(world.taxonomy, labels=two_labels(world), active=True, accuracy=0.85)
    before = version.policy
    response = as_user(world.owner).post(
        reverse("models-target", args=["alpha"]), {"target": "70", "version": version.pk}
    )
    assert response["Location"] == reverse("model-version", args=["alpha", version.pk])
    own = ClientModelSettings.objects.get(client=world.client_a)
    assert own.auto_accept_target == 0.7 and own.updated_by == world.owner
    assert own.policy["target_precision"] == 0.7 and own.policy["model_version"] == version.pk
    assert own.policy["test"]["coverage"] >= before["test"]["coverage"]
    version.refresh_from_db()
    world.taxonomy.refresh_from_db()
    assert version.policy == before and world.taxonomy.auto_accept_target == 0.95
    assert not ClientModelSettings.objects.filter(client=world.client_b).exists()


@pytest.mark.parametrize(
    ("target", "said"),
    [
        ("30", "at least 50%"),
        ("150", "cannot be more than 100%"),
        ("many", "as a percentage"),
        ("0.95", "at least 50%"),  # a fraction where a percentage is asked for
    ],
)
def test_a_target_out_of_range_changes_nothing_and_says_why(world, target, said):
    version = make_version(world.taxonomy, labels=two_labels(world), active=True)
    response = as_user(world.owner).post(
        reverse("models-target", args=["alpha"]), {"target": target}, follow=True
    )
    assert any("not changed" in m and said in m for m in flash(response)), flash(response)
    assert not ClientModelSettings.objects.filter(client=world.client_a).exists()
    version.refresh_from_db()
    assert version.policy["target_precision"] == 0.95


# --- Compare -------------------------------------------------------------------------------------


def test_two_versions_side_by_side_and_on_the_same_gold_images(world, monkeypatch):
    v1 = make_version(world.taxonomy, labels=two_labels(world), accuracy=0.7, active=True)
    v2 = make_version(world.taxonomy, labels=two_labels(world), accuracy=0.95, seed=5)
    browser = as_user(world.owner)
    url = f"{reverse('models-compare', args=['alpha'])}?a={v1.pk}&b={v2.pk}"
    html = browser.get(url).content.decode()
    table = re.search(r'id="comparison">.*?</table>', html, re.S).group(0)
    for v in (v1, v2):
        assert f"{v.metrics['top1_accuracy']['value'] * 100:.1f}%" in table
    assert "better" not in table and 'id="gold-button"' in html  # own test sets: no mark

    asked = []
    monkeypatch.setattr(
        model_views.versions,
        "gold_head_to_head",
        lambda a, b: asked.append((a.pk, b.pk)) or {"n": 24, "a": 0.75, "b": 0.875},
    )
    gold = browser.get(url).content.decode()
    assert asked == [(v1.pk, v2.pk)]
    assert "On the same 24 gold test images" in gold and "87.5%" in gold
    assert "v2 does better" in gold


def test_the_gold_comparison_reads_the_answers_each_version_stored(world):
    verified_library(world, n=40)
    gold = [
        image for image in Image.objects.filter(client=world.client_a) if is_gold_test(image.sha256)
    ]
    assert gold, "the library should hold some gold test images"
    truth = {image.pk: image.image_labels.get().label_id for image in gold}
    v1 = make_version(world.taxonomy, labels=two_labels(world), active=True)
    v2 = make_version(world.taxonomy, labels=two_labels(world))
    wrong = {world.labels.smiling.pk: world.labels.building.pk}
    wrong[world.labels.building.pk] = world.labels.smiling.pk
    # v1 answers every gold image right; v2 gets the first one wrong; v1 also answered an
    # image v2 never saw, which is left out.
    v1.gold_answers = {str(pk): label for pk, label in truth.items()}
    first = gold[0].pk
    v2.gold_answers = {str(pk): label for pk, label in truth.items() if pk != gold[-1].pk}
    v2.gold_answers[str(first)] = wrong[truth[first]]
    v1.save()
    v2.save()
    url = f"{reverse('models-compare', args=['alpha'])}?a={v1.pk}&b={v2.pk}"
    html = as_user(world.owner).get(url).content.decode()
    n = len(gold) - 1
    assert f"On the same {n} gold test images" in html
    assert f"{100 * (n - 1) / n:.1f}%" in html and "v1 does better" in html


def test_versions_without_common_answers_say_so_and_the_worker_can_measure_them(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    from training import tasks

    verified_library(world, n=20)
    v1 = make_version(world.taxonomy, labels=two_labels(world), active=True)
    v2 = make_version(world.taxonomy, labels=two_labels(world))
    browser = as_user(world.owner)
    url = f"{reverse('models-compare', args=['alpha'])}?a={v1.pk}&b={v2.pk}"
    assert "have not answered any gold test image in common" in browser.get(url).content.decode()

    queued = []
    monkeypatch.setattr(tasks.evaluate, "delay", queued.append)
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            reverse("models-evaluate", args=["alpha"]), {"version": [v1.pk, v2.pk], "next": url}
        )
    assert response.status_code == 302 and response["Location"] == url
    assert queued == [v1.pk, v2.pk]


def test_a_gold_comparison_without_verified_images_says_so(world):
    v1 = make_version(world.taxonomy, labels=two_labels(world), active=True)
    v2 = make_version(world.taxonomy, labels=two_labels(world))
    url = f"{reverse('models-compare', args=['alpha'])}?a={v1.pk}&b={v2.pk}"
    assert b"no gold test images" in as_user(world.owner).get(url).content


def test_compare_without_two_versions_goes_back_to_the_list(world):
    response = as_user(world.owner).get(reverse("models-compare", args=["alpha"]))
    assert response.status_code == 302 and response["Location"] == reverse("models", args=["alpha"])


# --- End to end, with the real services and a tiny real model ------------------------------------


def test_activate_compare_and_roll_back_with_real_models(world, tiny_backbone):
    verified_library(world)
    run = training_execute(run_id=training_request(taxonomy=world.taxonomy).pk)
    assert run.status == "succeeded", run.message
    v1 = run.model_version
    # A second version with the same weights: it ties on the gold images, so it is not worse.
    v2 = ModelVersion.objects.get(pk=v1.pk)
    v2.pk, v2.number = None, 2
    v2.save()
    browser = as_user(world.maintainer)
    try:
        page = browser.get(reverse("model-version", args=["alpha", v1.pk])).content.decode()
        assert "<polyline" in page and 'id="per-class"' in page

        activated = browser.post(
            reverse("model-version-activate", args=["alpha", v2.pk]), follow=True
        )
        assert any("v2 is now the active model" in m for m in flash(activated))
        assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v2

        compared = browser.get(f"{reverse('models-compare', args=['alpha'])}?a={v1.pk}&b={v2.pk}")
        assert "A tie." in compared.content.decode()

        browser.post(reverse("models-rollback", args=["alpha"]), {"confirm": "yes"})
        assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v1
    finally:
        runtime.forget_models()


# --- The retraining policy ----------------------------------------------------------------------


def test_the_maintainer_sees_the_retraining_policy_and_turns_it_off(world):
    from training.services.retraining import retraining_policy_of

    browser = as_user(world.maintainer)
    html = browser.get(reverse("models", args=["alpha"])).content.decode()
    assert "Retrains by itself after 50 newly verified images" in html
    assert "It has not fired yet." in html
    response = browser.post(
        reverse("models-retraining", args=["alpha"]), {"after_verified": "20", "every_hours": "0"}
    )
    assert response.status_code == 302
    assert flash(response) == ["Retraining policy saved: off (train by hand only)."]
    policy = retraining_policy_of(world.taxonomy)
    assert (policy.enabled, policy.after_verified, policy.every_hours) == (False, 20, 0)
    assert (
        "Off: models train only when an admin asks."
        in browser.get(reverse("models", args=["alpha"])).content.decode()
    )


def test_a_bad_retraining_policy_is_refused_with_a_message_and_nothing_changes(world):
    from training.services.retraining import retraining_policy_of

    browser = as_user(world.maintainer)
    response = browser.post(
        reverse("models-retraining", args=["alpha"]),
        {"enabled": "on", "after_verified": "-3", "every_hours": "x"},
    )
    assert response.status_code == 302
    (message,) = flash(response)
    assert message.startswith("The retraining policy was not changed.")
    assert "newly verified images" in message
    assert retraining_policy_of(world.taxonomy).pk is None
