"""Upload batches over the API: create, post files, poll; refusals, duplicates, tenancy."""

import io
import uuid

import pytest
from django.urls import reverse
from PIL import Image as PILImage
from PIL import PngImagePlugin

from labelling import storage_names
from labelling.models import Image, ImageStatus, UploadBatch
from labelling.services import uploads
from tests import factories
from tests.factories import make_image_bytes


@pytest.fixture
def queued(monkeypatch):
    """The image ids handed to the ingest task, instead of a broker."""
    calls: list[list[int]] = []
    monkeypatch.setattr(uploads, "enqueue_ingest", lambda ids: calls.append(list(ids)))
    return calls


@pytest.fixture
def stored_files(_media_in_tmp):
    def files():
        return sorted(p for p in _media_in_tmp.rglob("*") if p.is_file())

    return files


def multipart(files: list[tuple[str, bytes]], field: str = "file") -> tuple[bytes, str]:
    """A multipart body with the file names exactly as given (Django's test client would
    cut them to their last part)."""
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, data in files:
        body.write(f"--{boundary}\r\n".encode())
        body.write(
            f'Content-Disposition: form-data; name="{field}"; filename="{name}"\r\n'.encode()
        )
        body.write(b"Content-Type: application/octet-stream\r\n\r\n")
        body.write(data)
        body.write(b"\r\n")
    body.write(f"--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


def batches_url(client_slug="alpha"):
    return reverse("api-batches", args=[client_slug])


def files_url(batch, client_slug="alpha"):
    return reverse("api-batch-files", args=[client_slug, batch.pk])


def post_files(api, batch, files, client_slug="alpha", django_capture_on_commit_callbacks=None):
    body, content_type = multipart(files)
    return api.generic("POST", files_url(batch, client_slug), body, content_type=content_type)


@pytest.fixture
def batch(world):
    return factories.UploadBatchFactory(client=world.client_a, created_by=world.librarian)


@pytest.fixture
def librarian_api(world, api_client_for):
    return api_client_for(world.librarian)


# --- batches ------------------------------------------------------------------------------


def test_a_librarian_creates_a_batch(world, librarian_api):
    response = librarian_api.post(batches_url(), {"name": "Open day"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    batch = UploadBatch.objects.get(pk=body["id"])
    assert (batch.client, batch.created_by, batch.name) == (
        world.client_a,
        world.librarian,
        "Open day",
    )
    assert body["files_url"] == files_url(batch)
    assert body["counts"]["images"]["total"] == 0


def test_a_batch_without_a_name_gets_one(librarian_api):
    response = librarian_api.post(batches_url(), {}, format="json")

    assert response.status_code == 201
    assert response.json()["name"].startswith("Upload ")


def test_a_reviewer_cannot_create_a_batch_or_upload(world, api_client_for, batch):
    api = api_client_for(world.reviewer)

    assert api.post(batches_url(), {"name": "x"}, format="json").status_code == 403
    assert post_files(api, batch, [("a.jpg", make_image_bytes())]).status_code == 403
    assert api.get(batches_url()).status_code == 200  # members read
    assert not Image.objects.exists()


def test_an_outsider_gets_404_everywhere(world, api_client_for, batch):
    api = api_client_for(world.outsider)

    assert api.get(batches_url()).status_code == 404
    assert api.post(batches_url(), {"name": "x"}, format="json").status_code == 404
    assert api.get(reverse("api-batch-detail", args=["alpha", batch.pk])).status_code == 404
    assert post_files(api, batch, [("a.jpg", make_image_bytes())]).status_code == 404
    # Nor through their own client's URL.
    assert api.get(reverse("api-batch-detail", args=["beta", batch.pk])).status_code == 404
    response = post_files(api, batch, [("a.jpg", make_image_bytes())], client_slug="beta")
    assert response.status_code == 404
    assert not Image.objects.exists()


def test_strangers_must_log_in(batch, api_client_for):
    api = api_client_for(None)

    assert api.get(batches_url()).status_code == 401
    assert post_files(api, batch, [("a.jpg", make_image_bytes())]).status_code == 401


def test_batches_are_listed_newest_first_for_members_only(world, librarian_api, batch):
    factories.UploadBatchFactory(client=world.client_b)
    newer = factories.UploadBatchFactory(client=world.client_a)

    body = librarian_api.get(batches_url()).json()

    assert [row["id"] for row in body["results"]] == [newer.pk, batch.pk]


# --- files --------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_each_allowed_format_is_stored(
    world, librarian_api, batch, queued, stored_files, fmt, django_capture_on_commit_callbacks
):
    data = make_image_bytes(size=(64, 48), fmt=fmt)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(librarian_api, batch, [(f"Photo {fmt}.bin", data)])

    assert response.status_code == 201, response.content
    [result] = response.json()["results"]
    assert result["status"] == "stored"
    image = Image.objects.get(pk=result["image"]["id"])
    assert (image.client, image.batch, image.uploaded_by) == (
        world.client_a,
        batch,
        world.librarian,
    )
    assert (image.format, image.width, image.height, image.size_bytes) == (fmt, 64, 48, len(data))
    assert image.status == ImageStatus.UPLOADED
    assert image.original_name == f"Photo {fmt}.bin"
    # The name on disk is the server's: client id, kind, month, token, the real extension.
    assert image.file.name.startswith(f"clients/{world.client_a.pk}/originals/")
    assert "Photo" not in image.file.name
    assert image.file.name.endswith("." + {"JPEG": "jpg", "TIFF": "tif"}.get(fmt, fmt.lower()))
    assert [p.read_bytes() for p in stored_files()] == [data]
    assert queued == [[image.pk]]
    assert result["image"]["page"] == reverse("image-detail", args=["alpha", image.pk])


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def png_html_polyglot() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", "<html><body><script>alert(1)</script></body></html>")
    buffer = io.BytesIO()
    PILImage.new("RGB", (16, 16)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    buffer = io.BytesIO()
    PILImage.effect_noise((200, 200), 60).convert("RGB").save(buffer, format="JPEG")
    data = buffer.getvalue()
    return data[: len(data) // 2]


def bomb() -> bytes:
    buffer = io.BytesIO()
    PILImage.new("1", (10_000, 10_000)).save(buffer, format="PNG")
    return buffer.getvalue()


REFUSED = [
    ("drawing.svg", svg, "unsupported_format"),
    ("holiday.jpg", lambda: b"<html><body>Not a photo</body></html>", "unsupported_format"),
    ("polyglot.png", png_html_polyglot, "active_content"),
    ("empty.jpg", lambda: b"", "empty_file"),
    ("cut.jpg", truncated_jpeg, "damaged_file"),
    ("bomb.png", bomb, "too_many_pixels"),
    ("../../etc/cron.d/evil.jpg", make_image_bytes, "unsafe_name"),
    ("..\\..\\windows\\evil.jpg", make_image_bytes, "unsafe_name"),
    ("/etc/passwd.jpg", make_image_bytes, "unsafe_name"),
    ("photos/../../evil.jpg", make_image_bytes, "unsafe_name"),
]


@pytest.mark.parametrize(
    ("name", "make", "code"), REFUSED, ids=[r[2] + ":" + r[0] for r in REFUSED]
)
def test_bad_files_are_refused_with_a_reason_and_nothing_is_stored(
    librarian_api, batch, queued, stored_files, name, make, code, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(librarian_api, batch, [(name, make())])

    assert response.status_code == 400, response.content
    [result] = response.json()["results"]
    assert (result["status"], result["code"]) == ("rejected", code)
    assert result["message"] and response.json()["detail"] == result["message"]
    assert not Image.objects.exists()
    assert stored_files() == []
    assert queued == []
    batch.refresh_from_db()
    [entry] = batch.rejections
    assert entry["code"] == code and entry["message"] == result["message"]
    assert "/" not in entry["name"] or code == "unsafe_name"


def test_a_file_over_the_byte_cap_is_refused_before_it_is_read(
    settings, librarian_api, batch, stored_files
):
    settings.MAX_UPLOAD_BYTES = 1000

    response = post_files(librarian_api, batch, [("big.jpg", make_image_bytes(size=(400, 400)))])

    assert response.json()["results"][0]["code"] == "file_too_large"
    assert stored_files() == []


def test_the_same_file_is_stored_once_per_client(
    world, librarian_api, api_client_for, batch, queued, stored_files
):
    data = make_image_bytes(color=(1, 2, 3))
    first = post_files(librarian_api, batch, [("first.jpg", data)]).json()["results"][0]
    other_batch = factories.UploadBatchFactory(client=world.client_a)

    response = post_files(librarian_api, other_batch, [("again.jpg", data)])

    assert response.status_code == 200
    [result] = response.json()["results"]
    assert (result["status"], result["code"]) == ("duplicate", "duplicate")
    assert result["image"]["id"] == first["image"]["id"]
    assert "first.jpg" in result["message"]
    assert Image.objects.count() == 1 and len(stored_files()) == 1
    other_batch.refresh_from_db()
    assert other_batch.rejections[0]["image"] == first["image"]["id"]
    # Another client stores its own copy.
    batch_b = factories.UploadBatchFactory(client=world.client_b)
    outsider = api_client_for(world.outsider)
    response = post_files(outsider, batch_b, [("theirs.jpg", data)], client_slug="beta")
    assert response.json()["results"][0]["status"] == "stored"
    assert Image.objects.count() == 2


def test_a_repeat_within_one_request_points_at_the_first_copy(
    librarian_api, batch, queued, stored_files, django_capture_on_commit_callbacks
):
    data = make_image_bytes(color=(9, 9, 9))
    other = make_image_bytes(color=(90, 9, 9), fmt="PNG")

    with django_capture_on_commit_callbacks(execute=True):
        response = post_files(
            librarian_api,
            batch,
            [("a.jpg", data), ("b.png", other), ("a copy.jpg", data), ("bad.svg", svg())],
        )

    assert response.status_code == 201
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["stored", "stored", "duplicate", "rejected"]
    assert results[2]["image"]["id"] == results[0]["image"]["id"]
    assert len(stored_files()) == 2
    assert queued == [[results[0]["image"]["id"], results[1]["image"]["id"]]]
    batch.refresh_from_db()
    assert [e["code"] for e in batch.rejections] == ["duplicate", "unsupported_format"]


def test_a_lost_race_to_the_same_bytes_leaves_no_file_behind(
    world, batch, stored_files, monkeypatch
):
    data = make_image_bytes(color=(5, 6, 7))
    winner = uploads.batch_files_upload(
        batch=batch, user=world.librarian, files=[_named("a.jpg", data)]
    )[0].image
    # As if the duplicate check ran before the winner's row was committed.
    monkeypatch.setattr(uploads, "_existing_by_hash", lambda client, hashes: {})

    [outcome] = uploads.batch_files_upload(
        batch=batch, user=world.librarian, files=[_named("b.jpg", data)]
    )

    assert outcome.status == uploads.DUPLICATE and outcome.image == winner
    assert len(stored_files()) == 1


def test_files_are_removed_when_the_insert_fails(world, batch, stored_files, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    # The INSERT fails after the files are written.
    monkeypatch.setattr(Image.objects, "bulk_create", broken)

    with pytest.raises(RuntimeError):
        uploads.batch_files_upload(
            batch=batch, user=world.librarian, files=[_named("a.jpg", make_image_bytes())]
        )

    assert stored_files() == []


def test_too_many_files_in_one_request_are_refused(librarian_api, batch):
    files = [(f"{i}.jpg", make_image_bytes(color=(i, 0, 0))) for i in range(21)]

    response = post_files(librarian_api, batch, files)

    assert response.status_code == 400
    assert not Image.objects.exists()


def test_a_request_without_files_is_a_400(librarian_api, batch):
    response = librarian_api.post(files_url(batch), {"name": "x"}, format="multipart")

    assert response.status_code == 400


def test_the_batch_status_counts_images_and_refusals(world, librarian_api, batch, queued):
    post_files(
        librarian_api,
        batch,
        [
            ("a.jpg", make_image_bytes(color=(1, 1, 1))),
            ("b.jpg", make_image_bytes(color=(2, 2, 2))),
        ],
    )
    post_files(librarian_api, batch, [("c.svg", svg())])
    post_files(librarian_api, batch, [("a again.jpg", make_image_bytes(color=(1, 1, 1)))])
    Image.objects.filter(original_name="b.jpg").update(status=ImageStatus.NEEDS_REVIEW)

    response = librarian_api.get(reverse("api-batch-detail", args=["alpha", batch.pk]))

    assert response.status_code == 200
    counts = response.json()["counts"]
    assert counts["images"]["uploaded"] == 1
    assert counts["images"]["needs_review"] == 1
    assert counts["images"]["total"] == 2
    assert counts["refused"] == {
        "total": 2,
        "by_code": {"duplicate": 1, "unsupported_format": 1},
    }
    assert counts["done"] is False
    assert [r["name"] for r in response.json()["rejections"]] == ["c.svg", "a again.jpg"]


def test_uploading_a_file_costs_a_bounded_number_of_queries(
    librarian_api, batch, queued, django_assert_max_num_queries
):
    files = [(f"{i}.jpg", make_image_bytes(color=(40 * i, 50, 50))) for i in range(5)]

    # Auth, client, batch, duplicate check, one INSERT for all, one for their hash index
    # rows, one near-duplicate look-up (and one for the names of those found; these five
    # plain-colour files all look alike): not one query per file.
    with django_assert_max_num_queries(12):
        response = post_files(librarian_api, batch, files)

    assert response.status_code == 201


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["../x.jpg", "a/../../x.jpg", "..\\x.jpg", "/abs.jpg", "C:\\x.jpg", "x\x00.jpg", "~/x.jpg"],
)
def test_names_that_leave_their_folder_are_unsafe(name):
    assert storage_names.is_path_traversal(name)
    assert storage_names.unsafe_name(storage_names.mark_unsafe(name)) == name


@pytest.mark.parametrize("name", ["photo.jpg", "IMG 0001.JPG", "été/photo.jpg", "a..b.jpg"])
def test_ordinary_names_are_safe(name):
    assert not storage_names.is_path_traversal(name)


def test_original_names_are_sanitised():
    assert storage_names.sanitise_original_name("dir/sub\\  ..hidden\u200b\x07.jpg") == (
        "hidden\u200b.jpg".replace("\u200b", "")
    )
    assert storage_names.sanitise_original_name("") == "unnamed"
    long = storage_names.sanitise_original_name("x" * 500 + ".jpeg")
    assert len(long) == storage_names.MAX_ORIGINAL_NAME and long.endswith(".jpeg")


def test_storage_names_are_made_by_the_server():
    name = storage_names.original_name(client_id=7, extension="jpg")

    assert name.startswith("clients/7/originals/") and name.endswith(".jpg")
    assert name.isascii()
    assert storage_names.thumbnail_name(name).startswith("clients/7/thumbnails/")
    assert storage_names.model_input_name(name).startswith("clients/7/model-input/")


def _named(name, data):
    from django.core.files.base import ContentFile

    return ContentFile(data, name=name)


def test_the_upload_endpoints_document_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    from labelling.api import uploads as upload_api

    GENERATOR_STATS.reset()
    try:
        schema = SchemaGenerator(patterns=upload_api.urlpatterns).get_schema(public=True)
        assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
        assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)
    finally:
        GENERATOR_STATS.reset()
    assert "/clients/{client_slug}/batches/{batch_id}/files/" in schema["paths"]
