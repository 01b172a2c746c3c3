"""Cold start: images that arrive before any model are embedded, offered in groups of
similar ones, and a group's label is stored through the review service, counted as the
person's decisions, and trains the first model."""

import numpy as np
import pytest

from labelling.models import Image, ImageLabel, ImageStatus, Review
from labelling.models.images import LabelSource
from labelling.services import ingest
from labelling.services import review as rs
from tests.training.builders import add_photo, make_version
from training.models import ImageEmbedding, TrainingRun
from training.services.cold_start import cold_start_groups

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.usefixtures("tiny_backbone", "queued_runs"),
]


@pytest.fixture
def waiting(world, settings):
    settings.COLD_START_EMBED = True
    settings.FIRST_MODEL_MIN_PER_LABEL = 3
    world.labels.not_smiling.is_active = False  # two labels in use: warm and cool photos
    world.labels.not_smiling.save(update_fields=["is_active"])
    rng = np.random.default_rng(1)
    images = [
        add_photo(world.client_a, rng, warm=i < 6, status=ImageStatus.NEEDS_REVIEW)
        for i in range(10)
    ]
    ingest.predict_hook(image_ids=[i.pk for i in images])
    return images


def test_images_without_a_model_are_embedded_and_grouped(world, waiting):
    assert ImageEmbedding.objects.filter(image__in=waiting).count() == 10
    groups = cold_start_groups(client=world.client_a, size=6)
    assert sorted(pk for g in groups for pk in g) == sorted(i.pk for i in waiting)
    assert all(len(g) <= 6 for g in groups)
    warm = {i.pk for i in waiting[:6]}
    # Warm and cool photos are told apart by any backbone: no group mixes them.
    assert all(set(g) <= warm or not set(g) & warm for g in groups)
    assert cold_start_groups(client=world.client_b, size=6) == []


def test_a_group_label_is_stored_by_the_review_service_and_counted(world, waiting):
    smiling, building = world.labels.smiling, world.labels.building
    warm, cool = [i.pk for i in waiting[:6]], [i.pk for i in waiting[6:]]
    reviews = rs.images_label_group(
        client=world.client_a, user=world.reviewer, image_ids=warm, label=smiling.pk
    )
    assert len(reviews) == 6
    assert Review.objects.filter(image_id__in=warm, reviewer=world.reviewer).count() == 6
    stored = ImageLabel.objects.filter(image_id__in=warm)
    assert {(il.label_id, il.source) for il in stored} == {(smiling.pk, LabelSource.HUMAN)}
    statuses = Image.objects.filter(pk__in=warm).values_list("status", flat=True)
    assert set(statuses) == {ImageStatus.VERIFIED}
    # What is left is offered again; the other label's group makes the first model.
    assert sorted(pk for g in cold_start_groups(client=world.client_a, size=6) for pk in g) == (
        sorted(cool)
    )
    assert TrainingRun.objects.count() == 0
    rs.images_label_group(
        client=world.client_a, user=world.reviewer, image_ids=cool, label=building.pk
    )
    assert TrainingRun.objects.filter(taxonomy=world.taxonomy).count() == 1


def test_no_groups_once_a_model_is_active(world, waiting):
    labels = world.labels
    make_version(world.taxonomy, labels=[labels.smiling, labels.building], active=True)
    assert cold_start_groups(client=world.client_a, size=6) == []
