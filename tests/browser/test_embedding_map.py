"""The embedding map in a real browser (WebGL in Debian's chromium): 50,000 stored points
render, and the time it took is reported; a lasso drawn with the mouse labels its group,
which is then read back from the database; hovering a point shows its thumbnail."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from labelling.models import Image, ImageLabel, ImageStatus, Review
from labelling.models.images import LabelSource
from tests import factories
from training.models import EmbeddingMap, RunStatus
from training.services.embedding_map import Layout, layout_bytes

PAGE = "/clients/alpha/map/"
BACKGROUND = (0x10, 0x15, 0x1D)


def store_map(client, ids, xy) -> EmbeddingMap:
    data = layout_bytes(Layout(image_ids=np.asarray(ids, np.int64), xy=xy.astype(np.float32)))
    name = default_storage.save(f"maps/{client.pk}/browser.npz", ContentFile(data))
    return EmbeddingMap.objects.create(
        client=client,
        status=RunStatus.SUCCEEDED,
        file=name,
        file_sha256=hashlib.sha256(data).hexdigest(),
        n_points=len(ids),
        method="opentsne",
        finished_at=timezone.now(),
    )


def many_images(client, n: int, labels) -> list[int]:
    """``n`` image rows at once (no files: the map draws rows, and a missing thumbnail is
    only a 404), a third of them verified with a label, the rest waiting or auto-tagged."""
    statuses = [ImageStatus.VERIFIED, ImageStatus.NEEDS_REVIEW, ImageStatus.AUTO_TAGGED]
    Image.objects.bulk_create(
        [
            Image(
                client=client,
                file=f"images/synthetic-{i}.jpg",
                original_name=f"synthetic-{i}.jpg",
                sha256=hashlib.sha256(f"synthetic-{i}".encode()).hexdigest(),
                status=statuses[i % 3],
            )
            for i in range(n)
        ],
        batch_size=2000,
    )
    ids = list(Image.objects.filter(client=client).order_by("pk").values_list("pk", flat=True))
    ImageLabel.objects.bulk_create(
        [
            ImageLabel(image_id=pk, label=labels[i % len(labels)], source=LabelSource.HUMAN)
            for i, pk in enumerate(ids)
            if i % 3 == 0
        ],
        batch_size=2000,
    )
    return ids


def drawn_pixels(page) -> int:
    """How many pixels of the map differ from its background: the points WebGL drew."""
    shot = PILImage.open(io.BytesIO(page.locator("#map-canvas").screenshot())).convert("RGB")
    pixels = np.asarray(shot, dtype=np.int16)
    return int((np.abs(pixels - np.array(BACKGROUND)).sum(axis=2) > 40).sum())


def test_the_map_renders_50000_points_and_reports_the_time(world, page_as):
    labels = [world.labels.smiling, world.labels.not_smiling, world.labels.building]
    ids = many_images(world.client_a, 50_000, labels)
    rng = np.random.default_rng(0)
    centres = rng.uniform(-0.7, 0.7, size=(12, 2))
    xy = np.clip(centres[rng.integers(0, 12, len(ids))] + rng.normal(0, 0.08, (len(ids), 2)), -1, 1)
    store_map(world.client_a, ids, xy)

    page = page_as(world.owner)
    page.goto(PAGE)
    root = page.locator('#map[data-state="ready"]')
    root.wait_for(timeout=120_000)
    assert root.get_attribute("data-points") == "50000"
    render_ms = int(root.get_attribute("data-render-ms"))
    print(f"map: 50,000 points rendered in {render_ms} ms (request to first frame)")
    assert render_ms < 60_000
    assert "50,000 images" in page.locator("#map-counts").inner_text()
    assert drawn_pixels(page) > 5_000
    # Status colours: one legend row per status the points have.
    page.keyboard.press("c")
    legend = page.locator("#map-legend li")
    assert sorted(legend.all_inner_texts()) == sorted(
        ["Auto-tagged\n16,666", "Needs review\n16,667", "Verified\n16,667"]
    )


def test_a_lasso_drawn_with_the_mouse_labels_its_group(world, page_as):
    # Two groups of 15 waiting images: one left of the centre, one right of it.
    left = [factories.ImageFactory(client=world.client_a, status="needs_review") for _ in range(15)]
    right = [
        factories.ImageFactory(client=world.client_a, status="needs_review") for _ in range(15)
    ]
    rng = np.random.default_rng(1)
    xy = np.concatenate(
        [rng.normal((-0.5, 0.0), 0.05, (15, 2)), rng.normal((0.5, 0.0), 0.05, (15, 2))]
    )
    store_map(world.client_a, [i.pk for i in left + right], xy)

    page = page_as(world.reviewer)
    page.goto(PAGE)
    page.locator('#map[data-state="ready"]').wait_for()
    box = page.locator("#map-canvas").bounding_box()

    # Hovering the left group shows a thumbnail of one of its images.
    found = None
    for step in range(60):
        x = box["x"] + box["width"] * (0.15 + 0.006 * step)
        for dy in (-6, 0, 6):
            page.mouse.move(x, box["y"] + box["height"] / 2 + dy)
            if page.locator("#map-hover").is_visible():
                found = page.locator("#map-hover-img").get_attribute("src")
                break
        if found:
            break
    assert found is not None, "no point answered the mouse"
    assert found.startswith("/clients/alpha/images/") and found.endswith("/thumbnail")
    assert int(found.split("/")[4]) in {i.pk for i in left}

    page.keyboard.press("l")  # lasso mode
    corners = [(0.02, 0.05), (0.48, 0.05), (0.48, 0.95), (0.02, 0.95), (0.02, 0.06)]
    page.mouse.move(box["x"] + box["width"] * 0.02, box["y"] + box["height"] * 0.05)
    page.mouse.down()
    for fx, fy in corners:
        # As a hand draws it: the lasso takes a point at most every few milliseconds.
        page.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy, steps=8)
        page.wait_for_timeout(60)
    page.mouse.up()
    page.locator('#map-selected:text-is("15")').wait_for()

    page.fill("#map-label-input", "Building")
    page.click("#map-label-submit")
    page.locator('#map-message:has-text("15 images labelled Building")').wait_for()
    reviews = Review.objects.filter(image__in=left)
    assert reviews.count() == 15 and {r.reviewer for r in reviews} == {world.reviewer}
    assert set(ImageLabel.objects.filter(image__in=left).values_list("label", "source")) == {
        (world.labels.building.pk, LabelSource.HUMAN)
    }
    assert not Review.objects.filter(image__in=right).exists()
    assert "Building" in page.locator("#map-legend").inner_text()

    page.click("#map-undo")
    page.locator('#map-message:has-text("15 images are back")').wait_for()
    assert not ImageLabel.objects.filter(image__in=left).exists()


def test_a_failed_layout_is_said_in_words_and_another_can_be_asked_for(world, page_as):
    EmbeddingMap.objects.create(
        client=world.client_a,
        status=RunStatus.FAILED,
        message="Alpha University has no ingested images to lay out yet.",
        finished_at=timezone.now(),
    )
    page = page_as(world.owner)
    page.goto(PAGE)
    page.locator('#map[data-state="empty"]').wait_for()
    assert "No map has been laid out yet" in page.locator("#map-empty").inner_text()
    job = page.locator("#map-job")
    assert job.inner_text() == (
        "The last layout failed: Alpha University has no ingested images to lay out yet."
    )
    page.click("#map-compute")
    page.locator('#map-job:has-text("waits for a worker")').wait_for()
    assert page.locator("#map-compute").is_disabled()
    latest = EmbeddingMap.objects.filter(client=world.client_a).first()
    assert latest.status == RunStatus.QUEUED and latest.requested_by == world.owner
