"""The review queue driven with the keyboard alone, in single and grid mode, in a real
browser; then what was stored is read back from the database."""

from __future__ import annotations

import time

import pytest

from labelling.models import Image, ImageStatus, Label, Review, ReviewLease, TaxonomyKind
from labelling.models.images import LabelSource
from labelling.services import review as rs
from tests.labelling.test_review_service import make_queue, predicted_image

pytestmark = pytest.mark.usefixtures("fresh_review_windows")

QUEUE = "/clients/alpha/review/"


def settled(page) -> None:
    """Decisions are sent in the background, one request at a time: wait until the page has
    none left to answer. (Reading the database while the live server writes would not do:
    its in-memory SQLite locks whole tables, and one of the two would fail.)"""
    page.locator('#review[data-pending="0"]').wait_for()
    page.wait_for_load_state("networkidle")


def showing(page, image: Image) -> None:
    page.locator(f'#review-stage[data-image-id="{image.pk}"] img').wait_for()


def labels_of(image: Image) -> list[tuple[str, str]]:
    return sorted(image.image_labels.values_list("label__key", "source"))


def live_reviews(image: Image) -> list[tuple[str, list[str]]]:
    return [
        (review.decision, sorted(label.key for label in review.labels.all()))
        for review in image.reviews.filter(undone_at__isnull=True).order_by("created_at", "id")
    ]


def test_single_mode_with_the_keyboard(world, page_as):
    queue = make_queue(world)
    first, second, third, fourth, fifth = queue.images
    page = page_as(world.reviewer)
    page.goto(QUEUE)
    showing(page, first)
    # A small image fills the viewing area, its pixels kept sharp.
    natural, shown, area, sharp = page.evaluate(
        """() => {
            const stage = document.getElementById("review-stage");
            const img = stage.querySelector("img");
            return [img.naturalWidth, img.getBoundingClientRect().width, stage.clientWidth,
                    img.classList.contains("upscaled")];
        }"""
    )
    assert natural * 2 < area and abs(shown - area) < 1 and sharp
    # Every image ahead is held and downloaded before the first key. (Here that also keeps
    # the live server's in-memory SQLite from reading and writing at once, which it cannot.)
    page.wait_for_load_state("networkidle")
    assert ReviewLease.objects.filter(reviewer=world.reviewer).count() == 5

    page.keyboard.press("Enter")  # accept the top suggestion
    showing(page, second)
    page.keyboard.press("2")  # second suggestion: Smiling (the model said Building)
    showing(page, third)
    page.keyboard.press("x")  # none of these
    showing(page, fourth)
    page.keyboard.press("u")  # … no: undo, and the third comes back
    showing(page, third)
    page.keyboard.press("/")  # search the whole taxonomy
    page.keyboard.type("buil")
    page.locator('#review-search-results li[aria-selected="true"]', has_text="Building").wait_for()
    page.keyboard.press("Enter")
    showing(page, fourth)
    page.keyboard.press("s")  # skip: left for someone else
    showing(page, fifth)
    page.keyboard.press("Enter")
    page.locator('#review[data-state="empty"]').wait_for()
    settled(page)

    assert Review.objects.filter(undone_at__isnull=True).count() == 4
    assert not ReviewLease.objects.exists()  # the skipped one was given back
    for image in queue.images:
        image.refresh_from_db()
    assert live_reviews(first) == [("accept", ["smiling"])]
    assert live_reviews(second) == [("correct", ["smiling"])]
    assert live_reviews(third) == [("correct", ["building"])]
    assert third.reviews.filter(undone_at__isnull=False, decision="reject").count() == 1
    assert live_reviews(fifth) == [("accept", ["smiling"])]
    assert [i.status for i in queue.images] == [
        ImageStatus.VERIFIED,
        ImageStatus.VERIFIED,
        ImageStatus.VERIFIED,
        ImageStatus.NEEDS_REVIEW,
        ImageStatus.VERIFIED,
    ]
    assert labels_of(second) == [("smiling", LabelSource.HUMAN)]
    assert labels_of(fourth) == []
    assert all(r.seconds_spent is not None for r in Review.objects.all())

    timings = page.evaluate("window.reviewTimings")
    assert len(timings) >= 6, timings
    assert page.evaluate("performance.getEntriesByType('measure').length") >= 6


