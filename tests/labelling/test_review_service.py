"""The review queue service: who gets which image, decisions, undo, release, statistics."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from labelling.models import (
    Image,
    ImageLabel,
    ImageStatus,
    Review,
    ReviewDecision,
    ReviewLease,
    Role,
    TaxonomyKind,
)
from labelling.models import images as images_module
from labelling.models.images import LabelSource
from labelling.selectors.queue import OLDEST, QueueFilters
from labelling.services import review as rs
from labelling.services.review import decisions as review_decisions
from labelling.services.review.leases import leases_claim
from labelling.services.review_stats import review_stats
from tests import factories
from training.models import ModelVersion

pytestmark = pytest.mark.usefixtures("fresh_review_windows")

# --- Helpers shared with the API, page and browser tests -------------------------------


def model_version(taxonomy, labels, number: int = 1) -> ModelVersion:
    return factories.ModelVersionFactory(taxonomy=taxonomy, labels=labels, number=number)


def predicted_image(client, version, ranked, *, status=ImageStatus.NEEDS_REVIEW, **kwargs):
    """An image of ``client`` with a prediction ranked [(label, p), ...] best first."""
    image = factories.ImageFactory(client=client, status=status, **kwargs)
    factories.PredictionFactory(image=image, model_version=version, scores=ranked)
    if status == ImageStatus.AUTO_TAGGED:
        ImageLabel.objects.create(
            image=image, label=ranked[0][0], source=LabelSource.MACHINE, probability=ranked[0][1]
        )
    return image


def make_queue(world, confidences=(0.41, 0.55, 0.62, 0.70, 0.83)):
    """Client A's images waiting for review, least certain first in ``images``; one
    auto-tagged image; one of client B's."""
    L = world.labels
    version = model_version(world.taxonomy, [L.smiling, L.not_smiling, L.building])
    images = []
    for n, p in enumerate(confidences):
        # Top label, runner-up, and the rest: Smiling / Not smiling / Building for the even
        # ones, Building / Smiling / Not smiling for the odd ones.
        ranks = (
            [L.smiling, L.not_smiling, L.building]
            if n % 2 == 0
            else [
                L.building,
                L.smiling,
                L.not_smiling,
            ]
        )
        second = round(min(p - 0.01, (1 - p) * 0.7), 3)
        ranked = list(zip(ranks, [p, second, round(second / 4, 3)], strict=True))
        images.append(predicted_image(world.client_a, version, ranked))
    auto = predicted_image(
        world.client_a, version, [(L.smiling, 0.97), (L.building, 0.02)], status="auto_tagged"
    )
    other = predicted_image(world.client_b, version, [(L.smiling, 0.3), (L.building, 0.2)])
    return SimpleNamespace(version=version, images=images, auto=auto, other=other)


def give(client, user, count=5, **filters):
    return rs.review_next(
        client=client, reviewer=user, filters=QueueFilters(**filters), count=count
    )


def answer(item, decision="accept", labels=(), seconds=2.0) -> rs.Decision:
    return rs.Decision(
        image=item.image.pk,
        decision=decision,
        labels=tuple(label.pk for label in labels),
        lease=item.lease.token,
        seconds_spent=seconds,
    )


def state(image: Image) -> tuple:
    image.refresh_from_db()
    labels = sorted(
        (il.label_id, il.source, il.probability) for il in ImageLabel.objects.filter(image=image)
    )
    return image.status, labels


@pytest.fixture
def queue(world):
    return make_queue(world)


@pytest.fixture
def second_reviewer(world):
    user = factories.UserFactory(username="ruth")
    factories.MembershipFactory(user=user, client=world.client_a, role=Role.REVIEWER)
    return user


def expire_all_holds() -> None:
    """Holds last minutes; the queue heads processes cache, seconds: by the time a hold
    has expired, every head has been read again."""
    ReviewLease.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    rs.review_windows_clear()


def ids(items) -> list[int]:
    return [item.image.pk for item in items]


