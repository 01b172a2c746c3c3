"""The suspect-labels queue: ranked, with its reasons, for the client's own images only;
keep / relabel / exclude are stored and audited, and the training dataset honours them."""

import json

import pytest
from django.urls import reverse

from labelling.models import AuditAction, AuditEvent, ImageLabel, ImageStatus
from labelling.models.images import LabelSource
from tests import factories
from training.models import (
    LabelAudit,
    LabelNoiseScore,
    RunStatus,
    SuspectDecision,
    TrainingExclusion,
)
from training.services.dataset import verified_dataset

pytestmark = pytest.mark.django_db


def verified(client, label):
    image = factories.ImageFactory(client=client, status=ImageStatus.VERIFIED)
    ImageLabel.objects.create(image=image, label=label, source=LabelSource.HUMAN)
    return image


@pytest.fixture
def queue(world):
    """A finished audit with two suspects of client A (ranks 1 and 3), one of client B
    (rank 2) and one clean image of client A."""
    from django.utils import timezone

    labels = world.labels
    audit = LabelAudit.objects.create(
        taxonomy=world.taxonomy,
        status=RunStatus.SUCCEEDED,
        finished_at=timezone.now(),
        n_images=4,
        n_suspects=3,
    )

    def score(client, rank, *, suspect=True, label=labels.smiling, suggested=labels.building):
        image = verified(client, label)
        return LabelNoiseScore.objects.create(
            audit=audit,
            image=image,
            label=label,
            suggested=suggested,
            rank=rank,
            score=1 - rank / 10,
            self_confidence=0.1,
            suggested_probability=0.9,
            neighbour_disagreement=0.8,
            neighbour_labels=[suggested.pk] * 8 + [label.pk] * 2,
            confident_learning=True,
            spread=0.1,
            votes=3,
            is_suspect=suspect,
        )

    world.first = score(world.client_a, 1)
    world.theirs = score(world.client_b, 2)
    world.second = score(world.client_a, 3)
    world.clean = score(world.client_a, 4, suspect=False, suggested=labels.smiling)
    for _ in range(2):  # the dataset needs two images of each label
        verified(world.client_a, labels.building)
    return world


def page_items(client, world):
    response = client.get(reverse("suspects", args=[world.client_a.slug]))
    assert response.status_code == 200
    return response, response.context["config"]["items"]


def decide(client, world, score, **body):
    return client.post(
        reverse("suspect-decide", args=[world.client_a.slug, score.pk]),
        data=json.dumps(body),
        content_type="application/json",
    )


def test_it_lists_the_clients_own_open_suspects_ranked_with_their_reasons(client, queue):
    client.force_login(queue.reviewer)
    response, items = page_items(client, queue)
    assert [i["id"] for i in items] == [queue.first.pk, queue.second.pk]
    reasons = " ".join(items[0]["reasons"])
    assert "give its label 10%" in reasons and "Building (90%)" in reasons
    assert "8 of its 10 nearest images carry another label (Building ×8" in reasons
    assert "Confident learning" in reasons
    assert b"suspects.js" in response.content


def test_keep_is_stored_and_audited_and_leaves_the_queue(client, queue):
    client.force_login(queue.reviewer)
    assert decide(client, queue, queue.first, decision="keep").status_code == 200
    queue.first.refresh_from_db()
    assert queue.first.decision == SuspectDecision.KEEP
    assert queue.first.decided_by == queue.reviewer
    event = AuditEvent.objects.get(action=AuditAction.SUSPECT_LABEL_DECIDED)
    assert event.actor == queue.reviewer and event.client == queue.client_a
    assert event.detail["decision"] == "keep" and event.detail["image"] == queue.first.image_id
    _, items = page_items(client, queue)
    assert [i["id"] for i in items] == [queue.second.pk]
    again = decide(client, queue, queue.first, decision="exclude")
    assert again.status_code == 409