def test_grid_mode_with_the_keyboard(world, page_as):
    queue = make_queue(world)
    low, _, middle, _, high = queue.images  # the three the model put in Smiling
    page = page_as(world.reviewer)
    page.goto(QUEUE + "?mode=grid")
    tiles = page.locator("#grid-tiles li")
    page.locator("#grid-tiles[data-page]").wait_for()
    page.wait_for_load_state("networkidle")
    # Sorted by confidence: the most certain first.
    assert tiles.evaluate_all("els => els.map(e => Number(e.dataset.imageId))") == [
        high.pk,
        middle.pk,
        low.pk,
    ]

    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")  # deselect the middle one
    assert tiles.nth(1).get_attribute("aria-selected") == "false"
    page.keyboard.press("Enter")  # accept the other two in one keystroke
    # The deselected one is then decided on its own, with the page's class (Smiling) just
    # ruled out offered last: the model's next guess, Not smiling, is the first suggestion.
    showing(page, middle)
    offered = page.locator("#review-suggestions li .suggestion-name").all_inner_texts()
    assert (offered[0], offered[-1]) == ("Not smiling", "Smiling"), offered
    page.keyboard.press("1")
    page.locator('#review[data-state="empty"]').wait_for()
    # Smiling is done, but the two the model put elsewhere still wait: no "well done".
    empty = page.locator("#review-empty")
    assert "2 in other classes" in empty.inner_text()
    assert "Well done" not in empty.inner_text()
    settled(page)
    assert Review.objects.count() == 3

    page.keyboard.press("u")  # undo that last decision: it comes back as a tile
    page.locator(f'#grid-tiles li[data-image-id="{middle.pk}"]').wait_for()
    page.keyboard.press("Enter")
    page.locator('#review[data-state="empty"]').wait_for()
    settled(page)

    assert Review.objects.filter(undone_at__isnull=True).count() == 3
    for image in (low, middle, high):
        image.refresh_from_db()
        assert image.status == ImageStatus.VERIFIED
        assert labels_of(image) == [("smiling", LabelSource.HUMAN)]
        assert live_reviews(image) == [("accept", ["smiling"])]
    undone = Review.objects.get(undone_at__isnull=False)
    assert (undone.image_id, undone.decision) == (middle.pk, "correct")
    assert not ReviewLease.objects.exists()


def test_deselected_tiles_sharing_a_next_guess_get_a_second_look(world, page_as):
    queue = make_queue(world)
    low, _, middle, _, high = queue.images  # Smiling first, Not smiling next, for all three
    page = page_as(world.reviewer)
    page.goto(QUEUE + "?mode=grid")
    tiles = page.locator("#grid-tiles li")
    page.locator("#grid-tiles[data-page]").wait_for()
    page.wait_for_load_state("networkidle")
    ids = "els => els.map(e => Number(e.dataset.imageId))"
    assert tiles.evaluate_all(ids) == [high.pk, middle.pk, low.pk]
    for _ in range(2):  # deselect the middle one and the low one
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Space")
    page.keyboard.press("Enter")
    # The model's next guess for both is Not smiling: they come back as a page of it.
    second_look = page.locator("#grid-second-look")
    second_look.wait_for(state="visible")
    assert "Not smiling" in second_look.inner_text()
    assert page.locator(".grid-head").is_hidden()
    page.wait_for_function(
        f"() => document.querySelector('#grid-tiles').dataset.page === '{middle.pk},{low.pk}'"
    )
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Space")  # the low one is not Not smiling either
    page.keyboard.press("Enter")
    # It is decided on its own, with both labels ruled out offered last.
    showing(page, low)
    offered = page.locator("#review-suggestions li .suggestion-name").all_inner_texts()
    assert offered == ["Building", "Smiling", "Not smiling"], offered
    page.keyboard.press("1")
    page.locator('#review[data-state="empty"]').wait_for()
    settled(page)
    # The "Classes waiting" line counts Smiling's three down with them.
    waiting = page.locator(f'.grid-choices a[data-label-id="{world.labels.smiling.pk}"]')
    assert waiting.text_content().strip() == "Smiling (0)"
    assert live_reviews(high) == [("accept", ["smiling"])]
    assert live_reviews(middle) == [("correct", ["not_smiling"])]
    assert live_reviews(low) == [("correct", ["building"])]
    for image in (high, middle, low):
        image.refresh_from_db()
        assert image.status == ImageStatus.VERIFIED
    assert not ReviewLease.objects.filter(image__in=[high, middle, low]).exists()