# --- Handing out ---------------------------------------------------------------------------


def test_it_hands_out_the_least_certain_images_first(world, queue):
    items = give(world.client_a, world.reviewer, count=3)
    assert ids(items) == [i.pk for i in queue.images[:3]]
    assert all(item.lease.reviewer_id == world.reviewer.pk for item in items)
    assert items[0].suggested == [world.labels.smiling.pk]
    assert items[1].suggested == [world.labels.building.pk]


def test_oldest_first_is_an_option(world, queue):
    for n, image in enumerate(queue.images):
        Image.objects.filter(pk=image.pk).update(created_at=timezone.now() - timedelta(days=n + 1))
    items = give(world.client_a, world.reviewer, count=2, order=OLDEST)
    assert ids(items) == [queue.images[4].pk, queue.images[3].pk]


def test_the_newest_model_versions_prediction_counts(world, queue):
    L = world.labels
    newer = model_version(world.taxonomy, [L.smiling, L.not_smiling, L.building], number=2)
    image = queue.images[4]  # the most certain by version 1 (Smiling, 0.83)
    factories.PredictionFactory(image=image, model_version=newer, scores=[(L.building, 0.2)])
    [first] = give(world.client_a, world.reviewer, count=1)
    assert first.image == image
    assert first.prediction.model_version == newer
    assert first.suggested == [L.building.pk]


def test_it_filters_by_label_batch_and_status(world, queue):
    smiling = give(world.client_a, world.reviewer, count=9, label=world.labels.smiling.pk)
    assert ids(smiling) == [queue.images[0].pk, queue.images[2].pk, queue.images[4].pk]
    rs.review_release(client=world.client_a, reviewer=world.reviewer)

    batch = factories.UploadBatchFactory(client=world.client_a)
    Image.objects.filter(pk=queue.images[3].pk).update(batch=batch)
    assert ids(give(world.client_a, world.reviewer, batch=batch.pk)) == [queue.images[3].pk]

    audit = give(world.client_a, world.reviewer, status=ImageStatus.AUTO_TAGGED)
    assert ids(audit) == [queue.auto.pk]
    assert audit[0].suggested == [world.labels.smiling.pk]
    assert [il.source for il in audit[0].labels] == [LabelSource.MACHINE]


def test_it_never_hands_out_another_clients_images(world, queue):
    assert queue.other.pk not in ids(give(world.client_a, world.reviewer, count=50))
    assert ids(give(world.client_b, world.outsider, count=50)) == [queue.other.pk]


def test_asking_again_returns_the_same_holds_renewed(world, queue, settings):
    settings.REVIEW_LEASE_SECONDS = 60
    first = give(world.client_a, world.reviewer, count=2)
    ReviewLease.objects.update(expires_at=timezone.now() + timedelta(seconds=5))
    again = give(world.client_a, world.reviewer, count=3)
    assert ids(again)[:2] == ids(first)
    assert [i.lease.token for i in again[:2]] == [i.lease.token for i in first]
    assert all(
        lease.expires_at > timezone.now() + timedelta(seconds=50)
        for lease in ReviewLease.objects.all()
    )
    assert ReviewLease.objects.count() == 3


def test_two_reviewers_never_hold_the_same_image(world, queue, second_reviewer):
    rita = give(world.client_a, world.reviewer, count=3)
    ruth = give(world.client_a, second_reviewer, count=3)
    assert not set(ids(rita)) & set(ids(ruth))
    assert ids(ruth) == [queue.images[3].pk, queue.images[4].pk]


def test_a_claim_that_meets_a_live_hold_gets_nothing(world, queue, second_reviewer):
    # What a race looks like from inside: the candidates were read as free, and another
    # reviewer's hold landed before our insert. The unique hold per image decides.
    [held] = give(world.client_a, world.reviewer, count=1)
    now = timezone.now()
    got = leases_claim(
        client=world.client_a,
        reviewer=second_reviewer,
        candidates=[(held.image.pk, held.image.status_changed_at), (queue.images[1].pk, now)],
        now=now,
        expires=now + timedelta(minutes=5),
    )
    assert got == [queue.images[1].pk]
    assert ReviewLease.objects.get(image=held.image).reviewer == world.reviewer


