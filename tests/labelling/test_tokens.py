"""API tokens: stored hashed, expiring, revocable by their owner on the tokens page; wrong
keys throttled per address; the command that makes one; old plaintext tokens migrated."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from labelling.models import ApiToken
from labelling.models.tokens import token_digest
from labelling.services.tokens import token_create

SECTORS = "/api/v1/sectors/"


def api_with(key):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_a_token_is_stored_as_a_digest_and_works(world):
    made = token_create(user=world.librarian, name="sync script")
    row = ApiToken.objects.get()
    assert made.key.startswith("tx_") and len(made.key) > 40
    assert row.digest == token_digest(made.key)
    assert made.key not in {row.digest, row.shown, row.name}
    assert made.key.startswith(row.shown)
    assert api_with(made.key).get(SECTORS).status_code == 200
    row.refresh_from_db()
    assert row.last_used_at is not None
    # Bearer works as well as Token.
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {made.key}")
    assert api.get(SECTORS).status_code == 200


def test_expired_revoked_or_wrong_tokens_are_refused(world):
    expired = token_create(user=world.librarian, name="old")
    ApiToken.objects.filter(pk=expired.token.pk).update(expires_at=timezone.now())
    revoked = token_create(user=world.librarian, name="gone")
    revoked.token.revoke()
    for key in [expired.key, revoked.key, "tx_not-a-token", "\u00e9t\u00e9"]:
        response = api_with(key).get(SECTORS)
        assert response.status_code == 401, key
        assert response["WWW-Authenticate"] == "Token"


def test_an_inactive_users_token_is_refused(world):
    made = token_create(user=world.librarian, name="x")
    world.librarian.is_active = False
    world.librarian.save()
    assert api_with(made.key).get(SECTORS).status_code == 401


def test_token_guessing_is_throttled_per_address_even_for_the_right_key(world, throttle_rates):
    throttle_rates(token="3/min")
    good = token_create(user=world.librarian, name="x").key
    assert api_with(good).get(SECTORS).status_code == 200  # right keys do not count
    for _ in range(3):
        assert api_with("tx_guess").get(SECTORS).status_code == 401
    response = api_with(good).get(SECTORS)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    # Another address is not held back.
    assert api_with(good).get(SECTORS, REMOTE_ADDR="10.1.2.3").status_code == 200


def test_a_user_makes_names_sees_and_revokes_their_own_tokens(world, client):
    client.force_login(world.librarian)
    response = client.post(reverse("tokens"), {"name": "nightly export", "expires_in_days": 30})
    assert response.status_code == 201
    key = response.context["new_key"]
    assert key.encode() in response.content
    token = ApiToken.objects.get(user=world.librarian)
    assert token.name == "nightly export"
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    api_with(key).get(SECTORS)
    page = client.get(reverse("tokens"))
    assert b"nightly export" in page.content and key.encode() not in page.content
    assert b"never" not in page.content  # last use is shown
    assert client.post(reverse("token-revoke", args=[token.pk])).status_code == 302
    assert api_with(key).get(SECTORS).status_code == 401
    assert b"revoked" in client.get(reverse("tokens")).content


def test_a_user_cannot_see_or_revoke_another_users_token(world, client):
    other = token_create(user=world.outsider, name="charlie's")
    client.force_login(world.librarian)
    assert b"charlie" not in client.get(reverse("tokens")).content
    assert client.post(reverse("token-revoke", args=[other.token.pk])).status_code == 404
    assert api_with(other.key).get(SECTORS).status_code == 200


@pytest.mark.parametrize(
    "data", [{"name": "", "expires_in_days": 30}, {"name": "x", "expires_in_days": 9999}]
)
def test_a_bad_token_form_is_a_400_and_makes_nothing(world, client, data):
    client.force_login(world.librarian)
    assert client.post(reverse("tokens"), data).status_code == 400
    assert not ApiToken.objects.exists()


def test_the_tokens_page_needs_a_login(db, client):
    assert client.get(reverse("tokens")).status_code == 302


def test_the_command_prints_a_working_key(world):
    out = StringIO()
    call_command(
        "create_api_token", "bob", "--name", "cli", "--days", "7", stdout=out, stderr=StringIO()
    )
    key = out.getvalue().strip()
    assert api_with(key).get(SECTORS).status_code == 200
    assert ApiToken.objects.get().name == "cli"


def test_the_migration_hashes_old_plaintext_tokens_and_drops_their_table(transactional_db):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("labelling", "0004_review_queue")])
    user = get_user_model().objects.create(username="legacy")
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp, "
            "user_id integer)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            ["0123456789abcdef0123456789abcdef01234567", timezone.now(), user.pk],
        )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert "authtoken_token" not in connection.introspection.table_names()
    assert api_with("0123456789abcdef0123456789abcdef01234567").get(SECTORS).status_code == 200
