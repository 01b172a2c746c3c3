"""Integers beyond the database's range and JSON bodies of the wrong shape are 400s with a
message, on every endpoint that takes them: never a 500."""

import uuid

import pytest
from django.urls import reverse

from labelling.models import ImageStatus
from tests import factories

BIG = str(2**64)  # over SQLite's and PostgreSQL's bigint
A = "/api/v1/clients/alpha"

QUERY_CASES = [
    f"{A}/images/?label={BIG}",
    f"{A}/images/?batch={BIG}",
    f"{A}/images/?uploaded_by={BIG}",
    f"{A}/images/?offset={BIG}",
    f"/api/v1/taxonomies/?sector={BIG}",
    f"/api/v1/labels/?taxonomy={BIG}",
    f"{A}/review/stats/?reviewer={BIG}",
    f"{A}/review/stats/?days={BIG}",
]

PATH_CASES = [
    f"{A}/images/{BIG}/",
    f"{A}/batches/{BIG}/",
    f"{A}/training-runs/{BIG}/",
    f"{A}/model-versions/{BIG}/",
    f"/api/v1/taxonomies/{BIG}/",
    f"/api/v1/labels/{BIG}/",
]

BODY_CASES = [
    (f"{A}/review/next/", {"label": int(BIG)}),
    (f"{A}/review/next/", {"batch": int(BIG)}),
    (f"{A}/review/next/", {"count": int(BIG)}),
    (f"{A}/review/next/", {"exclude": [int(BIG)]}),
    (f"{A}/review/undo/", {"review": int(BIG)}),
    (f"{A}/review/corrections/", {"image": int(BIG), "decision": "accept"}),
    (f"{A}/review/corrections/", {"image": 1, "decision": "correct", "labels": [int(BIG)]}),
    (
        f"{A}/review/decisions/",
        {"decisions": [{"image": int(BIG), "lease": str(uuid.uuid4()), "decision": "accept"}]},
    ),
    ("/api/v1/predict/", {"client": "alpha", "image_ids": [int(BIG)]}),
    ("/api/v1/predict/", {"client": "alpha", "image_ids": [1], "top_n": int(BIG)}),
]

POST_ENDPOINTS = [
    "/api/v1/predict/",
    f"{A}/review/next/",
    f"{A}/review/decisions/",
    f"{A}/review/undo/",
    f"{A}/review/release/",
    f"{A}/review/corrections/",
    f"{A}/batches/",
    f"{A}/training-runs/",
]


@pytest.fixture
def admin_client(api_client_for, world):
    return api_client_for(world.owner)  # the client's admin: every endpoint lets it in


@pytest.mark.parametrize("url", QUERY_CASES)
def test_an_integer_query_parameter_beyond_the_database_range_is_a_400(admin_client, url):
    response = admin_client.get(url)

    assert response.status_code == 400, response.content
    assert response.json()  # says which parameter, and why


def test_a_page_size_beyond_the_largest_is_the_largest(admin_client):
    response = admin_client.get(f"{A}/images/?limit={BIG}")

    assert response.status_code == 200
    assert response.json()["next"] is None  # no page past the only one


@pytest.mark.parametrize("url", PATH_CASES)
def test_an_id_in_the_path_beyond_the_database_range_is_not_found(admin_client, url):
    response = admin_client.get(url)

    assert response.status_code == 404, response.content


@pytest.mark.parametrize("url, body", BODY_CASES)
def test_an_integer_in_a_json_body_beyond_the_database_range_is_a_400(admin_client, url, body):
    response = admin_client.post(url, body, format="json")

    assert response.status_code == 400, response.content
    assert "less than or equal to" in str(response.json())


@pytest.mark.parametrize("body", ["[null]", '"x"', "null", "5", "true", "[]"])
@pytest.mark.parametrize("url", POST_ENDPOINTS)
def test_a_json_body_that_is_not_an_object_is_a_400(admin_client, url, body):
    response = admin_client.generic("POST", url, body, content_type="application/json")

    assert response.status_code == 400, response.content
    assert "must be a JSON object" in response.json()["detail"]


def test_a_librarian_cannot_decide_an_image_waiting_for_review_through_corrections(
    api_client_for, world
):
    waiting = factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
    url = reverse("api-review-corrections", args=["alpha"])
    body = {"image": waiting.pk, "decision": "correct", "labels": [world.labels.building.pk]}

    refused = api_client_for(world.librarian).post(url, body, format="json")

    assert refused.status_code == 403
    assert "reviewers" in refused.json()["detail"]
    waiting.refresh_from_db()
    assert waiting.status == ImageStatus.NEEDS_REVIEW and not waiting.reviews.exists()
    # A reviewer still may.
    decided = api_client_for(world.reviewer).post(url, body, format="json")
    assert decided.status_code == 201, decided.json()
