"""The review page says "well done" only when nothing waits anywhere, and keeps its filters."""

import pytest

from labelling.models import ImageStatus
from tests import factories
from tests.labelling.test_review_service import make_queue

QUEUE = "/clients/alpha/review/"
WELL_DONE = "Nothing waits for review here. Well done."


@pytest.fixture
def reviewer(client, world):
    client.force_login(world.reviewer)
    return client


def test_it_says_well_done_only_when_nothing_waits(reviewer, world):
    body = reviewer.get(QUEUE + "?mode=grid").content.decode()
    assert WELL_DONE in body


def test_a_done_class_points_to_what_still_waits(reviewer, world):
    queue = make_queue(world)
    factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
    top = queue.images[0].predictions.get().top_label_id
    other_classes = sum(1 for i in queue.images if i.predictions.get().top_label_id != top)
    body = reviewer.get(QUEUE + f"?mode=grid&label={top}").content.decode()
    assert WELL_DONE not in body
    assert "1 the model has not seen yet" in body
    if other_classes:
        assert f"{other_classes} in other classes" in body


def test_a_done_class_with_nothing_elsewhere_is_well_done(reviewer, world):
    queue = make_queue(world)
    top = queue.images[0].predictions.get().top_label_id
    for image in queue.images:
        if image.predictions.get().top_label_id != top:
            image.delete()
    body = reviewer.get(QUEUE + f"?mode=grid&label={top}").content.decode()
    assert WELL_DONE in body
    assert "Still waiting" not in body


def test_mode_and_class_links_keep_the_batch(reviewer, world):
    batch = factories.UploadBatchFactory(client=world.client_a)
    body = reviewer.get(QUEUE + f"?mode=single&batch={batch.pk}").content.decode()
    assert f'href="?mode=grid&amp;status=needs_review&amp;batch={batch.pk}' in body


def test_the_short_review_address_keeps_its_filters(reviewer, world):
    response = reviewer.get("/review/?batch=3&mode=grid")
    assert response.status_code == 302
    assert response["Location"] == QUEUE + "?batch=3&mode=grid"
