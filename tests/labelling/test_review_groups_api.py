"""Cluster labelling at cold start over the API: a reviewer holds a group of similar
waiting images (review/group/) and gives the ones they kept one label (review/group/label/);
bad input is refused with a clear message and stores nothing."""

from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from labelling.api import review as review_api
from labelling.models import Image, ImageLabel, ImageStatus, Review, ReviewLease
from labelling.models.images import LabelSource
from tests import factories
from tests.training.builders import make_version
from training.backbones import embedding_key, get_spec
from training.embedding_store import to_bytes
from training.models import ImageEmbedding

pytestmark = pytest.mark.django_db

BASE = "/api/v1/clients/alpha/review/"
DIM = 8


def store_embedding(image, vector) -> None:
    backbone = settings.DEFAULT_BACKBONE
    ImageEmbedding.objects.create(
        image=image,
        key=embedding_key(backbone, get_spec(backbone).default_embedding),
        dim=DIM,
        vector=to_bytes(np.asarray(vector, dtype=np.float32)),
    )


def waiting_images(client, rng, *, near: int, n: int) -> list:
    """``n`` waiting images no model has seen, their embeddings close to axis ``near``."""
    images = []
    for _ in range(n):
        image = factories.ImageFactory(client=client, status=ImageStatus.NEEDS_REVIEW)
        vector = rng.normal(0, 0.05, DIM)
        vector[near] += 1.0
        store_embedding(image, vector)
        images.append(image)
    return images


@pytest.fixture
def groups(world):
    rng = np.random.default_rng(3)
    warm = waiting_images(world.client_a, rng, near=0, n=4)
    cool = waiting_images(world.client_a, rng, near=1, n=4)
    return [i.pk for i in warm], [i.pk for i in cool]


def hold_group(api, size=8, **body):
    response = api.post(BASE + "group/", {"size": size, **body}, format="json")
    assert response.status_code == 200, response.json()
    return [item["id"] for item in response.json()["items"]]


def test_a_group_is_held_for_its_reviewer_and_two_reviewers_get_different_ones(
    world, groups, api_client_for
):
    warm, cool = groups
    rita = hold_group(api_client_for(world.reviewer))
    assert sorted(rita) in (sorted(warm), sorted(cool))  # a group never mixes the two
    held = ReviewLease.objects.filter(image_id__in=rita)
    assert {lease.reviewer_id for lease in held} == {world.reviewer.pk} and held.count() == 4
    # Asking again (a reload) gives the same group back, not another one.
    assert sorted(hold_group(api_client_for(world.reviewer))) == sorted(rita)
    alice = hold_group(api_client_for(world.owner))
    assert alice and not set(alice) & set(rita)
    # Everything is held now: a third request finds no free group.
    assert hold_group(api_client_for(world.maintainer)) == []


def test_labelling_a_group_verifies_the_kept_images_and_leaves_the_deselected_waiting(
    world, groups, api_client_for
):
    api = api_client_for(world.reviewer)
    ids = hold_group(api)
    kept, odd = ids[:-1], ids[-1]
    label = world.labels.building
    response = api.post(
        BASE + "group/label/",
        {"images": kept, "label": label.pk, "released": [odd]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    reviews = response.json()["reviews"]
    assert sorted(r["image"] for r in reviews) == sorted(kept)
    assert all(r["labels"] == [label.pk] and r["status"] == "verified" for r in reviews)
    assert Review.objects.filter(reviewer=world.reviewer, image_id__in=kept).count() == len(kept)
    stored = ImageLabel.objects.filter(image_id__in=kept)
    assert {(il.label_id, il.source) for il in stored} == {(label.pk, LabelSource.HUMAN)}
    assert stored.count() == len(kept)
    odd_image = Image.objects.get(pk=odd)
    assert odd_image.status == ImageStatus.NEEDS_REVIEW
    assert not ImageLabel.objects.filter(image_id=odd).exists()
    assert not ReviewLease.objects.filter(image_id__in=ids).exists()  # holds ended
    # The next group leaves out what was set aside, when asked to.
    after = hold_group(api, exclude=[odd])
    assert after and odd not in after and not set(after) & set(kept)


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "Select at least one image to label."),
        ("unknown label", "is not an active label of this taxonomy"),
        ("retired label", "is not an active label of this taxonomy"),
        ("other client", "No image"),
        ("not waiting", "no longer waits for review"),
        ("twice", "appears twice"),
    ],
)
def test_bad_group_labels_are_refused_and_store_nothing(
    world, groups, api_client_for, case, message
):
    api = api_client_for(world.reviewer)
    ids = hold_group(api)
    label = world.labels.smiling.pk
    images = list(ids)
    if case == "empty":
        images = []
    elif case == "unknown label":
        label = 999_999
    elif case == "retired label":
        world.labels.smiling.is_active = False
        world.labels.smiling.save(update_fields=["is_active"])
    elif case == "other client":
        images.append(factories.ImageFactory(client=world.client_b, status="needs_review").pk)
    elif case == "not waiting":
        Image.objects.filter(pk=ids[0]).update(status=ImageStatus.VERIFIED)
    elif case == "twice":
        images.append(ids[0])
    response = api.post(BASE + "group/label/", {"images": images, "label": label}, format="json")
    assert response.status_code == 400, response.json()
    assert message in str(response.json())
    assert not Review.objects.exists()
    assert not ImageLabel.objects.filter(image_id__in=ids).exists()
    assert ReviewLease.objects.filter(image_id__in=ids, reviewer=world.reviewer).count() == 4