def test_an_expired_hold_goes_to_the_next_reviewer_and_the_late_answer_is_refused(
    world, queue, second_reviewer
):
    [late] = give(world.client_a, world.reviewer, count=1)
    expire_all_holds()
    [taken] = give(world.client_a, second_reviewer, count=1)
    assert taken.image.pk == late.image.pk

    with pytest.raises(rs.ReviewConflict) as refused:
        rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(late)])
    assert refused.value.code == "taken"
    assert "another reviewer has it now" in str(refused.value)
    assert state(late.image) == (ImageStatus.NEEDS_REVIEW, [])
    assert not Review.objects.exists()


def test_an_expired_hold_nobody_took_can_still_be_answered(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    ReviewLease.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)])
    assert state(item.image)[0] == ImageStatus.VERIFIED


def test_released_and_skipped_images_go_back_to_the_queue(world, queue, second_reviewer):
    items = give(world.client_a, world.reviewer, count=2)
    released = rs.review_release(
        client=world.client_a, reviewer=world.reviewer, tokens=[items[0].lease.token]
    )
    assert released == 1
    assert ids(give(world.client_a, second_reviewer, count=1)) == [items[0].image.pk]
    # A skipped image is not handed straight back to the one who skipped it.
    again = rs.review_next(
        client=world.client_a,
        reviewer=world.reviewer,
        filters=QueueFilters(),
        count=2,
        exclude=[queue.images[2].pk],
    )
    assert ids(again) == [items[1].image.pk, queue.images[3].pk]
    assert rs.review_release(client=world.client_a, reviewer=world.reviewer) == 2


def test_an_out_of_date_queue_head_never_hands_out_a_decided_image(world, queue, second_reviewer):
    give(world.client_a, world.reviewer, count=1)  # reads the head and keeps it
    # Decided behind this process's back (another server process, say).
    Image.objects.filter(pk=queue.images[1].pk).update(
        status=ImageStatus.VERIFIED, status_changed_at=timezone.now()
    )
    assert ids(give(world.client_a, second_reviewer, count=2)) == [
        queue.images[2].pk,
        queue.images[3].pk,
    ]


def test_new_images_join_the_queue_head_when_it_is_read_again(
    world, queue, second_reviewer, settings
):
    settings.REVIEW_QUEUE_WINDOW_SECONDS = 60
    give(world.client_a, world.reviewer, count=1)
    L = world.labels
    newcomer = predicted_image(world.client_a, queue.version, [(L.building, 0.2)])
    assert ids(give(world.client_a, second_reviewer, count=1)) == [queue.images[1].pk]
    settings.REVIEW_QUEUE_WINDOW_SECONDS = 0
    assert ids(give(world.client_a, second_reviewer, count=2)) == [
        queue.images[1].pk,
        newcomer.pk,
    ]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's row locks")
@pytest.mark.django_db(transaction=True)
def test_concurrent_reviewers_on_postgresql_never_get_the_same_image(world):
    make_queue(world, confidences=[0.3 + i * 0.005 for i in range(120)])
    reviewers = [world.reviewer]
    for n in range(3):
        user = factories.UserFactory(username=f"rev{n}")
        factories.MembershipFactory(user=user, client=world.client_a, role=Role.REVIEWER)
        reviewers.append(user)
    given: dict[int, list[int]] = {user.pk: [] for user in reviewers}
    errors: list[BaseException] = []
    start = threading.Barrier(len(reviewers))

    def work(user):
        try:
            start.wait()
            while True:
                items = give(world.client_a, user, count=3)
                if not items:
                    return
                given[user.pk] += ids(items)
                rs.review_submit(
                    client=world.client_a,
                    reviewer=user,
                    decisions=[answer(item) for item in items],
                )
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(user,)) for user in reviewers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    handed = [pk for pks in given.values() for pk in pks]
    assert len(handed) == len(set(handed)) == 120
    assert all(given.values()), "every reviewer got work"
    assert Review.objects.count() == 120
    assert not Image.objects.filter(client=world.client_a, status="needs_review").exists()


