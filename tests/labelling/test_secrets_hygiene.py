"""Stored files are their owner's only; password reset sends its mail."""

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests import factories


def test_stored_files_and_their_folders_are_readable_by_their_owner_only(_media_in_tmp):
    name = default_storage.save("originals/ab/photo.jpg", ContentFile(b"\xff\xd8data"))
    path = _media_in_tmp / name
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_password_reset_sends_a_mail_with_a_link(db, client, mailoutbox):
    factories.UserFactory(username="dora", email="dora@example.org")
    response = client.post("/accounts/password_reset/", {"email": "dora@example.org"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["dora@example.org"]
    assert "/accounts/reset/" in mailoutbox[0].body


def test_the_login_page_links_to_password_reset(db, client):
    assert b'href="/accounts/password_reset/"' in client.get("/accounts/login/").content
