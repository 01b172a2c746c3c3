"""Exporting a library's tags and importing a CSV from the tags page, in a real browser."""

import csv

import pytest

from labelling.models import ImageLabel
from labelling.models.images import LabelSource
from tests import factories

expect = pytest.importorskip("playwright.sync_api").expect


def test_a_librarian_downloads_the_csv_and_imports_it_back(world, page_as, tmp_path):
    image = factories.ImageFactory(client=world.client_a, original_name="quad.jpg")
    ImageLabel.objects.create(
        image=image, label=world.labels.smiling, probability=0.97, source=LabelSource.MACHINE
    )
    page = page_as(world.librarian)
    page.goto("/clients/alpha/library/")
    page.get_by_role("link", name="Export tags").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("export and import tags")

    with page.expect_download() as download:
        page.get_by_role("link", name="CSV", exact=True).click()
    exported = tmp_path / "tags.csv"
    download.value.save_as(exported)
    rows = list(csv.DictReader(exported.open()))
    assert [(r["original_name"], r["label"], r["source"]) for r in rows] == [
        ("quad.jpg", "smiling", "machine")
    ]

    wrong = tmp_path / "wrong.csv"
    wrong.write_text(f"image_id,label\n{image.pk},backpack\n")
    page.set_input_files("#tags-file", str(wrong))
    page.get_by_role("button", name="Import").click()
    # (Not any alert: with no worker running, the page also warns that none was seen.)
    expect(page.locator(".notice.error")).to_contain_text("Line 2: unknown label “backpack”")

    ImageLabel.objects.filter(image=image).delete()
    page.set_input_files("#tags-file", str(exported))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_contain_text("Added 1 tag")
    restored = ImageLabel.objects.get(image=image)
    assert (restored.label_id, restored.source, restored.probability) == (
        world.labels.smiling.pk,
        "machine",
        0.97,
    )