# --- Decisions -----------------------------------------------------------------------------


def test_accepting_verifies_the_image_with_the_models_label_as_a_persons(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    [review] = rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(item, seconds=1.5)]
    )
    assert state(item.image) == (
        ImageStatus.VERIFIED,
        [(world.labels.smiling.pk, LabelSource.HUMAN, None)],
    )
    review.refresh_from_db()
    assert review.decision == ReviewDecision.ACCEPT
    assert review.prediction == item.prediction
    assert review.previous_status == ImageStatus.NEEDS_REVIEW
    assert review.seconds_spent == 1.5
    assert not review.corrected_auto_tag
    assert list(review.labels.all()) == [world.labels.smiling]
    assert not ReviewLease.objects.filter(image=item.image).exists()


def test_choosing_the_models_label_counts_as_accepting_it(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    [review] = rs.review_submit(
        client=world.client_a,
        reviewer=world.reviewer,
        decisions=[answer(item, "correct", [world.labels.smiling])],
    )
    assert review.decision == ReviewDecision.ACCEPT


def test_correcting_and_rejecting(world, queue):
    first, second = give(world.client_a, world.reviewer, count=2)
    reviews = rs.review_submit(
        client=world.client_a,
        reviewer=world.reviewer,
        decisions=[answer(first, "correct", [world.labels.building]), answer(second, "reject")],
    )
    assert [r.decision for r in reviews] == ["correct", "reject"]
    assert state(first.image) == (
        ImageStatus.VERIFIED,
        [(world.labels.building.pk, LabelSource.HUMAN, None)],
    )
    assert state(second.image) == (ImageStatus.REJECTED, [])


def test_correcting_an_auto_tag_is_recorded_as_such(world, queue):
    [item] = give(world.client_a, world.reviewer, status=ImageStatus.AUTO_TAGGED)
    [review] = rs.review_submit(
        client=world.client_a,
        reviewer=world.reviewer,
        decisions=[answer(item, "correct", [world.labels.building])],
    )
    assert review.corrected_auto_tag
    assert review.previous_status == ImageStatus.AUTO_TAGGED


def test_confirming_an_auto_tag_is_not_a_correction(world, queue):
    [item] = give(world.client_a, world.reviewer, status=ImageStatus.AUTO_TAGGED)
    [review] = rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)]
    )
    assert not review.corrected_auto_tag
    assert state(item.image) == (
        ImageStatus.VERIFIED,
        [(world.labels.smiling.pk, LabelSource.HUMAN, None)],
    )


def test_a_librarian_corrects_an_auto_tag_outside_the_queue(world, queue):
    review = rs.image_correct(
        client=world.client_a,
        user=world.librarian,
        decision=rs.Decision(
            image=queue.auto.pk, decision="correct", labels=(world.labels.not_smiling.pk,)
        ),
    )
    assert review.corrected_auto_tag
    assert review.reviewer == world.librarian
    assert state(queue.auto)[0] == ImageStatus.VERIFIED


def test_a_multi_label_image_takes_several_labels(world, queue):
    world.taxonomy.kind = TaxonomyKind.MULTI_LABEL
    world.taxonomy.save()
    L = world.labels
    image = predicted_image(
        world.client_a, queue.version, [(L.smiling, 0.2), (L.building, 0.05)]
    )  # least certain of all
    [item] = give(world.client_a, world.reviewer, count=1)
    assert item.image == image
    [review] = rs.review_submit(
        client=world.client_a,
        reviewer=world.reviewer,
        decisions=[answer(item, "correct", [L.smiling, L.building])],
    )
    assert review.decision == "correct"
    assert sorted(label for label, _, _ in state(image)[1]) == sorted([L.smiling.pk, L.building.pk])


