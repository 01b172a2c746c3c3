"""The OpenAPI schema builds cleanly, and the schema and docs pages answer."""

import os

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from labelling.api import catalogue, library
from tests import factories


@pytest.fixture(autouse=True)
def _clean_generator_stats():
    # drf-spectacular counts warnings in a module-wide object; start and end each test clean.
    GENERATOR_STATS.reset()
    yield
    GENERATOR_STATS.reset()


def test_the_catalogue_and_library_views_document_without_warnings():
    patterns = [*catalogue.urlpatterns, *library.urlpatterns]
    schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
    assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)
    assert {
        "/clients/",
        "/clients/{slug}/",
        "/clients/{client_slug}/label-names/",
        "/clients/{client_slug}/label-names/{id}/",
        "/clients/{client_slug}/images/",
        "/clients/{client_slug}/images/{id}/",
        "/sectors/{id}/",
        "/taxonomies/{id}/",
        "/labels/{id}/retire/",
    } <= set(schema["paths"])


def test_the_whole_schema_validates_and_fails_on_no_warning():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)


def test_the_image_filters_are_documented():
    schema = SchemaGenerator(patterns=library.urlpatterns).get_schema(request=None, public=True)
    parameters = schema["paths"]["/clients/{client_slug}/images/"]["get"]["parameters"]
    names = {parameter["name"] for parameter in parameters}
    assert {
        "client_slug",
        "status",
        "batch",
        "label",
        "uploaded_by",
        "min_probability",
        "created_after",
        "created_before",
        "ordering",
    } <= names


@pytest.mark.django_db
def test_the_schema_endpoint_answers(api_client_for):
    response = api_client_for(factories.UserFactory()).get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/clients/{client_slug}/images/" in response.content


@pytest.mark.django_db
def test_the_docs_page_answers(client):
    response = client.get("/api/v1/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
