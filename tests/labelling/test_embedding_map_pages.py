"""The embedding map's page and endpoints: who sees what (another client's map is a 404),
the points in one compact answer, lasso labelling stored as reviews and taken back by undo,
and asking for a new layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from labelling.models import (
    AuditAction,
    AuditEvent,
    ImageLabel,
    ImageStatus,
    Review,
    ReviewSnapshot,
)
from labelling.models.images import LabelSource
from tests import factories
from training import tasks
from training.models import EmbeddingMap, RunStatus
from training.services.embedding_map import QUANT, Layout, layout_bytes

pytestmark = pytest.mark.django_db


def stored_map(client, images, *, seed=0) -> EmbeddingMap:
    """A finished map of ``images`` at random places, as the worker stores one."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(-1, 1, size=(len(images), 2)).astype(np.float32)
    data = layout_bytes(Layout(image_ids=np.asarray([i.pk for i in images]), xy=xy))
    import hashlib

    name = default_storage.save(f"maps/{client.pk}/test.npz", ContentFile(data))
    return EmbeddingMap.objects.create(
        client=client,
        status=RunStatus.SUCCEEDED,
        file=name,
        file_sha256=hashlib.sha256(data).hexdigest(),
        n_points=len(images),
        method="opentsne",
        embedding_key="efficientnet_lite0",
        finished_at=timezone.now(),
    )


@pytest.fixture
def mapped(world):
    """Client A: two verified Smiling images, three waiting for review (one with a machine
    tag), one still processing; all but the processing one on a stored map. Client B: its
    own image and map."""
    smiling = world.labels.smiling
    verified = [factories.ImageFactory(client=world.client_a, status="verified") for _ in "ab"]
    for image in verified:
        ImageLabel.objects.create(image=image, label=smiling, source=LabelSource.HUMAN)
    waiting = [factories.ImageFactory(client=world.client_a, status="needs_review") for _ in "abc"]
    ImageLabel.objects.create(
        image=waiting[0], label=world.labels.building, source=LabelSource.MACHINE, probability=0.6
    )
    processing = factories.ImageFactory(client=world.client_a, status="processing")
    world.verified, world.waiting, world.processing = verified, waiting, processing
    world.map_a = stored_map(world.client_a, verified + waiting + [processing])
    world.theirs = factories.ImageFactory(client=world.client_b, status="needs_review")
    world.map_b = stored_map(world.client_b, [world.theirs])
    return world


def url(name, world):
    return reverse(name, args=[world.client_a.slug])


def post(client, name, world, body=None):
    return client.post(
        url(name, world), data=json.dumps(body or {}), content_type="application/json"
    )


def test_every_member_sees_the_map_page_with_its_config(client, mapped):
    for user in (mapped.owner, mapped.librarian, mapped.reviewer):
        client.force_login(user)
        response = client.get(url("map", mapped))
        assert response.status_code == 200
        config = response.context["config"]
        assert config["canLabel"] is True
        assert config["thumbnail"] == "/clients/alpha/images/{id}/thumbnail"
        assert [label["path"] for label in config["labels"]] == [
            "Building",
            "Not smiling",
            "Smiling",
        ]
        html = response.content.decode()
        assert "regl-scatterplot" in html and 'type="importmap"' in html and "js/map.js" in html
    # The navigation links the page from every page of the client.
    assert (
        'href="/clients/alpha/map/"'
        in client.get(reverse("library", args=["alpha"])).content.decode()
    )


@pytest.mark.parametrize(
    "name, method",
    [
        ("map", "get"),
        ("map-points", "get"),
        ("map-state", "get"),
        ("map-compute", "post"),
        ("map-label", "post"),
        ("map-undo", "post"),
    ],
)
def test_another_clients_map_is_a_404(client, mapped, name, method):
    client.force_login(mapped.outsider)  # client B's admin
    response = getattr(client, method)(url(name, mapped))
    assert response.status_code == 404
    client.logout()
    assert getattr(client, method)(url(name, mapped)).status_code == 302  # to the login page


def test_the_points_come_in_one_compact_answer(client, mapped, django_assert_max_num_queries):
    client.force_login(mapped.reviewer)
    # Session, user, membership, the map, statuses, labels, names: not one per point.
    with django_assert_max_num_queries(10):
        response = client.get(url("map-points", mapped))
    assert response.status_code == 200
    data = response.json()
    # The processing image is on the stored map but not ingested: it stays; client B's never.
    ids = [i.pk for i in mapped.verified + mapped.waiting + [mapped.processing]]
    assert data["ids"] == ids and data["count"] == 6 and mapped.theirs.pk not in data["ids"]
    assert all(0 <= v <= QUANT for v in data["x"] + data["y"])
    names = [label["name"] for label in data["labels"]]
    assert names == ["Smiling", "Building"]  # commonest first
    assert data["label"] == [0, 0, 1, -1, -1, -1]
    status = [data["statuses"][code]["key"] for code in data["status"]]
    assert status == [
        "verified",
        "verified",
        "needs_review",
        "needs_review",
        "needs_review",
        "processing",
    ]
    assert data["unlabelled"] == 3 and data["notOnMap"] == 0


def test_no_map_yet_says_so(client, world):
    client.force_login(world.owner)
    response = client.get(url("map-points", world))
    assert response.status_code == 404 and "No map" in response.json()["detail"]


