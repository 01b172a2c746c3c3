"""Uploading a batch through the upload page in a real browser, Uppy and all."""

import io
import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from PIL import Image as PILImage
from PIL import PngImagePlugin

from labelling.models import Image, ImageStatus, UploadBatch
from labelling.services import ingest, uploads
from labelling.views import upload as upload_views

UPPY_DIST = Path(django_settings.BASE_DIR) / "node_modules" / "uppy" / "dist"

pytestmark = pytest.mark.skipif(
    not (UPPY_DIST / "uppy.min.js").exists(), reason="Uppy is not installed: npm ci"
)


@pytest.fixture(autouse=True)
def _uppy_served(settings):
    # The app serves Uppy from node_modules; kept here until settings name it for everyone.
    entry = ("uppy", UPPY_DIST)
    if entry not in [
        tuple(d) if isinstance(d, list | tuple) else d for d in settings.STATICFILES_DIRS
    ]:
        settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, entry]


@pytest.fixture(autouse=True)
def queued(monkeypatch):
    """Ids for the worker, kept here rather than sent to a real broker; and one upload at a
    time: the live server's in-memory SQLite is shared by its threads, whose concurrent
    writes fail with "database table is locked" (a file database in WAL mode queues them)."""
    ids: list[int] = []
    monkeypatch.setattr(uploads, "enqueue_ingest", ids.extend)
    monkeypatch.setattr(upload_views, "PARALLEL_UPLOADS", 1)
    return ids


