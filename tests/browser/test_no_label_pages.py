""" "None of the above" in a real browser: the reviewer's key, then the page where the
taxonomy's maintainer turns a group of such images into a new label."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from labelling.models import AuditAction, AuditEvent, ImageStatus, Label
from tests import factories
from tests.browser.test_review_queue import QUEUE, settled, showing
from tests.labelling.test_no_label import planted, store_embedding
from tests.labelling.test_review_service import make_queue
from training import tasks as training_tasks

pytestmark = pytest.mark.usefixtures("fresh_review_windows")


def screenshot(page, name: str) -> None:
    if shots := os.environ.get("SCREENSHOT_DIR"):
        page.screenshot(path=f"{shots}/{name}.png", full_page=True)


def test_n_says_none_of_the_above_and_u_takes_it_back(world, page_as):
    queue = make_queue(world)
    first, second = queue.images[:2]
    page = page_as(world.reviewer)
    page.goto(QUEUE)
    showing(page, first)
    page.wait_for_load_state("networkidle")
    page.locator("details.review-keys summary").click()
    screenshot(page, "review-none-of-the-above")

    page.keyboard.press("n")
    showing(page, second)
    settled(page)
    first.refresh_from_db()
    assert first.status == ImageStatus.NO_LABEL
    assert first.reviews.get().decision == "no_label"

    page.keyboard.press("u")
    showing(page, first)
    settled(page)
    first.refresh_from_db()
    assert first.status == ImageStatus.NEEDS_REVIEW
    assert AuditEvent.objects.filter(action=AuditAction.NO_LABEL_UNDONE).count() == 1


def thumbnail(colour, seed: int) -> ContentFile:
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.asarray(colour) + rng.normal(0, 25, (12, 12, 3)), 0, 255)
    image = PILImage.fromarray(pixels.astype(np.uint8)).resize((160, 160))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    return ContentFile(buffer.getvalue())


def test_a_maintainer_makes_a_label_from_a_group(world, page_as):
    rng = np.random.default_rng(2)
    groups = []
    for axis, n, colour in [(1, 7, (40, 120, 200)), (5, 4, (200, 160, 40))]:
        images = []
        for i, vector in enumerate(planted(rng, axis=axis, n=n)):
            image = factories.ImageFactory(client=world.client_a, status=ImageStatus.NO_LABEL)
            image.thumbnail.save(f"thumbs/{image.pk}.jpg", thumbnail(colour, i), save=True)
            store_embedding(image, vector)
            images.append(image)
        groups.append(images)
    factories.ImageFactory(client=world.client_a, status=ImageStatus.NO_LABEL)  # not embedded
    training_tasks.group_no_label.apply(args=[world.client_a.pk]).get()
    sky, odd = groups[0][:6], groups[0][6]

    page = page_as(world.maintainer)
    page.goto("/clients/alpha/taxonomy/")
    page.locator("#new-label-candidates-link").click()
    page.wait_for_url("**/clients/alpha/taxonomy/new-labels/")
    group = page.locator("#group-1")
    group.locator(f'input[value="{odd.pk}"]').uncheck()
    group.locator('input[name="name"]').fill("Sky")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#group-1 img')].every(i => i.complete)"
    )
    screenshot(page, "new-label-candidates")
    group.locator('[data-action="create-label"]').click()
    page.locator(".messages li", has_text="Added “Sky” and gave it to 6 image(s).").wait_for()
    screenshot(page, "new-label-created")

    label = Label.objects.get(taxonomy=world.taxonomy, key="sky")
    for image in sky:
        image.refresh_from_db()
        assert image.status == ImageStatus.VERIFIED
        assert list(image.image_labels.values_list("label_id", flat=True)) == [label.pk]
    odd.refresh_from_db()
    assert odd.status == ImageStatus.NO_LABEL
