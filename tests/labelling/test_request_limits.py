"""Request bodies are refused over their endpoint's limit before they are read."""

import io

import pytest
from django.urls import reverse

from tests.factories import UploadBatchFactory, make_image_bytes

MB = 1024 * 1024


class CountingBody(io.RawIOBase):
    """A request body of ``size`` bytes made as it is read, counting what was read."""

    def __init__(self, size: int):
        self.size = size
        self.read_bytes = 0

    def readable(self):
        return True

    def read(self, n=-1):
        left = self.size - self.read_bytes
        n = left if n is None or n < 0 else min(n, left)
        self.read_bytes += n
        return b"x" * n

    def readline(self, size=-1):
        return self.read(size if size and size > 0 else 65536)


def _post_declared(client, url, size, content_type):
    body = CountingBody(size)
    response = client.generic(
        "POST",
        url,
        b"",
        content_type=content_type,
        CONTENT_LENGTH=str(size),
        **{"wsgi.input": body},
    )
    return response, body


@pytest.fixture
def urls(world):
    batch = UploadBatchFactory(client=world.client_a)
    return {
        "review_next": reverse("api-review-next", args=["alpha"]),
        "files": reverse("api-batch-files", args=["alpha", batch.pk]),
        "predict": reverse("api-predict"),
    }


@pytest.mark.parametrize("endpoint", ["review_next", "files", "predict"])
def test_a_200_mb_body_is_refused_with_413_without_being_read(
    api_client_for, world, urls, endpoint
):
    client = api_client_for(world.reviewer if endpoint == "review_next" else world.librarian)
    content_type = (
        "application/json" if endpoint == "review_next" else "multipart/form-data; boundary=b"
    )

    response, body = _post_declared(client, urls[endpoint], 200 * MB, content_type)

    assert response.status_code == 413
    assert "at most" in response.json()["detail"] and "200.0 MB" in response.json()["detail"]
    assert body.read_bytes == 0


def test_json_endpoints_have_a_small_limit_and_uploads_a_larger_one(
    api_client_for, world, urls, settings
):
    settings.MAX_REQUEST_BYTES = 100_000
    settings.MAX_UPLOAD_REQUEST_BYTES = 400_000
    photo = _noisy_jpeg(200_000)

    json_response = api_client_for(world.reviewer).post(
        urls["review_next"], data={"padding": "x" * 150_000}, format="json"
    )
    upload = api_client_for(world.librarian).post(
        urls["files"], {"file": io.BytesIO(photo)}, format="multipart"
    )

    assert json_response.status_code == 413
    assert upload.status_code == 201, upload.json()


def test_ten_large_files_in_one_request_are_refused_before_any_is_read(
    api_client_for, world, urls, settings
):
    settings.MAX_UPLOAD_REQUEST_BYTES = 1 * MB
    files = [io.BytesIO(_noisy_jpeg(200_000)) for _ in range(10)]

    response = api_client_for(world.librarian).post(
        urls["files"], {"file": files}, format="multipart"
    )

    assert response.status_code == 413
    assert "several requests" in response.json()["detail"]
    assert not world.client_a.images.exists()


def test_more_files_than_allowed_in_one_request_are_refused_with_a_message(
    api_client_for, world, urls, settings
):
    settings.DATA_UPLOAD_MAX_NUMBER_FILES = 3
    files = [io.BytesIO(make_image_bytes(color=(i, 0, 0))) for i in range(4)]

    response = api_client_for(world.librarian).post(
        urls["files"], {"file": files}, format="multipart"
    )

    assert response.status_code == 400
    assert "At most 3 files per request" in response.json()["detail"]
    assert not world.client_a.images.exists()


def test_a_page_form_over_the_limit_gets_a_plain_413(client, world, settings):
    settings.MAX_REQUEST_BYTES = 1000
    client.force_login(world.librarian)

    response = client.post(reverse("switch-client"), {"client": "x" * 5000})

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/plain")


def test_a_content_length_that_is_not_a_number_is_a_400(api_client_for, world, urls):
    response = api_client_for(world.reviewer).generic(
        "POST", urls["review_next"], b"{}", content_type="application/json", CONTENT_LENGTH="lots"
    )

    assert response.status_code == 400
    assert "Content-Length" in response.json()["detail"]


def _noisy_jpeg(at_least: int) -> bytes:
    from PIL import Image as PILImage

    side = 256
    while True:
        buffer = io.BytesIO()
        PILImage.effect_noise((side, side), 80).convert("RGB").save(buffer, "JPEG", quality=95)
        if len(buffer.getvalue()) >= at_least:
            return buffer.getvalue()
        side *= 2