def write_image(folder: Path, name: str, fmt: str, size=(320, 240), color=(200, 60, 30)) -> Path:
    image = PILImage.linear_gradient("L").resize(size).convert("RGB")
    image.paste(color, (0, 0, size[0] // 3, size[1]))
    path = folder / name
    image.save(path, format=fmt)
    return path


def write_bytes(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def test_a_librarian_uploads_a_batch_and_sees_every_files_outcome(world, page_as, tmp_path, queued):
    folder = tmp_path / "to-upload"
    folder.mkdir()
    photo = write_image(folder, "campus.jpg", "JPEG")
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "<html><script>alert(1)</script></html>")
    polyglot = io.BytesIO()
    PILImage.new("RGB", (20, 20)).save(polyglot, format="PNG", pnginfo=text)
    files = [
        photo,
        write_image(folder, "library.png", "PNG", color=(20, 160, 60)),
        write_image(folder, "quad.webp", "WEBP", color=(30, 30, 200)),
        write_image(folder, "scan.tif", "TIFF", color=(120, 120, 10)),
        write_bytes(folder, "notes.jpg", b"<html><body>not a photo</body></html>"),
        write_bytes(folder, "logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"></svg>'),
        write_bytes(folder, "sneaky.png", polyglot.getvalue()),
        write_bytes(folder, "cut.jpg", photo.read_bytes()[:700]),
    ]
    page = page_as(world.librarian)

    page.goto("/clients/alpha/upload/")
    page.fill("#batch-name", "Browser batch")
    page.locator("input.uppy-Dashboard-input:not([webkitdirectory])").first.set_input_files(
        [str(f) for f in files]
    )
    page.locator(".uppy-StatusBar-actionBtn--upload").click()

    rows = page.locator("#upload-outcomes tbody tr")
    rows.nth(len(files) - 1).wait_for(timeout=30_000)
    # A second round into the same batch: the same photo under another name. (Sent in the
    # first round, the two would race; in this test server they share one SQLite connection.)
    copy = write_bytes(folder, "campus copy.jpg", photo.read_bytes())
    files.append(copy)
    page.locator(".uppy-DashboardContent-addMore").click()
    page.locator("input.uppy-Dashboard-input:not([webkitdirectory])").first.set_input_files(
        [str(copy)]
    )
    page.locator(".uppy-StatusBar-actionBtn--upload").click()
    rows.nth(len(files) - 1).wait_for(timeout=30_000)
    outcomes = {
        row.locator(".outcome-name").inner_text(): (
            row.get_attribute("data-outcome"),
            row.locator(".outcome-details").inner_text(),
        )
        for row in rows.all()
    }
    assert len(outcomes) == len(files)
    for name in ("campus.jpg", "library.png", "quad.webp", "scan.tif"):
        assert outcomes[name][0] == "stored", outcomes[name]
    assert outcomes["campus copy.jpg"][0] == "duplicate"
    assert "already in the library" in outcomes["campus copy.jpg"][1]
    assert "campus.jpg" in outcomes["campus copy.jpg"][1]
    for name, words in [
        ("notes.jpg", "not a JPEG, PNG, WebP or TIFF"),
        ("logo.svg", "not a JPEG, PNG, WebP or TIFF"),
        ("sneaky.png", "web page or script"),
        ("cut.jpg", "damaged or incomplete"),
    ]:
        assert outcomes[name][0] == "rejected", (name, outcomes[name])
        assert words in outcomes[name][1], (name, outcomes[name])
    summary = page.locator("#upload-summary")
    assert summary.locator("[data-count=stored]").inner_text() == "4"
    assert summary.locator("[data-count=duplicate]").inner_text() == "1"
    assert summary.locator("[data-count=rejected]").inner_text() == "4"

    batch = UploadBatch.objects.get(name="Browser batch")
    assert batch.client == world.client_a and batch.created_by == world.librarian
    assert sorted(queued) == sorted(batch.images.values_list("pk", flat=True))
    ingest.images_ingest(image_ids=queued)  # the worker's turn
    assert set(batch.images.values_list("status", flat=True)) == {ImageStatus.NEEDS_REVIEW}
    assert Image.objects.count() == 4
    assert sorted(e["code"] for e in batch.rejections) == [
        "active_content",
        "damaged_file",
        "duplicate",
        "unsupported_format",
        "unsupported_format",
    ]

    # The batch link leads to its images in the library, thumbnails and all.
    page.locator("#batch-link a").click()
    page.wait_for_url("**/clients/alpha/library/?batch=*")
    cards = page.locator(".library-card img")
    assert cards.count() == 4
    page.wait_for_function(
        "() => [...document.querySelectorAll('.library-card img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )


def test_a_stored_file_that_looks_like_a_library_image_says_which(world, page_as, tmp_path):
    from django.core.files.base import ContentFile

    folder = tmp_path / "again"
    folder.mkdir()
    original = write_image(folder, "open-day.png", "PNG", color=(10, 90, 200))
    batch = UploadBatch.objects.create(client=world.client_a, name="Earlier")
    [earlier] = uploads.batch_files_upload(
        batch=batch,
        user=world.librarian,
        files=[ContentFile(original.read_bytes(), name="open-day.png")],
    )
    # The same picture, re-encoded smaller: other bytes (not a duplicate), the same look.
    copy = folder / "open-day-small.jpg"
    PILImage.open(original).resize((160, 120)).save(copy, format="JPEG", quality=60)
    other = write_image(folder, "other.jpg", "JPEG", size=(240, 320), color=(250, 250, 250))
    PILImage.effect_noise((240, 320), 90).convert("RGB").save(other, format="JPEG")
    page = page_as(world.librarian)

    page.goto("/clients/alpha/upload/")
    page.locator("input.uppy-Dashboard-input:not([webkitdirectory])").first.set_input_files(
        [str(copy), str(other)]
    )
    page.locator(".uppy-StatusBar-actionBtn--upload").click()
    rows = page.locator("#upload-outcomes tbody tr")
    rows.nth(1).wait_for(timeout=30_000)

    row = page.locator("#upload-outcomes tbody tr", has_text="open-day-small.jpg")
    assert row.get_attribute("data-outcome") == "stored"
    link = row.locator(".outcome-looks-like a")
    assert link.inner_text() == f"image {earlier.image.pk}"
    assert "looks like" in row.locator(".outcome-details").inner_text()
    plain = page.locator("#upload-outcomes tbody tr", has_text="other.jpg")
    assert plain.locator(".outcome-looks-like").count() == 0
    assert page.locator('#upload-summary [data-count="looks_like"]').inner_text() == "1"
    if shots := os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=f"{shots}/upload-looks-like.png", full_page=True)
    link.click()
    page.wait_for_url(f"**/clients/alpha/images/{earlier.image.pk}/")
