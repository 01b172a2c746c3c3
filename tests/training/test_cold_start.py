"""Cold start: images that arrive before any model are embedded, offered in groups of
similar ones, and a group's label is stored through the review service, counted as the
person's decisions, and trains the first model."""

import numpy as np
import pytest

from labelling.models import Image, ImageLabel, ImageStatus, Review, ReviewLease
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


@pytest.mark.usefixtures("fresh_review_windows")
def test_single_mode_shows_every_look_before_a_second_of_any_until_a_model_is_active(
    world, waiting
):
    from labelling.selectors.queue import QueueFilters

    warm = {i.pk for i in waiting[:6]}
    # Oldest first, the queue would start with the six warm photos.
    items = rs.review_next(
        client=world.client_a, reviewer=world.reviewer, filters=QueueFilters(), count=2
    )
    first_two = {item.image.pk for item in items}
    assert len(first_two) == 2 and len(first_two & warm) == 1
    # The rest follow, each once.
    rest = rs.review_next(
        client=world.client_a, reviewer=world.reviewer, filters=QueueFilters(), count=20
    )
    shown = [item.image.pk for item in rest]
    assert sorted(shown) == sorted(i.pk for i in waiting)  # the two held ones come back first
    assert set(shown[:2]) == first_two

    # Once a model serves, the queue's own order (least certain, then oldest) is back.
    labels = world.labels
    make_version(world.taxonomy, labels=[labels.smiling, labels.building], active=True)
    ReviewLease.objects.filter(reviewer=world.reviewer).delete()
    rs.review_windows_clear()
    items = rs.review_next(
        client=world.client_a, reviewer=world.reviewer, filters=QueueFilters(), count=2
    )
    assert [item.image.pk for item in items] == [i.pk for i in waiting[:2]]


def test_the_groups_are_kept_while_images_leave_and_a_newcomer_joins_them(
    world, waiting, monkeypatch
):
    from training.services import cold_start

    cold_start.cold_start_plans_clear()
    formed = []
    form_clusters = cold_start.form_clusters
    monkeypatch.setattr(
        cold_start,
        "form_clusters",
        lambda X, **kw: formed.append(len(X)) or form_clusters(X, **kw),
    )
    groups = cold_start_groups(client=world.client_a, size=6)
    assert cold_start_groups(client=world.client_a, size=6) == groups  # the heartbeat
    assert formed == [10]
    first = groups[0]
    rs.images_label_group(
        client=world.client_a, user=world.reviewer, image_ids=first, label=world.labels.smiling.pk
    )
    assert cold_start_groups(client=world.client_a, size=6) == groups[1:]
    assert formed == [10]
    newcomer = add_photo(
        world.client_a, np.random.default_rng(5), warm=True, status=ImageStatus.NEEDS_REVIEW
    )
    ingest.predict_hook(image_ids=[newcomer.pk])
    regrouped = cold_start_groups(client=world.client_a, size=6)
    # Placed among the kept plan's looks, not formed again: the groups people may be
    # working stay as they were, and the newcomer is in one of its own.
    assert formed == [10]
    assert [g for g in regrouped if newcomer.pk not in g] == groups[1:]
    assert [g for g in regrouped if newcomer.pk in g] == [[newcomer.pk]]
    # Many more newcomers than the plan was formed over: it is formed anew.
    rng = np.random.default_rng(6)
    crowd = [
        add_photo(world.client_a, rng, warm=i % 2 == 0, status=ImageStatus.NEEDS_REVIEW)
        for i in range(2 * 10)
    ]
    ingest.predict_hook(image_ids=[i.pk for i in crowd])
    everyone = cold_start_groups(client=world.client_a, size=6)
    assert formed == [10, 11 - len(first) + len(crowd)]
    assert {pk for g in everyone for pk in g} >= {i.pk for i in crowd} | {newcomer.pk}