def test_a_grid_page_with_an_image_decided_elsewhere_keeps_the_rest(world, page_as):
    queue = make_queue(world)
    low, _, middle, _, high = queue.images
    page = page_as(world.reviewer)
    page.goto(QUEUE + "?mode=grid")
    page.locator("#grid-tiles[data-page]").wait_for()
    page.wait_for_load_state("networkidle")
    # Meanwhile a librarian settles one of them from the library.
    rs.image_correct(
        client=world.client_a,
        user=world.librarian,
        decision=rs.Decision(
            image=middle.pk, decision="correct", labels=(world.labels.building.pk,)
        ),
    )
    page.keyboard.press("Enter")
    page.locator("#review-toast.shown", has_text="decided by bob").wait_for()
    page.locator('#review[data-state="empty"]').wait_for()
    settled(page)

    for image in (low, high):
        assert live_reviews(image) == [("accept", ["smiling"])]
    assert live_reviews(middle) == [("correct", ["building"])]
    assert middle.reviews.get().reviewer == world.librarian


def test_a_multi_label_image_takes_several_labels_from_the_keyboard(world, page_as):
    world.taxonomy.kind = TaxonomyKind.MULTI_LABEL
    world.taxonomy.save()
    queue = make_queue(world, confidences=[])
    L = world.labels
    first = predicted_image(
        world.client_a, queue.version, [(L.smiling, 0.7), (L.building, 0.6), (L.not_smiling, 0.1)]
    )
    second = predicted_image(
        world.client_a, queue.version, [(L.building, 0.9), (L.smiling, 0.55), (L.not_smiling, 0.1)]
    )
    page = page_as(world.reviewer)
    page.goto(QUEUE)
    showing(page, first)
    page.wait_for_load_state("networkidle")
    chosen = page.locator("#review-chosen")
    assert chosen.inner_text() == "Smiling, Building"  # what the model finds likely
    page.keyboard.press("2")  # Building off
    page.keyboard.press("3")  # Not smiling on
    assert chosen.inner_text() == "Smiling, Not smiling"
    page.keyboard.press("Enter")
    showing(page, second)
    page.keyboard.press("Enter")  # the model's two labels, as they are
    page.locator('#review[data-state="empty"]').wait_for()
    settled(page)

    assert Review.objects.count() == 2
    assert live_reviews(first) == [("correct", ["not_smiling", "smiling"])]
    assert live_reviews(second) == [("accept", ["building", "smiling"])]


def test_leaving_the_page_gives_its_images_back(world, page_as):
    make_queue(world)
    page = page_as(world.reviewer)
    page.goto(QUEUE)
    page.locator("#review-stage[data-image-id] img").wait_for()
    page.wait_for_load_state("networkidle")
    assert ReviewLease.objects.filter(reviewer=world.reviewer).count() == 5
    page.goto("/")  # the page's beacon gives its holds back as it goes
    page.wait_for_load_state("networkidle")
    # Playwright does not report beacons, so look in the database; the beacon is the only
    # writer by now, and it was sent before the next page was even requested.
    deadline = time.monotonic() + 10
    while ReviewLease.objects.exists():
        assert time.monotonic() < deadline, "the holds were not given back"
        time.sleep(0.2)


@pytest.mark.parametrize("role_user", ["librarian", "outsider"])
def test_the_page_is_refused_to_who_may_not_review(world, page_as, role_user):
    page = page_as(getattr(world, role_user))
    response = page.goto(QUEUE)
    assert response.status == (403 if role_user == "librarian" else 404)