def test_a_multi_class_correction_takes_one_label(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    with pytest.raises(ValidationError, match="one label per image"):
        rs.review_submit(
            client=world.client_a,
            reviewer=world.reviewer,
            decisions=[answer(item, "correct", [world.labels.smiling, world.labels.building])],
        )


def test_labels_of_another_taxonomy_are_refused(world, queue):
    stranger = factories.LabelFactory()
    [item] = give(world.client_a, world.reviewer, count=1)
    with pytest.raises(ValidationError, match="not an active label"):
        rs.review_submit(
            client=world.client_a,
            reviewer=world.reviewer,
            decisions=[answer(item, "correct", [stranger])],
        )


def test_a_repeated_submission_is_refused_and_changes_nothing(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)])
    before = state(item.image)
    with pytest.raises(rs.ReviewConflict) as refused:
        rs.review_submit(
            client=world.client_a,
            reviewer=world.reviewer,
            decisions=[answer(item, "correct", [world.labels.building])],
        )
    assert refused.value.code == "duplicate"
    assert "You already decided image" in str(refused.value)
    assert state(item.image) == before
    assert Review.objects.count() == 1


def test_a_submission_with_one_stale_decision_stores_none_of_them(world, queue, second_reviewer):
    items = give(world.client_a, world.reviewer, count=3)
    # Someone else decided the second image meanwhile (say, from the library page).
    rs.image_correct(
        client=world.client_a,
        user=second_reviewer,
        decision=rs.Decision(image=items[1].image.pk, decision="reject"),
    )
    before = [state(item.image) for item in items]
    with pytest.raises(rs.ReviewConflict) as refused:
        rs.review_submit(
            client=world.client_a,
            reviewer=world.reviewer,
            decisions=[answer(item) for item in items],
        )
    assert [c["image"] for c in refused.value.conflicts] == [items[1].image.pk]
    assert "decided by ruth" in refused.value.conflicts[0]["message"]
    assert [state(item.image) for item in items] == before
    assert Review.objects.filter(reviewer=world.reviewer).count() == 0
    assert ReviewLease.objects.filter(reviewer=world.reviewer).count() == 2


def test_an_image_that_changed_under_a_hold_is_refused(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    Image.objects.filter(pk=item.image.pk).update(status_changed_at=timezone.now())
    with pytest.raises(rs.ReviewConflict) as refused:
        rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)])
    assert refused.value.code == "changed"


def test_a_change_between_the_checks_and_the_writes_rolls_everything_back(
    world, queue, monkeypatch
):
    items = give(world.client_a, world.reviewer, count=2)
    read = review_decisions.latest_predictions

    def and_meanwhile(ids):
        # Someone moves the second image after the checks, before the writes.
        Image.objects.filter(pk=items[1].image.pk).update(status_changed_at=timezone.now())
        return read(ids)

    monkeypatch.setattr(review_decisions, "latest_predictions", and_meanwhile)
    before = [state(item.image) for item in items]
    with pytest.raises(rs.ReviewConflict) as refused:
        rs.review_submit(
            client=world.client_a,
            reviewer=world.reviewer,
            decisions=[answer(item) for item in items],
        )
    assert [c["image"] for c in refused.value.conflicts] == [items[1].image.pk]
    assert [state(item.image) for item in items] == before
    assert not Review.objects.exists()
    assert ReviewLease.objects.filter(reviewer=world.reviewer).count() == 2


def test_a_hold_taken_over_between_the_checks_and_the_writes_is_refused(
    world, queue, second_reviewer, monkeypatch
):
    [item] = give(world.client_a, world.reviewer, count=1)
    read = review_decisions.latest_predictions

    def and_meanwhile(ids):
        monkeypatch.setattr(review_decisions, "latest_predictions", read)
        expire_all_holds()
        give(world.client_a, second_reviewer, count=1)
        return read(ids)

    monkeypatch.setattr(review_decisions, "latest_predictions", and_meanwhile)
    with pytest.raises(rs.ReviewConflict) as refused:
        rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)])
    assert refused.value.code == "taken"
    assert state(item.image) == (ImageStatus.NEEDS_REVIEW, [])
    assert ReviewLease.objects.get().reviewer == second_reviewer


