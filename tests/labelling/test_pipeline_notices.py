"""Librarians and admins are told, on every page, when no worker runs or images wait."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from labelling.models import Image, ImageStatus, WorkerHeartbeat
from tests import factories

NO_WORKER = "No worker has been seen"
WAITING = "waited over"


def _heartbeat(seconds_ago: int) -> None:
    WorkerHeartbeat.objects.create(
        hostname="ingest@host", seen_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def _home(client, user) -> str:
    client.force_login(user)
    return client.get(reverse("home"), follow=True).content.decode()


def test_the_librarian_is_told_when_no_worker_was_ever_seen(client, world):
    page = _home(client, world.librarian)
    assert NO_WORKER in page and "/health/" in page


def test_the_admin_is_told_when_the_worker_went_silent(client, world):
    _heartbeat(seconds_ago=600)
    assert NO_WORKER in _home(client, world.owner)


def test_no_banner_while_a_worker_reports_and_nothing_waits(client, world):
    _heartbeat(seconds_ago=5)
    page = _home(client, world.librarian)
    assert NO_WORKER not in page and WAITING not in page


def test_images_waiting_too_long_are_counted_for_their_own_client_only(client, world):
    _heartbeat(seconds_ago=5)
    old = timezone.now() - timedelta(minutes=30)
    for owner in (world.client_a, world.client_a, world.client_b):
        image = factories.ImageFactory(client=owner, status=ImageStatus.UPLOADED)
        Image.objects.filter(pk=image.pk).update(created_at=old)
    factories.ImageFactory(client=world.client_a, status=ImageStatus.UPLOADED)  # just arrived
    page = _home(client, world.librarian)
    assert "2 images have waited over 10 minutes" in page


def test_reviewers_are_not_shown_the_banner(client, world):
    assert NO_WORKER not in _home(client, world.reviewer)