def test_cluster_labelling_a_group_with_one_deselected(world, page_as, tmp_path):
    import numpy as np

    from tests.labelling.test_review_groups_api import waiting_images

    rng = np.random.default_rng(5)
    warm = waiting_images(world.client_a, rng, near=0, n=4)
    cool = waiting_images(world.client_a, rng, near=1, n=4)
    page = page_as(world.reviewer)
    page.goto(QUEUE + "?mode=grid")
    tiles = page.locator("#grid-tiles li")
    page.locator("#grid-tiles[data-page]").wait_for()
    settled(page)
    shown = tiles.evaluate_all("els => els.map(e => Number(e.dataset.imageId))")
    group = warm if shown[0] in {i.pk for i in warm} else cool
    assert sorted(shown) == sorted(i.pk for i in group)  # one group, never the two mixed
    assert page.locator("#group-count").inner_text() == "4"
    held = ReviewLease.objects.filter(reviewer=world.reviewer)
    assert sorted(held.values_list("image_id", flat=True)) == sorted(shown)

    page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")  # the second one differs
    assert tiles.nth(1).get_attribute("aria-selected") == "false"
    page.keyboard.press("3")  # a label by its key…
    first = page.evaluate("JSON.parse(document.getElementById('review-config').textContent)")
    assert page.locator("#group-chosen").inner_text() == first["labels"][2]["path"]
    page.keyboard.press("/")  # … or by searching
    page.keyboard.type("buil")
    page.locator('#group-search-results li[aria-selected="true"]', has_text="Building").wait_for()
    page.keyboard.press("Enter")
    assert page.locator("#group-chosen").inner_text() == "Building"
    page.screenshot(path=str(tmp_path / "group.png"), full_page=True)
    page.keyboard.press("Enter")
    other = cool if group is warm else warm
    # The next group on screen is the other one (the odd one is set aside).
    page.wait_for_function(
        """ids => (document.getElementById("grid-tiles").dataset.page || "")
            .split(",").map(Number).sort((a, b) => a - b).join(",") === ids""",
        arg=",".join(str(pk) for pk in sorted(i.pk for i in other)),
    )
    settled(page)

    odd = shown[1]
    kept = [pk for pk in shown if pk != odd]
    assert Review.objects.count() == 3
    for image in Image.objects.filter(pk__in=kept):
        assert image.status == ImageStatus.VERIFIED
        assert live_reviews(image) == [("correct", ["building"])]
        assert labels_of(image) == [("building", LabelSource.HUMAN)]
    odd_image = Image.objects.get(pk=odd)
    assert odd_image.status == ImageStatus.NEEDS_REVIEW and labels_of(odd_image) == []
    assert not ReviewLease.objects.filter(image_id__in=shown).exists()
    next_held = ReviewLease.objects.filter(reviewer=world.reviewer)
    assert sorted(next_held.values_list("image_id", flat=True)) == sorted(i.pk for i in other)
    assert page.locator("#review-waiting").inner_text() == "5"

    # u takes the group back: its images are held again and shown to be labelled anew.
    page.keyboard.press("u")
    page.wait_for_function(
        """ids => (document.getElementById("grid-tiles").dataset.page || "")
            .split(",").map(Number).sort((a, b) => a - b).join(",") === ids""",
        arg=",".join(str(pk) for pk in sorted(kept)),
    )
    settled(page)
    assert set(Image.objects.filter(pk__in=kept).values_list("status", flat=True)) == {
        ImageStatus.NEEDS_REVIEW
    }
    assert Review.objects.filter(undone_at__isnull=False).count() == 3
    assert ReviewLease.objects.filter(reviewer=world.reviewer, image_id__in=kept).count() == 3
    assert page.locator("#review-waiting").inner_text() == "8"


def _an_image_no_model_has_seen_on_screen(world, page_as):
    from tests import factories

    image = factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
    page = page_as(world.reviewer)
    page.goto(QUEUE)
    showing(page, image)
    page.wait_for_load_state("networkidle")
    return page, image


def test_an_image_no_model_has_seen_is_labelled_by_key_from_a_small_taxonomy(world, page_as):
    # Before any model there are no suggestions; with up to ten labels the page offers the
    # whole taxonomy by key, as labelling by hand would, instead of only the search.
    page, image = _an_image_no_model_has_seen_on_screen(world, page_as)
    choices = page.locator("#review-suggestions li").all_inner_texts()
    assert [c.split("\n")[-1].strip() for c in choices] == ["Building", "Not smiling", "Smiling"]
    assert "press its label's key" in page.locator("#review-current").inner_text()
    # Nothing is suggested, so there is nothing to accept: Accept is greyed out, and Enter
    # says what to press instead and decides nothing.
    assert page.locator("#review-single [data-action='accept']").is_disabled()
    page.keyboard.press("Enter")
    toast = page.locator("#review-toast")
    toast.wait_for(state="visible")
    assert "Nothing to accept: press its label's key" in toast.inner_text()
    page.keyboard.press("3")
    page.locator('#review[data-state="empty"]').wait_for()
    settled(page)
    image.refresh_from_db()
    assert image.status == ImageStatus.VERIFIED
    assert live_reviews(image) == [("correct", ["smiling"])]


def test_a_ten_label_taxonomy_is_offered_whole_and_0_picks_its_tenth(world, page_as):
    # Ten labels fit the number row as a hand labeller uses it: 1-9, then 0.
    from tests import factories

    for n in range(7):
        factories.LabelFactory(taxonomy=world.taxonomy, key=f"place_{n}", name=f"Place {n}")
    page, image = _an_image_no_model_has_seen_on_screen(world, page_as)
    keys = page.locator("#review-suggestions li kbd").all_inner_texts()
    assert keys == ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"]
    tenth = page.locator("#review-suggestions li").nth(9).inner_text().split("\n")[-1].strip()
    page.keyboard.press("0")
    page.locator('#review[data-state="empty"]').wait_for()
    settled(page)
    image.refresh_from_db()
    assert image.status == ImageStatus.VERIFIED
    tenth_key = Label.objects.get(taxonomy=world.taxonomy, name=tenth).key
    assert live_reviews(image) == [("correct", [tenth_key])]
