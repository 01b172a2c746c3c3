"""The server-rendered pages, through Django's test client: home, client switcher, health."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from labelling import health
from labelling.models import Role, WorkerHeartbeat
from labelling.tasks import worker_heartbeat
from labelling.tenancy import SESSION_KEY
from tests import factories


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def logged_in(client, user):
    client.force_login(user)
    return client


def home_role(response) -> str:
    """The data-role-home attribute of the page's heading."""
    html = response.content.decode()
    marker = 'data-role-home="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


class TestHome:
    def test_it_sends_anonymous_visitors_to_log_in(self, client, db):
        response = client.get("/")

        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/"

    @pytest.mark.parametrize(
        ("persona", "template", "role"),
        [
            ("owner", "labelling/home_admin.html", "admin"),
            ("librarian", "labelling/home_librarian.html", "librarian"),
            ("reviewer", "labelling/home_reviewer.html", "reviewer"),
        ],
    )
    def test_each_role_gets_its_own_home(self, client, world, persona, template, role):
        response = logged_in(client, getattr(world, persona)).get("/")

        assert response.status_code == 200
        assert template in [t.name for t in response.templates]
        assert home_role(response) == role
        assert "Alpha University" in response.content.decode()

    def test_it_counts_only_the_current_clients_images(self, client, world):
        factories.ImageFactory(client=world.client_a, status="needs_review")
        factories.ImageFactory(client=world.client_b, status="needs_review")

        response = logged_in(client, world.reviewer).get("/")

        assert response.context["counts"]["total"] == 1
        assert response.context["counts"]["needs_review"] == 1

    def test_the_counts_show_what_the_model_did_and_what_was_rejected(self, client, world):
        for status, n in (("auto_tagged", 3), ("needs_review", 2), ("rejected", 1)):
            for _ in range(n):
                factories.ImageFactory(client=world.client_a, status=status)

        response = logged_in(client, world.owner).get("/")

        html = response.content.decode()
        assert 'data-count="auto_tagged">3<' in html and "Tagged by the model" in html
        assert 'data-count="rejected">1<' in html and 'data-count="needs_review">2<' in html
        assert response.context["counts"]["total"] == 6

    def test_recent_batches_say_what_happened_and_link_to_the_batch(self, client, world):
        batch = factories.UploadBatchFactory(client=world.client_a, created_by=world.librarian)
        for status, n in (("auto_tagged", 4), ("verified", 1), ("needs_review", 3)):
            for _ in range(n):
                factories.ImageFactory(client=world.client_a, batch=batch, status=status)
        empty = factories.UploadBatchFactory(client=world.client_a)

        html = logged_in(client, world.librarian).get("/").content.decode()

        item = re.search(rf'<li><a href="/clients/alpha/library/\?batch={batch.pk}">.*?</li>', html)
        assert item, html
        assert "5 tagged (4 by the model), 3 to review" in item.group(0)
        assert f"?batch={empty.pk}" in html and "no images" in html

    def test_a_user_without_a_client_is_welcomed_not_refused(self, client, db):
        response = logged_in(client, factories.UserFactory()).get("/")

        assert response.status_code == 200
        assert home_role(response) == "none"
        assert "not a member of any client" in response.content.decode()

    def test_the_login_page_renders(self, client, db):
        response = client.get("/accounts/login/")

        assert response.status_code == 200
        assert 'name="username"' in response.content.decode()