def test_relabel_replaces_the_label_the_next_training_reads(client, queue):
    client.force_login(queue.reviewer)
    building = queue.labels.building
    response = decide(client, queue, queue.first, decision="relabel", label=building.pk)
    assert response.status_code == 200, response.content
    labels = list(ImageLabel.objects.filter(image=queue.first.image_id))
    assert [(x.label_id, x.source) for x in labels] == [(building.pk, LabelSource.HUMAN)]
    event = AuditEvent.objects.get(action=AuditAction.SUSPECT_LABEL_DECIDED)
    assert event.detail["new_label"] == building.pk
    dataset = verified_dataset(queue.taxonomy)
    row = [i.pk for i in dataset.images].index(queue.first.image_id)
    assert dataset.class_labels[dataset.targets[row]] == building.pk


def test_exclude_takes_the_image_out_of_the_training_dataset(client, queue):
    client.force_login(queue.owner)
    assert decide(client, queue, queue.second, decision="exclude").status_code == 200
    assert TrainingExclusion.objects.filter(image=queue.second.image_id).exists()
    assert queue.second.image_id not in {i.pk for i in verified_dataset(queue.taxonomy).images}


@pytest.mark.parametrize(
    "body, message",
    [
        ({"decision": "burn"}, "unknown decision"),
        ({"decision": "relabel"}, "needs the new label"),
        ({"decision": "relabel", "label": 999999}, "not an active label"),
        ({"decision": "relabel", "label": "x"}, "Send JSON"),
    ],
)
def test_bad_decisions_get_a_clear_error_and_change_nothing(client, queue, body, message):
    client.force_login(queue.reviewer)
    response = decide(client, queue, queue.first, **body)
    assert response.status_code == 400 and message in response.json()["detail"]
    queue.first.refresh_from_db()
    assert queue.first.decision == "" and not AuditEvent.objects.exists()


def test_another_clients_suspect_is_a_404_and_a_librarian_is_refused(client, queue):
    client.force_login(queue.reviewer)
    assert decide(client, queue, queue.theirs, decision="keep").status_code == 404
    client.force_login(queue.outsider)  # client B's admin, same sector
    assert client.get(reverse("suspects", args=[queue.client_a.slug])).status_code == 404
    assert decide(client, queue, queue.first, decision="keep").status_code == 404
    client.force_login(queue.librarian)
    assert client.get(reverse("suspects", args=[queue.client_a.slug])).status_code == 403
    queue.first.refresh_from_db()
    assert queue.first.decision == ""


def test_an_admin_can_start_an_audit_and_a_reviewer_cannot(
    client, queue, django_capture_on_commit_callbacks, monkeypatch
):
    from training import tasks

    sent = []
    monkeypatch.setattr(tasks.audit_labels, "delay", sent.append)
    url = reverse("suspects-audit", args=[queue.client_a.slug])
    client.force_login(queue.reviewer)
    assert client.post(url).status_code == 403
    client.force_login(queue.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url)
    assert response.status_code == 302
    audit = LabelAudit.objects.get(status=RunStatus.QUEUED)
    assert sent == [audit.pk] and audit.requested_by == queue.owner
    assert AuditEvent.objects.filter(action=AuditAction.LABEL_AUDIT_REQUESTED).count() == 1


def test_a_label_kept_once_is_not_asked_about_again_by_the_next_audit(client, queue):
    from django.utils import timezone

    client.force_login(queue.reviewer)
    decide(client, queue, queue.first, decision="keep")
    later = LabelAudit.objects.create(
        taxonomy=queue.taxonomy, status=RunStatus.SUCCEEDED, finished_at=timezone.now()
    )
    for rank, old in enumerate([queue.first, queue.second], start=1):
        old.pk, old.audit, old.rank, old.decision = None, later, rank, ""
        old.decided_by = old.decided_at = None
        old.save()
    _, items = page_items(client, queue)
    assert [i["image"] for i in items] == [queue.second.image_id]
