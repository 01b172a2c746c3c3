"""Every page and API view finds its client through labelling.tenancy.client_for_user: the
URL names the client; a client the user is not a member of is a 404, a role that may not
do this is a 403. Personas: alice (admin of alpha), bob (librarian), rita (reviewer) and
charlie (admin of beta, an outsider to alpha)."""

import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from labelling.models import Role
from labelling.tenancy import client_for_user

pytestmark = pytest.mark.django_db

PAGES = [
    "/clients/alpha/library/",
    "/clients/alpha/upload/",
    "/clients/alpha/review/",
    "/clients/alpha/review/stats/",
]
API_READS = [
    "/api/v1/clients/alpha/batches/",
    "/api/v1/clients/alpha/review/labels/",
    "/api/v1/clients/alpha/review/stats/",
]


def test_it_gives_the_client_named_by_the_slug_to_a_member(world):
    client, membership = client_for_user(world.reviewer, "alpha", roles=[Role.REVIEWER])
    assert (client, membership.role) == (world.client_a, Role.REVIEWER)


def test_it_answers_an_outsider_as_if_the_client_did_not_exist(world):
    with pytest.raises(Http404):
        client_for_user(world.outsider, "alpha")
    with pytest.raises(Http404):
        client_for_user(world.outsider, "no-such-client")


def test_it_refuses_a_member_whose_role_may_not_with_the_reason(world):
    with pytest.raises(PermissionDenied, match=r"Your role \(librarian\) does not review"):
        client_for_user(
            world.librarian, "alpha", roles=[Role.REVIEWER], refusal="does not review images"
        )


@pytest.mark.parametrize("url", PAGES)
def test_a_foreign_clients_pages_are_not_found(client, world, url):
    client.force_login(world.outsider)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("url", API_READS)
def test_a_foreign_clients_api_is_not_found(world, api_client_for, url):
    assert api_client_for(world.outsider).get(url).status_code == 404


@pytest.mark.parametrize(
    ("url", "user"),
    [
        ("/clients/alpha/upload/", "reviewer"),
        ("/clients/alpha/review/", "librarian"),
        ("/clients/alpha/review/stats/", "librarian"),
    ],
)
def test_a_page_the_role_may_not_use_is_forbidden(client, world, url, user):
    client.force_login(getattr(world, user))
    assert client.get(url).status_code == 403


def test_the_review_api_is_forbidden_to_a_librarian_for_reads_and_writes(world, api_client_for):
    api = api_client_for(world.librarian)
    assert api.get("/api/v1/clients/alpha/review/labels/").status_code == 403
    response = api.post("/api/v1/clients/alpha/review/next/", {}, format="json")
    assert response.status_code == 403
    assert "does not review images" in response.json()["detail"]


def test_a_write_the_role_may_not_make_is_forbidden_where_reads_are_open(world, api_client_for):
    api = api_client_for(world.reviewer)
    assert api.get("/api/v1/clients/alpha/batches/").status_code == 200
    response = api.post("/api/v1/clients/alpha/batches/", {}, format="multipart")
    assert response.status_code == 403
    assert "Your role (reviewer) cannot do this" in response.json()["detail"]
