"""In a real browser: a sector maintainer rolls back the shared model, told first which
clients it touches; a librarian corrects a model's tag on the image page. Screenshots of the
pages go to SCREENSHOT_DIR when it is set (for people to look at), never into the repository."""

import os
from pathlib import Path

import pytest

from labelling.models import ImageLabel, ImageStatus
from labelling.models.images import LabelSource
from tests import factories
from tests.training.builders import activate_row, finished_run, make_version
from training.models import ActiveModel


def shoot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


@pytest.fixture
def two_versions(world):
    labels = [world.labels.smiling, world.labels.building]
    v1 = make_version(world.taxonomy, labels=labels, accuracy=0.8, stored=True)
    activate_row(v1, user=world.maintainer)
    v2 = make_version(world.taxonomy, labels=labels, accuracy=0.9, seed=3, stored=True)
    activate_row(v2, user=world.maintainer)
    finished_run(v2)
    return v1, v2


def test_a_maintainer_rolls_back_after_confirming_who_it_touches(world, page_as, two_versions):
    v1, v2 = two_versions
    page = page_as(world.maintainer)
    page.goto("/clients/alpha/models/")
    shoot(page, "models-maintainer")
    assert "Rolling back makes v1" in page.locator(".rollback-form").inner_text()
    page.click("#rollback-button")

    page.locator("#confirm-form").wait_for()
    shoot(page, "rollback-confirm")
    assert "Alpha University and 1 other client" in page.locator("#confirm-affected").inner_text()
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v2
    page.click("#confirm-cancel")  # changing one's mind changes nothing
    page.locator("#versions").wait_for()
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v2

    page.click("#rollback-button")
    page.click("#confirm-button")
    page.locator('tr[data-version="1"].active-row').wait_for()
    assert "v1 is the active model again" in page.content()
    assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == v1

    page.goto(f"/clients/alpha/models/{v2.pk}/")
    page.locator("#reliability svg").wait_for()
    shoot(page, "version-detail")
    page.goto(f"/clients/alpha/models/compare/?a={v1.pk}&b={v2.pk}")
    shoot(page, "compare")


def test_a_client_admin_sees_no_rollback_and_asks_for_retraining(world, page_as, two_versions):
    page = page_as(world.owner)
    page.goto("/clients/alpha/models/")
    shoot(page, "models-client-admin")
    assert page.locator("#rollback-button").count() == 0
    assert page.locator("#train-button").inner_text() == "Ask for retraining"
    assert page.locator("#consent-form").is_visible()


def test_a_librarian_corrects_a_tag_on_the_image_page(world, page_as):
    image = factories.ImageFactory(client=world.client_a, status=ImageStatus.AUTO_TAGGED)
    ImageLabel.objects.create(
        image=image, label=world.labels.smiling, source=LabelSource.MACHINE, probability=0.97
    )
    page = page_as(world.librarian)
    page.goto(f"/clients/alpha/images/{image.pk}/")
    page.click("#correct-tag summary")
    shoot(page, "image-correct")
    page.check(f'#correct-form input[value="{world.labels.building.pk}"]')
    page.click("#correct-button")
    page.locator("text=now tagged Building").wait_for()
    shoot(page, "image-corrected")
    image.refresh_from_db()
    assert image.status == ImageStatus.VERIFIED
    assert list(image.image_labels.values_list("label_id", "source")) == [
        (world.labels.building.pk, LabelSource.HUMAN)
    ]
    page.goto("/")
    shoot(page, "home-librarian")
