""" "None of the above": a reviewer says an image fits no label of the taxonomy; such images
are gathered for the taxonomy's admins, grouped by their embeddings, and a group can become
a new label in one action."""

from __future__ import annotations

import uuid

import numpy as np
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from labelling.models import (
    AuditAction,
    AuditEvent,
    Image,
    ImageLabel,
    ImageStatus,
    Label,
    Review,
    ReviewDecision,
)
from labelling.models.images import LabelSource
from labelling.services import review as rs
from tests import factories
from tests.labelling.test_review_service import answer, give, make_queue, state
from training import tasks as training_tasks
from training.backbones import embedding_key, get_spec
from training.embedding_store import to_bytes
from training.models import ImageEmbedding, NoLabelGrouping
from training.new_label_clusters import cluster_candidates
from training.services.backfill import undecided_images
from training.services.dataset import MIN_IMAGES_PER_CLASS, verified_dataset

pytestmark = pytest.mark.usefixtures("fresh_review_windows")

BASE = "/api/v1/clients/alpha/review/"
DIM = 8


@pytest.fixture
def queue(world):
    return make_queue(world)


def say_no_label(world, image) -> Review:
    [item] = [i for i in give(world.client_a, world.reviewer, count=10) if i.image.pk == image.pk]
    [review] = rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(item, "no_label")]
    )
    return review


# --- The decision ------------------------------------------------------------------------


def test_none_of_the_above_leaves_the_queue_with_no_label_and_is_audited(world, queue):
    image = queue.images[0]
    review = say_no_label(world, image)

    assert state(image) == (ImageStatus.NO_LABEL, [])
    assert review.decision == ReviewDecision.NO_LABEL and review.reviewer == world.reviewer
    assert image.pk not in [i.image.pk for i in give(world.client_a, world.reviewer, count=50)]
    event = AuditEvent.objects.get(action=AuditAction.NO_LABEL_MARKED)
    assert event.actor == world.reviewer and event.client == world.client_a
    assert event.detail["images"] == [image.pk]


def test_an_image_that_fits_no_label_is_never_auto_tagged_nor_trained_on(world, queue):
    image = queue.images[0]
    say_no_label(world, image)

    # The backfill of a new model version reads only undecided images, and the transition
    # table lets nothing but a person's decision out of no_label.
    assert image.pk not in set(undecided_images(world.taxonomy).values_list("pk", flat=True))
    assert Image.objects.filter(pk=image.pk).move_status(ImageStatus.PROCESSING) == 0
    for label in (world.labels.smiling, world.labels.building):
        for _ in range(MIN_IMAGES_PER_CLASS):
            verified = factories.ImageFactory(client=world.client_a, status=ImageStatus.VERIFIED)
            ImageLabel.objects.create(image=verified, label=label, source=LabelSource.HUMAN)
    training_set = [i.pk for i in verified_dataset(world.taxonomy).images]
    assert len(training_set) == 2 * MIN_IMAGES_PER_CLASS and image.pk not in training_set


def test_none_of_the_above_takes_no_labels(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    with pytest.raises(ValidationError, match="fits none of the taxonomy's labels"):
        rs.review_submit(
            client=world.client_a,
            reviewer=world.reviewer,
            decisions=[answer(item, "no_label", labels=[world.labels.smiling])],
        )
    assert state(item.image)[0] == ImageStatus.NEEDS_REVIEW
    assert not AuditEvent.objects.filter(action=AuditAction.NO_LABEL_MARKED).exists()


def test_undo_puts_an_auto_tagged_image_back_as_it_was_and_says_so(world, queue):
    before = state(queue.auto)
    [item] = give(world.client_a, world.reviewer, count=1, status=ImageStatus.AUTO_TAGGED)
    rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(item, "no_label")]
    )
    assert state(queue.auto) == (ImageStatus.NO_LABEL, [])

    outcome = rs.review_undo(client=world.client_a, reviewer=world.reviewer)

    assert state(queue.auto) == before
    assert [i.image.pk for i in outcome.items] == [queue.auto.pk]  # held again, to decide anew
    undone = AuditEvent.objects.get(action=AuditAction.NO_LABEL_UNDONE)
    assert undone.detail["images"] == [queue.auto.pk]