def test_verified_images_join_the_next_training_set(world, queue):
    from training.services.dataset import verified_dataset

    items = give(world.client_a, world.reviewer, count=5)
    rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(i) for i in items]
    )
    dataset = verified_dataset(world.taxonomy)
    assert {image.pk for image in dataset.images} == set(ids(items))
    assert set(dataset.class_labels) == {world.labels.smiling.pk, world.labels.building.pk}


# --- Undo ----------------------------------------------------------------------------------


def test_undo_restores_the_status_and_labels_and_holds_the_image_again(world, queue):
    [item] = give(world.client_a, world.reviewer, status=ImageStatus.AUTO_TAGGED)
    before = state(item.image)
    assert before[1] == [(world.labels.smiling.pk, LabelSource.MACHINE, 0.97)]
    [review] = rs.review_submit(
        client=world.client_a,
        reviewer=world.reviewer,
        decisions=[answer(item, "correct", [world.labels.building])],
    )
    outcome = rs.review_undo(client=world.client_a, reviewer=world.reviewer)
    assert state(item.image) == before
    review.refresh_from_db()
    assert review.undone_at is not None
    assert [i.image.pk for i in outcome.items] == [item.image.pk]
    assert outcome.items[0].lease.reviewer == world.reviewer
    # … and it can be decided again under the new hold.
    rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(outcome.items[0])]
    )
    assert state(item.image)[0] == ImageStatus.VERIFIED


def test_undo_takes_back_a_whole_grid_page(world, queue):
    page = give(world.client_a, world.reviewer, count=3, label=world.labels.smiling.pk)
    rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(i) for i in page]
    )
    outcome = rs.review_undo(client=world.client_a, reviewer=world.reviewer)
    assert sorted(r.image_id for r in outcome.reviews) == sorted(ids(page))
    assert all(state(i.image) == (ImageStatus.NEEDS_REVIEW, []) for i in page)


def test_undo_twice_goes_one_submission_further_back_then_stops(world, queue):
    first, second = give(world.client_a, world.reviewer, count=2)
    rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(first)])
    rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(second)])
    assert ids(rs.review_undo(client=world.client_a, reviewer=world.reviewer).items) == [
        second.image.pk
    ]
    assert ids(rs.review_undo(client=world.client_a, reviewer=world.reviewer).items) == [
        first.image.pk
    ]
    with pytest.raises(rs.NothingToUndo):
        rs.review_undo(client=world.client_a, reviewer=world.reviewer)


def test_undo_is_refused_when_the_image_changed_since(world, queue, second_reviewer):
    [item] = give(world.client_a, world.reviewer, count=1)
    [review] = rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)]
    )
    rs.image_correct(
        client=world.client_a,
        user=second_reviewer,
        decision=rs.Decision(
            image=item.image.pk, decision="correct", labels=(world.labels.building.pk,)
        ),
    )
    after = state(item.image)
    with pytest.raises(rs.ReviewConflict) as refused:
        rs.review_undo(client=world.client_a, reviewer=world.reviewer, review_id=review.pk)
    assert refused.value.code == "changed"
    assert "cannot be undone" in str(refused.value)
    assert state(item.image) == after