def test_images_not_held_by_the_reviewer_are_a_conflict(world, groups, api_client_for):
    ids = hold_group(api_client_for(world.owner))  # alice holds this group
    response = api_client_for(world.reviewer).post(
        BASE + "group/label/", {"images": ids, "label": world.labels.smiling.pk}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "no_lease"
    assert "not held for you" in response.json()["detail"]
    assert not Review.objects.exists()
    assert ReviewLease.objects.filter(image_id__in=ids, reviewer=world.owner).count() == 4


def test_who_may_label_groups(world, groups, api_client_for):
    body = {"images": groups[0], "label": world.labels.smiling.pk}
    for user, code in [(world.librarian, 403), (world.outsider, 404), (None, 401)]:
        api = api_client_for(user)
        assert api.post(BASE + "group/", {}, format="json").status_code == code
        assert api.post(BASE + "group/label/", body, format="json").status_code == code
    assert not Review.objects.exists() and not ReviewLease.objects.exists()


def test_no_groups_once_a_model_is_active(world, groups, api_client_for):
    labels = world.labels
    make_version(world.taxonomy, labels=[labels.smiling, labels.building], active=True)
    assert hold_group(api_client_for(world.reviewer)) == []
    assert not ReviewLease.objects.exists()


def test_the_group_endpoints_are_documented_with_their_refusals():
    schema = SchemaGenerator(patterns=review_api.urlpatterns).get_schema(request=None, public=True)
    label = schema["paths"]["/clients/{client_slug}/review/group/label/"]["post"]
    assert {"201", "400", "403", "404", "409"} <= set(label["responses"])
    group = schema["paths"]["/clients/{client_slug}/review/group/"]["post"]
    assert {"200", "400", "403", "404"} <= set(group["responses"])


def test_a_group_partly_held_already_is_served_whole(world, groups, api_client_for):
    api = api_client_for(world.reviewer)
    response = api.post(BASE + "next/", {"count": 2}, format="json")  # one by one, elsewhere
    single = [item["id"] for item in response.json()["items"]]
    assert len(single) == 2
    ids = hold_group(api)
    assert len(ids) == 4 and set(ids) & set(single)
    assert sorted(ids) in (sorted(groups[0]), sorted(groups[1]))
    assert ReviewLease.objects.filter(reviewer=world.reviewer, image_id__in=ids).count() == 4


def test_the_review_page_offers_groups_only_at_cold_start(world, groups, client):
    client.force_login(world.reviewer)
    page = client.get("/clients/alpha/review/?mode=grid")
    assert page.status_code == 200
    assert page.context["config"]["groups"] is True
    assert b"similar images: deselect any that differ" in page.content
    assert page.context["config"]["urls"]["group-label"] == BASE + "group/label/"
    single = client.get("/clients/alpha/review/?mode=single")
    assert single.context["config"]["groups"] is False
    labels = world.labels
    make_version(world.taxonomy, labels=[labels.smiling, labels.building], active=True)
    later = client.get("/clients/alpha/review/?mode=grid")
    assert later.context["config"]["groups"] is False
    assert b"similar images: deselect" not in later.content


def test_without_embeddings_the_grid_shows_no_groups(world, groups, client):
    ImageEmbedding.objects.all().delete()  # embedding at ingestion turned off, say
    client.force_login(world.reviewer)
    page = client.get("/clients/alpha/review/?mode=grid")
    assert page.context["config"]["groups"] is False
