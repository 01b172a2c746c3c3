"""Editing a taxonomy in a real browser: add a label, find one by searching with the
keyboard and merge it, retire another, and set the client's own name for a label."""

import os
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from labelling.models import AuditAction, AuditEvent, ClientLabelName, ImageLabel, Label
from labelling.models.images import LabelSource
from tests import factories
from tests.factories import make_image_bytes

expect = pytest.importorskip("playwright.sync_api").expect


def verified_with(world, label, color, n):
    image = factories.ImageFactory(
        client=world.client_a,
        status="verified",
        thumbnail=ContentFile(
            make_image_bytes((96, 96), color), name=f"thumbs/{label.key}-{n}.jpg"
        ),
    )
    ImageLabel.objects.create(image=image, label=label, source=LabelSource.HUMAN)
    return image


def flash(page):
    return page.locator("ul.messages:not(.pipeline-notices)")


def test_a_maintainer_adds_merges_retires_and_names_labels(world, page_as, tmp_path):
    world.sector.maintainers.add(world.owner)  # alice: client A's admin and a maintainer
    for n, color in enumerate([(220, 180, 40), (240, 120, 60), (200, 200, 90)]):
        verified_with(world, world.labels.smiling, color, n)
    grumpy = verified_with(world, world.labels.not_smiling, (60, 60, 160), 9)
    factories.LabelFactory(
        taxonomy=world.taxonomy, key="library", name="Library", parent=world.labels.building
    )
    start = world.taxonomy.version

    page = page_as(world.owner)
    page.get_by_role("navigation").get_by_role("link", name="Labels", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"version {start}")

    # Add
    page.fill("#add-name", "Lawn")
    page.fill("#add-key", "lawn")
    page.get_by_role("button", name="Add label").click()
    expect(page.get_by_role("heading", level=2, name="Lawn")).to_be_visible()
    expect(flash(page)).to_contain_text("Added “Lawn”")

    # Find "Not smiling" with the keyboard: / to search, type, ↓ to the first match, Enter.
    page.locator("body").press("/")
    expect(page.locator("#label-search")).to_be_focused()
    page.keyboard.type("not sm")
    expect(page.locator("#label-tree li:not([hidden])")).to_have_count(1)
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=2, name="Not smiling")).to_be_visible()
    page.select_option("#merge-into", label="Smiling")
    page.get_by_role("button", name="Merge", exact=True).click()
    expect(flash(page)).to_contain_text("Merged “Not smiling” into “Smiling”")

    # Retire: a label with an active child is refused, with the reason, and nothing changes.
    page.locator("#label-tree").get_by_role("link", name="Building").click()
    page.get_by_role("button", name="Retire “Building”").click()
    expect(page.locator("#taxonomy-errors")).to_contain_text("still has active children")
    page.locator("#label-tree").get_by_role("link", name="Library").click()
    page.get_by_role("button", name="Retire “Library”").click()
    expect(flash(page)).to_contain_text("Retired “Library”")
    expect(page.locator("#label-tree li.retired")).to_have_count(2)  # library, not smiling

    # The client's own name, beside the sector's.
    page.locator(f'#label-tree a[data-label="{world.labels.smiling.pk}"]').click()
    expect(page.locator(".examples img")).to_have_count(3)
    page.fill("#client-name", "Happy students")
    page.get_by_role("button", name="Save name").click()
    expect(page.locator("#label-tree")).to_contain_text("“Happy students”")

    world.taxonomy.refresh_from_db()
    assert world.taxonomy.version == start + 3  # add, merge, retire; a name is no version
    assert set(Label.objects.active().values_list("key", flat=True)) == {
        "smiling",
        "building",
        "lawn",
    }
    assert list(ImageLabel.objects.filter(image=grumpy).values_list("label__key", flat=True)) == [
        "smiling"
    ]
    assert ClientLabelName.objects.get(client=world.client_a).name == "Happy students"
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        AuditAction.LABEL_ADDED,
        AuditAction.LABEL_MERGED,
        AuditAction.LABEL_RETIRED,
        AuditAction.CLIENT_LABEL_NAME_SET,
    ]
    shots = Path(os.environ.get("BROWSER_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "taxonomy-editor.png"), full_page=True)