def test_undo_is_refused_where_the_transition_table_forbids_the_way_back(world, queue, monkeypatch):
    [item] = give(world.client_a, world.reviewer, count=1)
    rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)])
    after = state(item.image)
    # A table in which a verified image may never be sent back for review.
    table = dict(images_module.ALLOWED_TRANSITIONS)
    table[ImageStatus.VERIFIED] = table[ImageStatus.VERIFIED] - {ImageStatus.NEEDS_REVIEW}
    monkeypatch.setattr(images_module, "ALLOWED_TRANSITIONS", table)
    with pytest.raises(rs.ReviewConflict) as refused:
        rs.review_undo(client=world.client_a, reviewer=world.reviewer)
    assert refused.value.code == "not_allowed"
    assert "cannot go back from verified to needs review" in str(refused.value)
    assert state(item.image) == after
    assert not Review.objects.filter(undone_at__isnull=False).exists()


def test_an_undone_review_cannot_be_undone_again(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    [review] = rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)]
    )
    rs.review_undo(client=world.client_a, reviewer=world.reviewer)
    with pytest.raises(rs.ReviewConflict, match="undone already"):
        rs.review_undo(client=world.client_a, reviewer=world.reviewer, review_id=review.pk)


def test_nobody_undoes_someone_elses_review(world, queue, second_reviewer):
    [item] = give(world.client_a, world.reviewer, count=1)
    [review] = rs.review_submit(
        client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)]
    )
    with pytest.raises(rs.NothingToUndo):
        rs.review_undo(client=world.client_a, reviewer=second_reviewer, review_id=review.pk)


# --- Statistics ----------------------------------------------------------------------------


def test_statistics_per_reviewer_and_day(world, queue, second_reviewer):
    items = give(world.client_a, world.reviewer, count=4)
    reviews = rs.review_submit(
        client=world.client_a,
        reviewer=world.reviewer,
        decisions=[
            answer(items[0], seconds=2),
            answer(items[1], seconds=4),
            answer(items[2], "correct", [world.labels.building], seconds=6),
            answer(items[3], "reject", seconds=8),
        ],
    )
    day = timezone.localdate()
    start = timezone.make_aware(datetime.combine(day, datetime.min.time())) + timedelta(hours=9)
    # Decisions 30 s apart, then a long break before the last one.
    for review, at in zip(
        reviews,
        [
            start,
            start + timedelta(seconds=30),
            start + timedelta(seconds=60),
            start + timedelta(hours=2),
        ],
        strict=True,
    ):
        Review.objects.filter(pk=review.pk).update(created_at=at)
    [audit] = give(world.client_a, second_reviewer, status=ImageStatus.AUTO_TAGGED)
    rs.review_submit(
        client=world.client_a,
        reviewer=second_reviewer,
        decisions=[answer(audit, "correct", [world.labels.building], seconds=3)],
    )

    stats = review_stats(client=world.client_a, days=7, today=day)
    rita = next(row for row in stats.days if row.reviewer == "rita").tally
    assert (rita.decisions, rita.accepted, rita.corrected, rita.rejected) == (4, 2, 1, 1)
    assert rita.agreement == 0.5
    assert rita.seconds_per_decision == 5.0  # median of 2, 4, 6, 8
    # 2 s (first on screen) + 30 + 30 + 8 s (after the break, its own time on screen)
    assert rita.active_seconds == pytest.approx(70)
    assert rita.decisions_per_hour == pytest.approx(4 * 3600 / 70)
    ruth = next(row for row in stats.reviewers if row.reviewer == "ruth").tally
    assert (ruth.auto_tag_checked, ruth.auto_tag_corrected, ruth.auto_tag_precision) == (1, 1, 0)
    assert stats.total.decisions == 5

    only_ruth = review_stats(client=world.client_a, reviewer_id=second_reviewer.pk, today=day)
    assert [row.reviewer for row in only_ruth.reviewers] == ["ruth"]


def test_undone_reviews_are_counted_apart(world, queue):
    [item] = give(world.client_a, world.reviewer, count=1)
    rs.review_submit(client=world.client_a, reviewer=world.reviewer, decisions=[answer(item)])
    rs.review_undo(client=world.client_a, reviewer=world.reviewer)
    stats = review_stats(client=world.client_a)
    assert (stats.total.decisions, stats.total.undone) == (0, 1)
