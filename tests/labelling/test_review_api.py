"""The review API: next, decisions, undo, release, labels, stats and corrections, for the
owner, a reviewer, a member without the review role and an outsider."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from labelling.api import review as review_api
from labelling.models import ImageLabel, ImageStatus, Review, ReviewLease, Role
from labelling.models.images import LabelSource
from labelling.services import review as rs
from labelling.services.review.cache import queue_heads
from tests import factories
from tests.labelling.test_review_service import (
    expire_all_holds,
    make_queue,
    predicted_image,
    state,
)

BASE = "/api/v1/clients/alpha/review/"


@pytest.fixture
def queue(world):
    return make_queue(world)


@pytest.fixture(autouse=True)
def _fresh_queue_windows():
    # Queue heads are cached per process (labelling.services.review.cache); ids repeat across tests.
    rs.review_windows_clear()
    yield
    rs.review_windows_clear()


def next_items(api, **body):
    response = api.post(BASE + "next/", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["items"]


def decision(item, decision="accept", labels=(), seconds=1.0) -> dict:
    return {
        "image": item["id"],
        "lease": item["lease"]["token"],
        "decision": decision,
        "labels": list(labels),
        "seconds_spent": seconds,
    }


ENDPOINTS = [
    ("post", "next/", {}),
    ("post", "decisions/", {"decisions": []}),
    ("post", "undo/", {}),
    ("post", "release/", {}),
    ("get", "labels/", None),
    ("get", "stats/", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_an_outsider_gets_404_on_every_endpoint(world, queue, api_client_for, method, path, body):
    api = api_client_for(world.outsider)
    response = getattr(api, method)(BASE + path, body, format="json")
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_a_member_without_the_review_role_gets_403(
    world, queue, api_client_for, method, path, body
):
    api = api_client_for(world.librarian)
    response = getattr(api, method)(BASE + path, body, format="json")
    assert response.status_code == 403
    assert "does not review images" in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_anonymous_requests_are_refused(world, queue, method, path, body):
    response = getattr(APIClient(), method)(BASE + path, body, format="json")
    assert response.status_code in (401, 403)


def test_the_corrections_endpoint_has_its_own_outsider_and_librarian_answers(
    world, queue, api_client_for
):
    body = {"image": queue.auto.pk, "decision": "correct", "labels": [world.labels.building.pk]}
    assert (
        api_client_for(world.outsider).post(BASE + "corrections/", body, format="json").status_code
        == 404
    )
    response = api_client_for(world.librarian).post(BASE + "corrections/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["corrected_auto_tag"] is True
    assert response.json()["labels"] == [world.labels.building.pk]


def test_the_owner_and_a_reviewer_work_the_queue(world, queue, api_client_for):
    for user in (world.owner, world.reviewer):
        [item] = next_items(api_client_for(user), count=1)
        assert item["id"] in [i.pk for i in queue.images]


def test_next_gives_images_with_their_suggestions_by_the_clients_names(
    world, queue, api_client_for
):
    factories.ClientLabelNameFactory(
        client=world.client_a, label=world.labels.smiling, name="Happy students"
    )
    api = api_client_for(world.reviewer)
    items = next_items(api, count=2)
    first = items[0]
    assert first["id"] == queue.images[0].pk
    assert first["suggestions"][0] == {
        "label": world.labels.smiling.pk,
        "name": "Happy students",
        "probability": 0.41,
    }
    assert [s["name"] for s in items[1]["suggestions"]] == [
        "Building",
        "Happy students",
        "Not smiling",
    ]
    assert first["suggested"] == [world.labels.smiling.pk]
    assert first["file"] == f"/clients/alpha/images/{first['id']}/file"
    assert first["lease"]["token"]
    assert first["confidence"] == 0.41


def test_grid_mode_needs_a_label(world, queue, api_client_for):
    api = api_client_for(world.reviewer)
    response = api.post(BASE + "next/", {"mode": "grid"}, format="json")
    assert response.status_code == 400
    assert "one class at a time" in response.json()["label"][0]
    items = next_items(api, mode="grid", label=world.labels.building.pk)
    assert [i["id"] for i in items] == [queue.images[1].pk, queue.images[3].pk]


def test_a_submission_is_stored_and_a_repeat_is_a_409_that_changes_nothing(
    world, queue, api_client_for
):
    api = api_client_for(world.reviewer)
    [item] = next_items(api, count=1)
    response = api.post(
        BASE + "decisions/",
        {"decisions": [decision(item, "correct", [world.labels.building.pk], 2.5)]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    [result] = response.json()["reviews"]
    assert result["decision"] == "correct"
    assert result["status"] == ImageStatus.VERIFIED
    assert result["labels"] == [world.labels.building.pk]
    image = queue.images[0]
    after = state(image)

    again = api.post(BASE + "decisions/", {"decisions": [decision(item)]}, format="json")
    assert again.status_code == 409
    body = again.json()
    assert body["code"] == "duplicate"
    assert body["detail"].startswith(f"You already decided image {image.pk}")
    assert body["detail"].endswith("Nothing was stored.")
    assert body["conflicts"][0]["image"] == image.pk
    assert state(image) == after
    assert Review.objects.count() == 1


def test_a_stale_hold_is_a_409(world, queue, api_client_for, second_api):
    api = api_client_for(world.reviewer)
    [item] = next_items(api, count=1)
    expire_all_holds()
    [taken] = next_items(second_api, count=1)
    assert taken["id"] == item["id"]
    response = api.post(BASE + "decisions/", {"decisions": [decision(item)]}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "taken"
    assert state(queue.images[0]) == (ImageStatus.NEEDS_REVIEW, [])


@pytest.fixture
def second_api(world, api_client_for):
    user = factories.UserFactory(username="ruth")
    factories.MembershipFactory(user=user, client=world.client_a, role=Role.REVIEWER)
    return api_client_for(user)


def test_a_decision_on_an_image_of_another_client_is_refused(world, queue, api_client_for):
    api = api_client_for(world.reviewer)
    body = {
        "decisions": [{"image": queue.other.pk, "lease": str(uuid.uuid4()), "decision": "reject"}]
    }
    response = api.post(BASE + "decisions/", body, format="json")
    assert response.status_code == 400
    assert state(queue.other)[0] == ImageStatus.NEEDS_REVIEW


def test_bad_decisions_are_400s(world, queue, api_client_for):
    api = api_client_for(world.reviewer)
    [item] = next_items(api, count=1)
    for bad, field in [
        ({**decision(item), "decision": "maybe"}, "decisions"),
        ({**decision(item), "lease": "not-a-uuid"}, "decisions"),
        ({**decision(item), "seconds_spent": -1}, "decisions"),
    ]:
        response = api.post(BASE + "decisions/", {"decisions": [bad]}, format="json")
        assert response.status_code == 400, bad
        assert field in response.json()
    response = api.post(
        BASE + "decisions/",
        {"decisions": [decision(item, "correct", [999999])]},
        format="json",
    )
    assert response.status_code == 400
    assert "not an active label" in str(response.json())


def test_undo_restores_the_image_and_hands_it_back(world, queue, api_client_for):
    api = api_client_for(world.reviewer)
    [item] = next_items(api, status="auto_tagged")
    before = state(queue.auto)
    api.post(BASE + "decisions/", {"decisions": [decision(item, "reject")]}, format="json")
    assert state(queue.auto) == (ImageStatus.REJECTED, [])

    response = api.post(BASE + "undo/", {}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert len(body["undone"]) == 1
    assert [i["id"] for i in body["items"]] == [queue.auto.pk]
    assert state(queue.auto) == before
    assert before[1][0][1] == LabelSource.MACHINE

    nothing = api.post(BASE + "undo/", {}, format="json")
    assert nothing.status_code == 404
    assert nothing.json()["detail"] == "Nothing to undo."


def test_release_takes_json_or_a_beacons_form(world, queue, api_client_for):
    from django.test import Client

    api = api_client_for(world.reviewer)
    items = next_items(api, count=3)
    response = api.post(BASE + "release/", {"leases": [items[0]["lease"]["token"]]}, format="json")
    assert response.json() == {"released": 1}

    # The page's beacon: a form with the CSRF token, on the session.
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(world.reviewer)
    page = browser.get("/clients/alpha/review/")
    token = page.context["config"]["csrfToken"]
    refused = browser.post(BASE + "release/", {"leases": [items[1]["lease"]["token"]]})
    assert refused.status_code == 403  # no CSRF token: not released
    response = browser.post(
        BASE + "release/",
        {"csrfmiddlewaretoken": token, "leases": [items[1]["lease"]["token"]]},
    )
    assert response.status_code == 200
    assert response.json() == {"released": 1}
    assert list(ReviewLease.objects.values_list("image_id", flat=True)) == [items[2]["id"]]


def test_labels_lists_the_taxonomy_with_what_waits(world, queue, api_client_for):
    response = api_client_for(world.reviewer).get(BASE + "labels/")
    assert response.status_code == 200
    body = response.json()
    assert body["kind"] == "multi_class"
    assert body["waiting"] == 5
    waiting = {row["key"]: row["waiting"] for row in body["labels"]}
    assert waiting == {"building": 2, "not_smiling": 0, "smiling": 3}


def test_stats_show_a_reviewer_their_own_figures_and_an_admin_everyones(
    world, queue, api_client_for
):
    api = api_client_for(world.reviewer)
    items = next_items(api, count=2)
    api.post(BASE + "decisions/", {"decisions": [decision(i) for i in items]}, format="json")
    owner = api_client_for(world.owner)
    [item] = next_items(owner, count=1)
    owner.post(BASE + "decisions/", {"decisions": [decision(item, "reject")]}, format="json")

    mine = api.get(BASE + "stats/", {"days": 7, "reviewer": world.owner.pk}).json()
    assert [r["reviewer"] for r in mine["reviewers"]] == ["rita"]
    assert mine["reviewers"][0]["tally"]["decisions"] == 2
    assert mine["reviewers"][0]["tally"]["agreement"] == 1.0
    everyone = owner.get(BASE + "stats/").json()
    assert [r["reviewer"] for r in everyone["reviewers"]] == ["alice", "rita"]
    assert everyone["total"]["decisions"] == 3
    assert api.get(BASE + "stats/", {"days": 1000}).status_code == 400


def test_next_and_decisions_keep_a_bounded_number_of_queries(world, api_client_for):
    make_queue(world, confidences=[0.3 + i * 0.01 for i in range(40)])
    api = api_client_for(world.reviewer)
    next_items(api, count=1)  # warm up the token and session lookups
    with CaptureQueriesContext(connection) as next_queries:
        items = next_items(api, mode="grid", label=world.labels.smiling.pk, count=20)
    assert len(items) == 20
    with CaptureQueriesContext(connection) as submit_queries:
        response = api.post(
            BASE + "decisions/", {"decisions": [decision(i) for i in items]}, format="json"
        )
    assert response.status_code == 201
    assert len(next_queries) <= 20, [q["sql"] for q in next_queries]
    # One conditional update per image; everything else is a fixed number of queries (the
    # retraining policy's check after a submission among them: about a dozen, once).
    assert len(submit_queries) <= 20 + 30, [q["sql"] for q in submit_queries]
    assert ImageLabel.objects.filter(source=LabelSource.HUMAN).count() == 20


def test_next_reads_an_old_queue_head_again_after_answering(
    world, queue, api_client_for, settings, monkeypatch
):
    settings.REVIEW_QUEUE_WINDOW_SECONDS = 5
    now = [1000.0]
    monkeypatch.setattr(queue_heads, "clock", lambda: now[0])
    api = api_client_for(world.reviewer)
    [first] = next_items(api, count=1)
    newcomer = predicted_image(world.client_a, queue.version, [(world.labels.building, 0.1)])
    now[0] += 6  # past the head's time, not past STALE_FOR_AT_MOST of it
    # The head is past its time: this answer still comes from it, and it is read again
    # once the answer is out, so that the request after sees the newcomer.
    assert [i["id"] for i in next_items(api, count=2)] == [first["id"], queue.images[1].pk]
    assert [i["id"] for i in next_items(api, count=3)][2] == newcomer.pk


def test_the_review_api_documents_without_warnings():
    GENERATOR_STATS.reset()
    try:
        schema = SchemaGenerator(patterns=review_api.urlpatterns).get_schema(
            request=None, public=True
        )
        assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
        assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)
    finally:
        GENERATOR_STATS.reset()
    assert {
        "/clients/{client_slug}/review/next/",
        "/clients/{client_slug}/review/decisions/",
        "/clients/{client_slug}/review/undo/",
        "/clients/{client_slug}/review/release/",
        "/clients/{client_slug}/review/labels/",
        "/clients/{client_slug}/review/stats/",
        "/clients/{client_slug}/review/corrections/",
    } <= set(schema["paths"])
