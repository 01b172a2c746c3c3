"""The review pages: the queue (its configuration for the script) and the statistics."""

import json

import pytest

from labelling.models import TaxonomyKind
from labelling.services import review as rs
from tests import factories
from tests.labelling.test_review_service import answer, give, make_queue

pytestmark = pytest.mark.usefixtures("fresh_review_windows")

QUEUE = "/clients/alpha/review/"
STATS = "/clients/alpha/review/stats/"


@pytest.fixture
def queue(world):
    return make_queue(world)


def config_of(response) -> dict:
    return response.context["config"]


@pytest.mark.parametrize("url", [QUEUE, STATS])
def test_an_outsider_gets_404(client, world, queue, url):
    client.force_login(world.outsider)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("url", [QUEUE, STATS])
def test_a_member_without_the_review_role_gets_403(client, world, queue, url):
    client.force_login(world.librarian)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", [QUEUE, STATS])
def test_anonymous_visitors_are_sent_to_log_in(client, world, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_review_goes_to_the_current_clients_queue(client, world):
    client.force_login(world.reviewer)
    response = client.get("/review/")
    assert response.status_code == 302
    assert response["Location"] == QUEUE


def test_the_queue_page_configures_its_script(client, world, queue):
    factories.ClientLabelNameFactory(
        client=world.client_a, label=world.labels.smiling, name="Happy students"
    )
    client.force_login(world.reviewer)
    response = client.get(QUEUE)
    assert response.status_code == 200
    config = config_of(response)
    assert config["mode"] == "single"
    assert config["multiLabel"] is False
    assert config["filters"] == {
        "status": "needs_review",
        "label": None,
        "batch": None,
        "order": "least_certain",
    }
    assert config["urls"]["next"] == "/api/v1/clients/alpha/review/next/"
    assert config["urls"]["release"] == "/api/v1/clients/alpha/review/release/"
    assert {label["name"] for label in config["labels"]} == {
        "Happy students",
        "Not smiling",
        "Building",
    }
    assert response.context["waiting"] == 5
    html = response.content.decode()
    assert 'id="review-config"' in html
    assert "js/review.js" in html
    assert json.loads(html.split('id="review-config" type="application/json">')[1].split("<")[0])


def test_grid_mode_opens_on_the_class_with_the_most_images_waiting(client, world, queue):
    client.force_login(world.owner)
    response = client.get(QUEUE, {"mode": "grid"})
    config = config_of(response)
    assert config["mode"] == "grid"
    assert config["filters"]["label"] == world.labels.smiling.pk
    assert response.context["waiting"] == 3
    chosen = client.get(QUEUE, {"mode": "grid", "label": world.labels.building.pk})
    assert config_of(chosen)["filters"]["label"] == world.labels.building.pk


def test_filters_and_a_multi_label_taxonomy_reach_the_script(client, world, queue):
    world.taxonomy.kind = TaxonomyKind.MULTI_LABEL
    world.taxonomy.save()
    client.force_login(world.reviewer)
    response = client.get(QUEUE, {"status": "auto_tagged", "order": "oldest"})
    config = config_of(response)
    assert config["multiLabel"] is True
    assert config["filters"]["status"] == "auto_tagged"
    assert config["filters"]["order"] == "oldest"
    assert response.context["waiting"] == 1


def test_the_statistics_page_shows_reviewers_figures(client, world, queue):
    items = give(world.client_a, world.reviewer, count=2)
    rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(i) for i in items]
    )
    client.force_login(world.owner)
    response = client.get(STATS, {"days": 30})
    assert response.status_code == 200
    html = response.content.decode()
    assert "rita" in html
    assert response.context["stats"].total.decisions == 2
    client.force_login(world.reviewer)
    assert client.get(STATS).context["stats"].reviewers[0].reviewer == "rita"
