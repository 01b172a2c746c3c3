"""Throttling: login forms, tokens, uploads, training runs, predictions and the anon/user
rates answer 429 with Retry-After once over their rate (rates made tiny here)."""

import pytest
from django.urls import reverse

from tests import factories


def assert_throttled(response):
    assert response.status_code == 429, response.content[:300]
    assert int(response["Retry-After"]) >= 1


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_login_attempts_for_one_account_are_throttled(client, throttle_rates, path):
    throttle_rates(login="3/min")
    user = factories.UserFactory(username="dora", is_staff=True)
    user.set_password("right-password-1")
    user.save()
    for _ in range(3):
        response = client.post(path, {"username": "dora", "password": "wrong"})
        assert response.status_code == 200  # the form again, with its error
    # Over the rate even the right password waits, and from another address too.
    response = client.post(
        path, {"username": "Dora", "password": "right-password-1"}, REMOTE_ADDR="10.9.9.9"
    )
    assert_throttled(response)
    assert b"Too many" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_login_attempts_from_one_address_are_throttled_whatever_the_account(client, throttle_rates):
    throttle_rates(login="2/min")
    for name in ["a1", "a2"]:
        assert client.post("/accounts/login/", {"username": name, "password": "x"}).status_code
    response = client.post("/accounts/login/", {"username": "a3", "password": "x"})
    assert_throttled(response)


@pytest.mark.django_db
def test_a_login_under_the_rate_works(client, throttle_rates):
    throttle_rates(login="3/min")
    user = factories.UserFactory(username="erin")
    user.set_password("right-password-1")
    user.save()
    response = client.post("/accounts/login/", {"username": "erin", "password": "right-password-1"})
    assert response.status_code == 302
    assert client.get("/accounts/login/").status_code == 200  # reading the form is free


def test_uploads_are_throttled_per_user_but_reads_are_not(world, api_client_for, throttle_rates):
    throttle_rates(upload="2/min")
    api = api_client_for(world.librarian)
    batch = factories.UploadBatchFactory(client=world.client_a, created_by=world.librarian)
    url = reverse("api-batch-files", args=["alpha", batch.pk])
    for _ in range(2):
        assert api.post(url, {}, format="multipart").status_code == 400  # no files
    assert_throttled(api.post(url, {}, format="multipart"))
    assert api.get(reverse("api-batch-detail", args=["alpha", batch.pk])).status_code == 200
    # Another user has a count of their own.
    assert api_client_for(world.owner).post(url, {}, format="multipart").status_code == 400


def test_training_runs_are_throttled_in_the_api_and_on_the_page(
    world, api_client_for, throttle_rates, monkeypatch, client
):
    from training import tasks

    queued_runs = []
    monkeypatch.setattr(tasks.train, "delay", queued_runs.append)
    throttle_rates(training="1/min")
    api = api_client_for(world.owner)
    url = reverse("api-training-runs", args=["alpha"])
    assert api.post(url, {"mode": "nonsense"}, format="json").status_code == 400
    assert_throttled(api.post(url, {"mode": "heads"}, format="json"))
    assert api.get(url).status_code == 200
    # The training form shares the count.
    client.force_login(world.owner)
    assert_throttled(client.post(reverse("models-train", args=["alpha"]), {"mode": "heads"}))
    assert queued_runs == []


def test_predictions_are_throttled(world, api_client_for, throttle_rates):
    throttle_rates(prediction="1/min")
    api = api_client_for(world.owner)
    url = reverse("api-predict")
    assert api.post(url, {}, format="json").status_code == 400
    response = api.post(url, {}, format="json")
    assert_throttled(response)
    assert "throttled" in response.json()["detail"].lower()


def test_anonymous_api_callers_are_throttled(db, client, throttle_rates):
    throttle_rates(anon="2/min")
    for _ in range(2):
        assert client.get("/api/v1/schema/").status_code == 200
    assert_throttled(client.get("/api/v1/schema/"))


@pytest.mark.django_db
def test_a_busy_file_cache_keeps_the_throttle_counters(client, throttle_rates, settings):
    # Django's file cache culls a third of its entries at random past MAX_ENTRIES (300 by
    # default); the embedded settings raise the bound so counters outlive a busy hour.
    from django.core.cache import cache

    if not settings.CACHES["default"]["BACKEND"].endswith("FileBasedCache"):
        pytest.skip("the file cache's culling only")
    throttle_rates(login="2/min")
    for name in ["b1", "b2"]:
        client.post("/accounts/login/", {"username": name, "password": "x"})
    for i in range(1000):  # other visitors' counters, sessions, ...
        cache.set(f"other-{i}", i)
    assert_throttled(client.post("/accounts/login/", {"username": "b3", "password": "x"}))