# --- The API -----------------------------------------------------------------------------


def held(api, **body):
    response = api.post(BASE + "next/", body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["items"]


def test_the_api_takes_none_of_the_above(world, queue, api_client_for):
    api = api_client_for(world.reviewer)
    [item] = held(api, count=1)
    body = {
        "decisions": [
            {"image": item["id"], "lease": item["lease"]["token"], "decision": "no_label"}
        ]
    }

    response = api.post(BASE + "decisions/", body, format="json")

    assert response.status_code == 201, response.json()
    [result] = response.json()["reviews"]
    assert (result["decision"], result["status"], result["labels"]) == ("no_label", "no_label", [])
    undo = api.post(BASE + "undo/", {}, format="json")
    assert undo.status_code == 200 and undo.json()["items"][0]["id"] == item["id"]
    assert Image.objects.get(pk=item["id"]).status == ImageStatus.NEEDS_REVIEW


def test_the_api_refuses_bad_no_label_decisions_and_stores_nothing(world, queue, api_client_for):
    api = api_client_for(world.reviewer)
    [item] = held(api, count=1)
    lease = item["lease"]["token"]
    cases = [
        # labels with it
        (
            {
                "image": item["id"],
                "lease": lease,
                "decision": "no_label",
                "labels": [world.labels.smiling.pk],
            },
            "fits none",
        ),
        # wrong types
        ({"image": "first", "lease": lease, "decision": "no_label"}, "image"),
        ({"image": item["id"], "lease": lease, "decision": "no_label", "labels": "none"}, "labels"),
        ({"image": item["id"], "lease": lease, "decision": ["no_label"]}, "decision"),
        # an image that does not exist, and one of another client: the same words
        (
            {"image": 987654, "lease": lease, "decision": "no_label"},
            "No image 987654 in this client",
        ),
        (
            {"image": queue.other.pk, "lease": str(uuid.uuid4()), "decision": "no_label"},
            f"No image {queue.other.pk} in this client",
        ),
    ]
    for bad, words in cases:
        response = api.post(BASE + "decisions/", {"decisions": [bad]}, format="json")
        assert response.status_code == 400, bad
        assert words in str(response.json()), (bad, response.json())
    assert Image.objects.get(pk=item["id"]).status == ImageStatus.NEEDS_REVIEW
    assert state(queue.other)[0] == ImageStatus.NEEDS_REVIEW
    assert not Review.objects.exists()


def test_another_clients_queue_is_a_404(world, queue, api_client_for):
    api = api_client_for(world.reviewer)
    body = {
        "decisions": [{"image": queue.other.pk, "lease": str(uuid.uuid4()), "decision": "no_label"}]
    }
    response = api.post("/api/v1/clients/beta/review/decisions/", body, format="json")
    assert response.status_code == 404
    assert state(queue.other)[0] == ImageStatus.NEEDS_REVIEW


def test_the_review_page_offers_it_on_its_own_key(world, queue, client):
    client.force_login(world.reviewer)
    page = client.get(reverse("review-queue", args=[world.client_a.slug])).content.decode()
    assert 'data-action="no-label"' in page and "None of the above <kbd>n</kbd>" in page
    assert "<dt>n</dt><dd>none of the above" in page


# --- Grouping ----------------------------------------------------------------------------


def planted(rng, *, axis: int, n: int) -> np.ndarray:
    X = rng.normal(0, 0.08, (n, DIM))
    X[:, axis] += 1.0
    return X


def test_clustering_separates_two_planted_groups():
    rng = np.random.default_rng(0)
    X = np.vstack([planted(rng, axis=0, n=12), planted(rng, axis=3, n=7)])
    groups, silhouette = cluster_candidates(X)
    assert sorted(map(sorted, groups)) == [list(range(12)), list(range(12, 19))]
    assert groups[0] == list(range(12))  # largest first
    assert silhouette > 0.5


def test_clustering_finds_three_groups_and_leaves_tiny_sets_whole():
    rng = np.random.default_rng(1)
    X = np.vstack([planted(rng, axis=a, n=n) for a, n in [(0, 5), (2, 9), (6, 7)]])
    groups, _ = cluster_candidates(X)
    assert [sorted(g) for g in groups] == [list(range(5, 14)), list(range(14, 21)), list(range(5))]
    assert cluster_candidates(rng.normal(0, 1.0, (3, DIM))) == ([[0, 1, 2]], None)
    assert cluster_candidates(np.zeros((0, DIM))) == ([], None)


def store_embedding(image, vector) -> None:
    backbone = settings.DEFAULT_BACKBONE
    ImageEmbedding.objects.create(
        image=image,
        key=embedding_key(backbone, get_spec(backbone).default_embedding),
        dim=DIM,
        vector=to_bytes(np.asarray(vector, dtype=np.float32)),
    )


@pytest.fixture
def no_label_world(world):
    """Client A's images that fit no label: two planted groups and one image without an
    embedding; client B has one too."""
    rng = np.random.default_rng(3)
    groups = []
    for axis, n in [(1, 6), (5, 4)]:
        images = []
        for vector in planted(rng, axis=axis, n=n):
            image = factories.ImageFactory(client=world.client_a, status=ImageStatus.NO_LABEL)
            store_embedding(image, vector)
            images.append(image)
        groups.append(images)
    bare = factories.ImageFactory(client=world.client_a, status=ImageStatus.NO_LABEL)
    other = factories.ImageFactory(client=world.client_b, status=ImageStatus.NO_LABEL)
    store_embedding(other, planted(rng, axis=1, n=1)[0])
    return groups, bare, other


def test_the_worker_groups_them_and_keeps_those_without_embeddings_apart(world, no_label_world):
    (drones, sketches), bare, other = no_label_world
    training_tasks.group_no_label.apply(args=[world.client_a.pk]).get()

    grouping = NoLabelGrouping.objects.get(client=world.client_a)
    assert [sorted(g) for g in grouping.groups] == [
        sorted(i.pk for i in drones),
        sorted(i.pk for i in sketches),
    ]
    assert grouping.apart == [bare.pk]
    assert other.pk not in {pk for g in grouping.groups for pk in g}


def page_url(world):
    return reverse("new-label-candidates", args=[world.client_a.slug])


def test_the_page_asks_a_worker_for_groups_once_and_shows_them(
    world, no_label_world, client, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(training_tasks.group_no_label, "delay", lambda pk: sent.append(pk))
    client.force_login(world.owner)
    with django_capture_on_commit_callbacks(execute=True):
        first = client.get(page_url(world))
        client.get(page_url(world))  # asked already, not answered yet: not again
    assert first.status_code == 200 and sent == [world.client_a.pk]
    assert 'id="grouping-pending"' in first.content.decode()

    training_tasks.group_no_label.apply(args=[world.client_a.pk]).get()
    page = client.get(page_url(world))
    html = page.content.decode()
    (drones, sketches), bare, other = no_label_world
    assert [g["size"] for g in page.context["groups"]] == [6, 4]
    assert 'id="grouping-pending"' not in html
    assert f'value="{drones[0].pk}" checked' in html and 'id="without-embedding"' in html
    assert f"#{other.pk}<" not in html
    # A client admin who does not maintain the sector sees the groups, not the action.
    assert 'data-action="create-label"' not in html
    assert sent == [world.client_a.pk]


@pytest.mark.parametrize("who, status", [("reviewer", 403), ("librarian", 403), ("outsider", 404)])
def test_only_admins_and_maintainers_of_the_client_see_it(
    world, no_label_world, client, who, status
):
    client.force_login(getattr(world, who))
    assert client.get(page_url(world)).status_code == status


def test_a_maintainer_creates_a_label_from_the_kept_images_of_a_group(
    world, no_label_world, client
):
    (drones, sketches), bare, _ = no_label_world
    training_tasks.group_no_label.apply(args=[world.client_a.pk]).get()
    version = world.taxonomy.version
    kept, dropped = drones[:5], drones[5]
    client.force_login(world.maintainer)
    page = client.get(page_url(world))
    assert 'data-action="create-label"' in page.content.decode()

    response = client.post(
        page_url(world),
        {"group": "1", "name": "Drone shots", "key": "", "images": [i.pk for i in kept]},
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    label = Label.objects.get(taxonomy=world.taxonomy, key="drone-shots")
    assert label.name == "Drone shots" and label.is_active
    world.taxonomy.refresh_from_db()
    assert world.taxonomy.version == version + 1
    assert AuditEvent.objects.filter(
        action=AuditAction.LABEL_ADDED, actor=world.maintainer
    ).exists()
    for image in kept:
        assert state(image) == (ImageStatus.VERIFIED, [(label.pk, LabelSource.HUMAN, None)])
        assert Review.objects.get(image=image).reviewer == world.maintainer
    assert state(dropped)[0] == ImageStatus.NO_LABEL
    after = client.get(page_url(world)).content.decode()
    assert "Added “Drone shots” and gave it to 5 image(s)." in after
    # What is left of the groups is still grouped: nothing to ask the worker for.
    assert 'id="grouping-pending"' not in after and f'value="{dropped.pk}" checked' in after


def test_the_action_refuses_what_it_cannot_do_and_changes_nothing(world, no_label_world, client):
    (drones, _), _, other = no_label_world
    labels = Label.objects.count()
    client.force_login(world.owner)  # a client admin, not a maintainer
    body = {"group": "1", "name": "Drones", "images": [drones[0].pk]}
    assert client.post(page_url(world), body).status_code == 403

    client.force_login(world.maintainer)
    verified = factories.ImageFactory(client=world.client_a, status=ImageStatus.VERIFIED)
    for images, words in [
        ([], "Choose at least one image"),
        ([other.pk], f"Image {other.pk} no longer fits no label"),
        ([verified.pk], f"Image {verified.pk} no longer fits no label"),
    ]:
        response = client.post(page_url(world), {**body, "images": images})
        assert response.status_code == 400
        assert words in response.content.decode()
    taken = client.post(page_url(world), {**body, "key": "smiling"})
    assert taken.status_code == 400 and "already used" in taken.content.decode()
    assert Label.objects.count() == labels
    assert state(drones[0])[0] == ImageStatus.NO_LABEL
    assert not ImageLabel.objects.filter(image=drones[0]).exists()


def test_review_statistics_count_none_of_the_above_on_their_own(world, queue, client):
    from labelling.services.review_stats import review_stats

    say_no_label(world, queue.images[0])
    say_no_label(world, queue.images[1])
    stats = review_stats(client=world.client_a, days=7)
    [rita] = [row.tally for row in stats.days if row.reviewer == "rita"]
    assert (rita.decisions, rita.no_label, rita.rejected, rita.accepted) == (2, 2, 0, 0)
    client.force_login(world.owner)
    page = client.get(reverse("review-stats", args=[world.client_a.slug])).content.decode()
    assert "None of the above</th>" in page


@pytest.fixture
def training_worker(transactional_db):
    from celery.contrib.testing.worker import start_worker

    from taxonomy_site.celery import app

    app.control.purge()  # no message left by another test is consumed here
    with start_worker(
        app, pool="solo", queues=["training"], perform_ping_check=False, shutdown_timeout=10
    ) as worker:
        yield worker


def test_a_real_worker_answers_the_pages_request_for_groups(
    world, no_label_world, client, training_worker
):
    import time

    (drones, sketches), bare, _ = no_label_world
    client.force_login(world.owner)
    assert 'id="grouping-pending"' in client.get(page_url(world)).content.decode()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        grouping = NoLabelGrouping.objects.filter(client=world.client_a).first()
        if grouping is not None and grouping.computed_at is not None:
            break
        time.sleep(0.2)
    page = client.get(page_url(world))
    assert [g["size"] for g in page.context["groups"]] == [len(drones), len(sketches)]
    assert 'id="grouping-pending"' not in page.content.decode()


def test_the_image_page_says_why_and_leads_an_admin_to_the_candidates(world, queue, client):
    image = queue.images[0]
    say_no_label(world, image)
    url = reverse("image-detail", args=[world.client_a.slug, image.pk])
    client.force_login(world.owner)
    html = client.get(url).content.decode()
    assert "Fits no label" in html and f'href="{page_url(world)}"' in html
    client.force_login(world.librarian)
    html = client.get(url).content.decode()
    assert "fits no label of the taxonomy" in html and page_url(world) not in html


# --- The candidates over the API ----------------------------------------------------------

API = "/api/v1/clients/alpha/new-labels/"


def test_the_api_lists_the_groups_to_admins_and_maintainers_only(
    world, no_label_world, api_client_for
):
    (drones, sketches), bare, other = no_label_world
    training_tasks.group_no_label.apply(args=[world.client_a.pk]).get()
    body = api_client_for(world.owner).get(API).json()
    assert body["total"] == 11 and body["up_to_date"] is True
    assert [sorted(i["id"] for i in g["images"]) for g in body["groups"]] == [
        sorted(i.pk for i in drones),
        sorted(i.pk for i in sketches),
    ]
    assert [i["id"] for i in body["without_embedding"]] == [bare.pk]
    listed = [i["id"] for part in ("without_embedding", "not_grouped_yet") for i in body[part]]
    listed += [i["id"] for g in body["groups"] for i in g["images"]]
    assert other.pk not in listed and len(listed) == 11
    assert api_client_for(world.reviewer).get(API).status_code == 403
    assert api_client_for(world.outsider).get(API).status_code == 404
    own = api_client_for(world.outsider).get("/api/v1/clients/beta/new-labels/").json()
    assert [i["id"] for i in own["not_grouped_yet"]] == [other.pk] and own["total"] == 1


def test_a_maintainer_makes_a_label_over_the_api(world, no_label_world, api_client_for):
    (drones, _), _, other = no_label_world
    api = api_client_for(world.maintainer)
    ids = [i.pk for i in drones[:3]]

    response = api.post(API, {"name": "Drone shots", "images": ids}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["label"]["key"] == "drone-shots"
    assert [r["status"] for r in body["reviews"]] == ["verified"] * 3
    assert all(state(i)[0] == ImageStatus.VERIFIED for i in drones[:3])


@pytest.mark.parametrize(
    "body, words",
    [
        ({"name": "Drones", "images": []}, "images"),
        ({"name": "Drones", "images": "all"}, "images"),
        ({"name": "Drones", "images": [987654]}, "Image 987654 is not one of this client's"),
        ({"name": "", "images": [1]}, "name"),
        ({"name": "Drones", "key": "smiling", "images": None}, "images"),
        ({"name": "Drones", "parent": 987654, "images": [1]}, "no label 987654"),
    ],
)
def test_the_api_refuses_bad_new_labels(world, no_label_world, api_client_for, body, words):
    labels = Label.objects.count()
    response = api_client_for(world.maintainer).post(API, body, format="json")
    assert response.status_code == 400 and words in str(response.json())
    assert Label.objects.count() == labels


def test_the_api_refuses_another_clients_image_and_a_taken_key(
    world, no_label_world, api_client_for
):
    (drones, _), _, other = no_label_world
    api = api_client_for(world.maintainer)
    foreign = api.post(API, {"name": "Drones", "images": [other.pk]}, format="json")
    assert foreign.status_code == 400 and f"Image {other.pk} is not one" in str(foreign.json())
    taken = api.post(
        API, {"name": "Drones", "key": "smiling", "images": [drones[0].pk]}, format="json"
    )
    assert taken.status_code == 400 and "already used" in str(taken.json())
    assert state(drones[0])[0] == ImageStatus.NO_LABEL
    admin = api_client_for(world.owner).post(
        API, {"name": "D", "images": [drones[0].pk]}, format="json"
    )
    assert admin.status_code == 403