class TestClientSwitcher:
    def test_a_member_of_two_clients_sees_the_switcher_and_can_switch(self, client, world):
        factories.MembershipFactory(user=world.librarian, client=world.client_b, role=Role.REVIEWER)
        logged_in(client, world.librarian)
        assert 'id="client-select"' in client.get("/").content.decode()

        response = client.post(
            "/switch-client/", {"client": world.client_b.pk, "next": "/"}, follow=True
        )

        assert response.redirect_chain == [("/", 302)]
        assert client.session[SESSION_KEY] == world.client_b.pk
        assert home_role(response) == "reviewer"
        assert response.context["current_client"] == world.client_b

    def test_it_ignores_a_client_the_user_is_not_a_member_of(self, client, world):
        logged_in(client, world.librarian)

        response = client.post("/switch-client/", {"client": world.client_b.pk}, follow=True)

        assert SESSION_KEY not in client.session
        assert response.context["current_client"] == world.client_a
        assert home_role(response) == "librarian"
        assert "Beta College" not in response.content.decode()

    def test_a_forged_choice_keeps_the_previous_one(self, client, world):
        gamma = factories.ClientFactory(name="Gamma School", sector=world.sector)
        factories.MembershipFactory(user=world.librarian, client=gamma, role=Role.ADMIN)
        logged_in(client, world.librarian)
        client.post("/switch-client/", {"client": gamma.pk})

        client.post("/switch-client/", {"client": world.client_b.pk})

        assert client.session[SESSION_KEY] == gamma.pk
        assert client.get("/").context["current_client"] == gamma

    def test_it_does_not_redirect_off_site(self, client, world):
        logged_in(client, world.librarian)

        response = client.post(
            "/switch-client/", {"client": world.client_a.pk, "next": "https://evil.example/"}
        )

        assert response["Location"] == "/"

    def test_it_only_accepts_post(self, client, world):
        response = logged_in(client, world.librarian).get("/switch-client/")

        assert response.status_code == 405

    def test_a_single_client_member_has_no_switcher(self, client, world):
        response = logged_in(client, world.librarian).get("/")

        assert 'id="client-select"' not in response.content.decode()


class TestHealth:
    def test_it_fails_the_worker_check_until_a_worker_reports(self, admin_client):
        response = admin_client.get("/health/?format=json")

        assert response.status_code == 503
        payload = response.json()
        assert payload["healthy"] is False
        assert set(payload["checks"]) == {"database", "broker", "worker", "storage"}
        assert payload["checks"]["worker"] == {
            "ok": False,
            "detail": "no worker has reported yet",
        }
        assert payload["checks"]["database"]["ok"] is True
        assert payload["checks"]["storage"]["ok"] is True

    def test_it_is_healthy_once_the_heartbeat_task_ran(self, client, db):
        worker_heartbeat()

        response = client.get("/health/?format=json")

        payload = response.json()
        assert payload["checks"]["worker"]["ok"] is True, payload
        # The broker is whatever this machine is configured with (filesystem or Redis).
        assert all(check["ok"] for check in payload["checks"].values()), payload
        assert payload["healthy"] is True
        assert response.status_code == 200

    def test_a_stale_heartbeat_fails(self, admin_client, settings):
        WorkerHeartbeat.objects.create(
            hostname="worker-1",
            seen_at=timezone.now()
            - timedelta(seconds=4 * settings.CELERY_WORKER_HEARTBEAT_SECONDS),
        )

        payload = admin_client.get("/health/?format=json").json()

        assert payload["checks"]["worker"]["ok"] is False
        assert "worker-1" in payload["checks"]["worker"]["detail"]

    def test_a_failing_storage_makes_it_unhealthy(self, admin_client, monkeypatch):
        worker_heartbeat()

        def broken_save(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr(health.default_storage, "save", broken_save)

        response = admin_client.get("/health/?format=json")

        assert response.status_code == 503
        assert response.json()["checks"]["storage"] == {
            "ok": False,
            "detail": "OSError: disk full",
        }

    def test_others_see_which_parts_are_ok_but_no_details(self, client, world, monkeypatch):
        WorkerHeartbeat.objects.create(hostname="secret-host-7", seen_at=timezone.now())
        monkeypatch.setattr(
            health.default_storage, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("/srv"))
        )
        for who in [None, world.owner]:
            if who is not None:
                client.force_login(who)
            payload = client.get("/health/?format=json").json()
            assert payload["checks"]["storage"] == {"ok": False}
            assert payload["checks"]["worker"] == {"ok": True}
            html = client.get("/health/").content.decode()
            assert "secret-host-7" not in html and "/srv" not in html
            assert 'data-check="storage"' in html

    def test_the_html_page_lists_every_check_without_logging_in(self, client, db):
        response = client.get("/health/")

        assert response.status_code == 503
        html = response.content.decode()
        for name in ["database", "broker", "worker", "storage"]:
            assert f'data-check="{name}"' in html
        assert "attention needed" in html

    def test_the_html_page_says_all_is_well(self, client, db):
        worker_heartbeat()

        response = client.get("/health/")

        assert response.status_code == 200
        assert "all well" in response.content.decode()