def test_a_lasso_is_labelled_in_one_submission_audited_and_undone(client, mapped):
    client.force_login(mapped.librarian)
    building = mapped.labels.building
    lasso = [i.pk for i in mapped.waiting] + [mapped.verified[0].pk]
    response = post(client, "map-label", mapped, {"images": lasso, "label": building.pk})
    assert response.status_code == 200, response.content
    assert sorted(response.json()["labelled"]) == sorted(lasso)
    for pk in lasso:
        labels = list(ImageLabel.objects.filter(image=pk).values_list("label", "source"))
        assert labels == [(building.pk, LabelSource.HUMAN)]
    reviews = Review.objects.filter(image__in=lasso)
    assert reviews.count() == 4 and {r.reviewer for r in reviews} == {mapped.librarian}
    assert {r.previous_status for r in reviews} == {"needs_review", "verified"}
    snapshots = ReviewSnapshot.objects.filter(review__in=reviews)
    assert len({s.submission for s in snapshots}) == 1  # one action, one undo
    event = AuditEvent.objects.get(action=AuditAction.MAP_GROUP_LABELLED)
    assert (event.actor, event.client_id) == (mapped.librarian, mapped.client_a.pk)
    assert event.detail["label"] == building.pk
    assert sorted(event.detail["images"]) == sorted(lasso)
    assert "4 image(s)" in event.summary and building.name in event.summary

    undone = post(client, "map-undo", mapped)
    assert undone.status_code == 200 and sorted(undone.json()["undone"]) == sorted(lasso)
    assert list(
        ImageLabel.objects.filter(image=mapped.verified[0]).values_list("label", flat=True)
    ) == [mapped.labels.smiling.pk]
    assert ImageLabel.objects.get(image=mapped.waiting[0]).source == LabelSource.MACHINE
    assert {i.status for i in type(mapped.processing).objects.filter(pk__in=lasso[:3])} == {
        ImageStatus.NEEDS_REVIEW
    }


def test_a_lasso_leaves_out_what_cannot_be_decided_and_what_already_has_the_label(client, mapped):
    client.force_login(mapped.reviewer)
    smiling = mapped.labels.smiling
    lasso = [mapped.verified[0].pk, mapped.processing.pk, mapped.waiting[1].pk]
    response = post(client, "map-label", mapped, {"images": lasso, "label": smiling.pk})
    assert response.status_code == 200
    assert response.json()["labelled"] == [mapped.waiting[1].pk]
    assert response.json()["skipped"] == {"cannot be decided now": 1, "already had this label": 1}
    mapped.processing.refresh_from_db()
    assert mapped.processing.status == ImageStatus.PROCESSING


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"images": [], "label": 1}, 400, "at least one image"),
        ({"images": ["x"], "label": 1}, 400, "Send JSON"),
        ({"label": 1}, 400, "Send JSON"),
        ({"images": list(range(1, 5002)), "label": 1}, 400, "At most 5000 images"),
    ],
)
def test_a_bad_lasso_is_refused_in_words(client, mapped, body, status, words):
    client.force_login(mapped.owner)
    response = post(client, "map-label", mapped, body)
    assert response.status_code == status and words in response.json()["detail"]


def test_a_lasso_with_another_clients_image_stores_nothing(client, mapped):
    client.force_login(mapped.owner)
    lasso = [mapped.waiting[1].pk, mapped.theirs.pk]
    response = post(
        client, "map-label", mapped, {"images": lasso, "label": mapped.labels.smiling.pk}
    )
    assert (
        response.status_code == 400 and f"No image {mapped.theirs.pk}" in response.json()["detail"]
    )
    assert not Review.objects.exists()
    assert not ImageLabel.objects.filter(image=mapped.waiting[1]).exists()


def test_a_label_of_another_taxonomy_stores_nothing(client, mapped):
    client.force_login(mapped.owner)
    foreign = factories.LabelFactory(taxonomy=factories.TaxonomyFactory())
    response = post(
        client, "map-label", mapped, {"images": [mapped.waiting[1].pk], "label": foreign.pk}
    )
    assert response.status_code == 400 and "not an active label" in response.json()["detail"]
    assert not Review.objects.exists()


def test_asking_for_a_new_layout_queues_one_task_and_shows_its_state(
    client, mapped, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.compute_embedding_map, "delay", queued.append)
    client.force_login(mapped.reviewer)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, "map-compute", mapped)
        again = post(client, "map-compute", mapped)
    assert first.status_code == 202 and first.json()["latest"]["status"] == "queued"
    assert again.json()["latest"]["id"] == first.json()["latest"]["id"] and len(queued) == 1
    state = client.get(url("map-state", mapped)).json()["latest"]
    assert state["id"] == queued[0] and state["statusName"] == "Queued"
    EmbeddingMap.objects.filter(pk=queued[0]).update(status="failed", message="No images.")
    state = client.get(url("map-state", mapped)).json()["latest"]
    assert (state["status"], state["message"]) == ("failed", "No images.")
    # The last finished map is still what the page draws meanwhile.
    assert client.get(url("map-points", mapped)).json()["map"]["id"] == mapped.map_a.pk


def test_images_ingested_since_the_layout_are_counted_as_not_on_the_map(client, mapped):
    factories.ImageFactory(client=mapped.client_a, status="needs_review")
    client.force_login(mapped.owner)
    data = client.get(url("map-points", mapped)).json()
    assert data["count"] == 6 and data["notOnMap"] == 1
