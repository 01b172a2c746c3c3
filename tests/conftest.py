"""Shared fixtures: a temporary media root for every test, and the three personas every
endpoint is tested with: the owner (an admin of client A), a member of client A with a
narrower role, and an outsider (an admin of client B in the same sector)."""

import uuid
from types import SimpleNamespace

import pytest

from labelling.models import Role
from tests import factories


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The real hasher is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    return media


@pytest.fixture(autouse=True)
def _cache_of_its_own(settings):
    # Throttle counters live in the cache: a key prefix per test keeps one test's requests
    # from counting against the next (without flushing a Redis database others may use).
    settings.CACHES = {
        "default": {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    }


@pytest.fixture
def throttle_rates(monkeypatch):
    """throttle_rates(login="2/min", ...) → those scopes' rates for this test. DRF reads the
    rates once, into a class attribute, so settings overrides would not reach it."""
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(**rates):
        monkeypatch.setattr(
            SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates}
        )

    return set_rates


@pytest.fixture
def world(db):
    """One sector with a three-label taxonomy, two clients in it, and their people."""
    sector = factories.SectorFactory(name="Universities", slug="universities")
    taxonomy = factories.TaxonomyFactory(sector=sector, name="Campus life")
    smiling = factories.LabelFactory(taxonomy=taxonomy, key="smiling", name="Smiling")
    not_smiling = factories.LabelFactory(taxonomy=taxonomy, key="not_smiling", name="Not smiling")
    building = factories.LabelFactory(taxonomy=taxonomy, key="building", name="Building")
    client_a = factories.ClientFactory(name="Alpha University", slug="alpha", sector=sector)
    client_b = factories.ClientFactory(name="Beta College", slug="beta", sector=sector)
    people = {}
    for username, client, role in [
        ("alice", client_a, Role.ADMIN),
        ("bob", client_a, Role.LIBRARIAN),
        ("rita", client_a, Role.REVIEWER),
        ("charlie", client_b, Role.ADMIN),
    ]:
        user = factories.UserFactory(username=username)
        factories.MembershipFactory(user=user, client=client, role=role)
        people[username] = user
    return SimpleNamespace(
        sector=sector,
        taxonomy=taxonomy,
        labels=SimpleNamespace(smiling=smiling, not_smiling=not_smiling, building=building),
        client_a=client_a,
        client_b=client_b,
        owner=people["alice"],
        librarian=people["bob"],
        reviewer=people["rita"],
        outsider=people["charlie"],
    )


@pytest.fixture
def api_client_for():
    """api_client_for(user) → a DRF APIClient authenticated as that user by token."""
    from django.utils import timezone
    from rest_framework.test import APIClient

    from labelling.models import ApiToken
    from labelling.services.tokens import token_create

    keys = {}

    def make(user):
        client = APIClient()
        if user is not None:
            if user.pk not in keys:
                made = token_create(user=user, name="tests")
                # As if used a moment ago: "last used" is written at most once a minute,
                # which would make the first request's query count differ from the next.
                ApiToken.objects.filter(pk=made.token.pk).update(last_used_at=timezone.now())
                keys[user.pk] = made.key
            client.credentials(HTTP_AUTHORIZATION=f"Token {keys[user.pk]}")
        return client

    return make


def pytest_collection_modifyitems(config, items):
    """Tests of the pure ML modules (under tests/training, using no database) are marked
    "ml": they touch neither database nor broker, so CI runs them once, not per set-up."""
    for item in items:
        path = str(item.path)
        uses_db = item.get_closest_marker("django_db") or {
            "db",
            "transactional_db",
            "live_server",
        } & set(getattr(item, "fixturenames", ()))
        if "/tests/training/" in path and not uses_db:
            item.add_marker(pytest.mark.ml)

    # The API fuzzer takes minutes: it runs when asked for (-m fuzz), as CI's own step does.
    if "fuzz" not in (config.getoption("-m") or ""):
        skip = pytest.mark.skip(reason="the API fuzzer runs on its own: pytest -m fuzz")
        for item in items:
            if item.get_closest_marker("fuzz"):
                item.add_marker(skip)
