"""Schemathesis over the OpenAPI schema, authenticated as an admin of a client who is also
site staff: no request it makes may get a server error, a response its schema does not
describe, or a status code the schema does not name. Bounded: FUZZ_EXAMPLES examples per
operation (CI runs this module as a step of its own)."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests import factories

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]


@pytest.fixture(scope="session")
def api_schema(django_db_setup, django_db_blocker):
    from django.core.wsgi import get_wsgi_application

    with django_db_blocker.unblock():
        return schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture
def fuzz_key(world, throttle_rates):
    """A token of client A's admin (site staff too, to reach the staff-only writes), some
    images to find, and no throttling (its 429s would hide what lies behind)."""
    from labelling.services.tokens import token_create

    throttle_rates(**{scope: None for scope in ["login", "token", "upload", "training"]})
    throttle_rates(prediction=None, anon=None, user=None)
    world.owner.is_staff = True
    world.owner.save(update_fields=["is_staff"])
    batch = factories.UploadBatchFactory(client=world.client_a, created_by=world.librarian)
    for _ in range(3):
        factories.ImageFactory(client=world.client_a, batch=batch)
    return token_create(user=world.owner, name="fuzz").key


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.fuzz
@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_every_request_as_its_schema_says(case, fuzz_key):
    if "client_slug" in (case.path_parameters or {}):
        case.path_parameters["client_slug"] = "alpha"  # past the 404, into the views
    response = case.call(headers={"Authorization": f"Token {fuzz_key}"})
    case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("body", ["[null, null]", '"x"', "null", "3"])
def test_a_json_body_that_is_not_an_object_is_a_400(world, api_client_for, body):
    # Found by the fuzzer: a JSON list sent to predict was a 500.
    api = api_client_for(world.owner)
    response = api.post("/api/v1/predict/", body, content_type="application/json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/api/v1/clients/alpha/batches/null/", "/api/v1/no-such-thing/"])
def test_an_api_path_that_matches_no_route_is_a_json_404(world, api_client_for, path):
    response = api_client_for(world.owner).get(path)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_a_body_django_refuses_before_any_view_is_a_json_400_on_the_api(world, api_client_for):
    fields = "&".join(f"f{i}=1" for i in range(1500))  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    api = api_client_for(world.owner)
    response = api.post(
        "/api/v1/clients/alpha/review/release/",
        fields,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"


def test_the_schema_documents_the_error_answers_of_every_operation():
    from drf_spectacular.generators import SchemaGenerator

    doc = SchemaGenerator().get_schema(request=None, public=True)
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert {"401", "403", "404", "429"} <= set(operation["responses"]), (method, path)
            retry = operation["responses"]["429"]["headers"]["Retry-After"]
            assert retry["required"] is True
