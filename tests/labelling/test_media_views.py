"""Image files and thumbnails are served after a permission check, never sniffed."""

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

from labelling.services import ingest, uploads
from tests import factories
from tests.factories import make_image_bytes

PNG = make_image_bytes(size=(640, 480), fmt="PNG")


@pytest.fixture
def image(world, monkeypatch):
    monkeypatch.setattr(uploads, "enqueue_ingest", lambda ids: None)
    batch = factories.UploadBatchFactory(client=world.client_a)
    # A PNG whose name says JPEG: the server's type is the one Pillow found.
    [outcome] = uploads.batch_files_upload(
        batch=batch, user=world.librarian, files=[ContentFile(PNG, name="Campus “day”.jpg")]
    )
    return outcome.image


def file_url(image, slug="alpha"):
    return reverse("image-file", args=[slug, image.pk])


def thumbnail_url(image, slug="alpha"):
    return reverse("image-thumbnail", args=[slug, image.pk])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


@pytest.mark.parametrize("persona", ["owner", "librarian", "reviewer"])
def test_members_read_the_original_with_a_server_set_type(client, world, image, persona):
    client.force_login(getattr(world, persona))

    response = client.get(file_url(image))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    assert response["Content-Disposition"].startswith("inline;")
    assert body(response) == PNG


def test_the_original_is_downloaded_under_its_name_with_the_verified_extension(
    client, world, image
):
    client.force_login(world.librarian)

    response = client.get(file_url(image) + "?download=1")

    assert response["Content-Disposition"].startswith("attachment;")
    # Uploaded as "Campus “day”.jpg" but a PNG: served as .png.
    assert "filename*=utf-8''Campus%20%E2%80%9Cday%E2%80%9D.png" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "uploaded, served",
    [
        ("invoice.html", "invoice.jpg"),
        ("report.pdf.svg", "report.pdf.jpg"),
        (".htaccess", "htaccess.jpg"),
        (".html", "html.jpg"),
        ("photo", "photo.jpg"),
    ],
)
def test_a_jpeg_named_as_a_web_page_downloads_as_a_jpeg(
    client, world, monkeypatch, uploaded, served
):
    monkeypatch.setattr(uploads, "enqueue_ingest", lambda ids: None)
    batch = factories.UploadBatchFactory(client=world.client_a)
    [outcome] = uploads.batch_files_upload(
        batch=batch, user=world.librarian, files=[ContentFile(make_image_bytes(), name=uploaded)]
    )
    client.force_login(world.librarian)

    response = client.get(file_url(outcome.image) + "?download")

    assert response["Content-Disposition"] == f'attachment; filename="{served}"'
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_thumbnail_is_served_once_made(client, world, image):
    client.force_login(world.reviewer)
    assert client.get(thumbnail_url(image)).status_code == 404  # not made yet

    ingest.images_ingest(image_ids=[image.pk])
    response = client.get(thumbnail_url(image))

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert body(response)[:3] == b"\xff\xd8\xff"


def test_an_outsider_cannot_read_another_clients_image_or_thumbnail(client, world, image):
    ingest.images_ingest(image_ids=[image.pk])
    client.force_login(world.outsider)

    for url in (file_url(image), thumbnail_url(image)):
        assert client.get(url).status_code == 404
    # Nor by putting the image id under their own client.
    for url in (file_url(image, "beta"), thumbnail_url(image, "beta")):
        assert client.get(url).status_code == 404


def test_strangers_are_sent_to_log_in(client, image):
    response = client.get(file_url(image))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_an_unchanged_file_is_not_sent_again(client, world, image):
    client.force_login(world.librarian)
    etag = client.get(file_url(image))["ETag"]

    response = client.get(file_url(image), headers={"if-none-match": etag})

    assert response.status_code == 304
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_file_missing_from_storage_is_a_404(client, world, image):
    from django.core.files.storage import default_storage

    default_storage.delete(image.file.name)
    client.force_login(world.librarian)

    assert client.get(file_url(image)).status_code == 404


def test_only_reads_are_allowed(client, world, image):
    client.force_login(world.owner)

    assert client.post(file_url(image)).status_code == 405
