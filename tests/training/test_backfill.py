"""A new active version predicts what waits: exactly once each, never a person's decision."""

import pytest

from labelling.models import Image, ImageLabel, ImageStatus, Prediction
from labelling.models.images import LabelSource
from tests.training.builders import add_photo, verified_library
from training import tasks
from training.services.backfill import backfill_progress, backfill_step
from training.services.prediction import model_probabilities
from training.services.training import training_execute, training_request
from training.services.versions import model_activate

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_backbone", "quick_heads")]


@pytest.fixture
def sent(monkeypatch):
    """The backfill messages queued (instead of a broker)."""
    calls = []
    monkeypatch.setattr(tasks.backfill, "delay", lambda *args: calls.append(args))
    return calls


def _train(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # the run is executed here
        run = training_request(taxonomy=world.taxonomy)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = training_execute(run_id=run.pk)
    for callback in callbacks:
        callback()
    assert run.model_version is not None, run.message
    return run.model_version


def _drain(version, *, batch_size=2):
    steps, after = [], 0
    while True:
        step = backfill_step(model_version=version, after=after, batch_size=batch_size)
        steps.append(step)
        after = step.last_id
        if not step.remaining:
            return steps


def test_a_new_version_predicts_every_waiting_image_exactly_once(
    world, sent, django_capture_on_commit_callbacks
):
    rng = verified_library(world, n=60)
    waiting = [
        add_photo(world.client_a, rng, warm=i % 2 == 0, status=ImageStatus.NEEDS_REVIEW)
        for i in range(5)
    ]
    # A machine tag the model will contradict: a cool photo tagged 'smiling'.
    wrong = add_photo(world.client_b, rng, warm=False, status=ImageStatus.AUTO_TAGGED)
    ImageLabel.objects.create(
        image=wrong, label=world.labels.smiling, source=LabelSource.MACHINE, probability=0.99
    )
    # People's decisions: a verified photo with a wrong-looking label, and a rejected one.
    verified = add_photo(world.client_a, rng, warm=False, label=world.labels.not_smiling)
    rejected = add_photo(world.client_a, rng, warm=True, status=ImageStatus.REJECTED)

    version = _train(world, django_capture_on_commit_callbacks)
    assert sent == [(version.pk,)]  # the promotion queued the backfill
    assert backfill_progress(taxonomy=world.taxonomy).done == 0

    steps = _drain(version)
    predicted = [pk for step in steps for pk in step.predicted]
    expected = sorted([w.pk for w in waiting] + [wrong.pk])
    assert sorted(predicted) == expected and len(predicted) == len(set(predicted))
    assert len(steps) == 3  # batches of two
    for pk in expected:
        assert Prediction.objects.filter(image_id=pk, model_version=version).count() == 1

    # Running it again (a redelivered message, activating the same version) adds nothing.
    assert _drain(version)[0].predicted == []
    with django_capture_on_commit_callbacks(execute=True):
        model_activate(model_version=version)
    assert sent == [(version.pk,)]

    wrong.refresh_from_db()
    assert wrong.status == ImageStatus.NEEDS_REVIEW
    assert not ImageLabel.objects.filter(image=wrong, source=LabelSource.MACHINE).exists()
    overturned = Prediction.objects.get(image=wrong, model_version=version)
    assert overturned.overturned_label == world.labels.smiling
    assert overturned.top_label != world.labels.smiling

    for image in waiting:
        image.refresh_from_db()
        tags = list(ImageLabel.objects.filter(image=image).values_list("label_id", "source"))
        if image.status == ImageStatus.AUTO_TAGGED:
            top = Prediction.objects.get(image=image, model_version=version).top_label_id
            assert tags == [(top, LabelSource.MACHINE)]
        else:
            assert image.status == ImageStatus.NEEDS_REVIEW and tags == []

    for decided, status in [(verified, ImageStatus.VERIFIED), (rejected, ImageStatus.REJECTED)]:
        before = decided.status_changed_at
        decided.refresh_from_db()
        assert decided.status == status and decided.status_changed_at == before
        assert not decided.predictions.exists()
    assert list(ImageLabel.objects.filter(image=verified).values_list("label_id", "source")) == [
        (world.labels.not_smiling.pk, LabelSource.HUMAN)
    ]
    progress = backfill_progress(taxonomy=world.taxonomy)
    assert progress.finished and progress.total == len(expected)


def test_a_version_that_no_longer_serves_stops_its_backfill(
    world, sent, django_capture_on_commit_callbacks
):
    rng = verified_library(world, n=60)
    add_photo(world.client_a, rng, warm=True, status=ImageStatus.NEEDS_REVIEW)
    first = _train(world, django_capture_on_commit_callbacks)
    second = _train(world, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        model_activate(model_version=second, force=True)
    assert backfill_step(model_version=first).predicted == []
    assert len(backfill_step(model_version=second).predicted) == 1


def test_a_machine_tag_the_new_version_agrees_with_stays_where_its_thresholds_do_not_reach(
    world, sent, django_capture_on_commit_callbacks
):
    # A version whose thresholds are out of reach (a set still too small to certify them)
    # keeps the machine tags it agrees with, and sends back only those it contradicts.
    rng = verified_library(world, n=60)
    tagged = [
        add_photo(world.client_a, rng, warm=i % 2 == 0, status=ImageStatus.AUTO_TAGGED)
        for i in range(4)
    ]
    version = _train(world, django_capture_on_commit_callbacks)
    version.policy = {**version.policy, "thresholds": {}}
    version.save(update_fields=["policy"])
    proba, ids, _ = model_probabilities(version, tagged)
    top = {pk: version.class_labels[int(row.argmax())] for pk, row in zip(ids, proba, strict=True)}
    other = {pk: next(lb for lb in version.class_labels if lb != top[pk]) for pk in ids}
    # Two tags it agrees with, two it contradicts.
    given = {pk: (top if n < 2 else other)[pk] for n, pk in enumerate(ids)}
    for pk, label_id in given.items():
        ImageLabel.objects.create(
            image_id=pk, label_id=label_id, source=LabelSource.MACHINE, probability=0.99
        )

    steps = _drain(version)
    sent_back = sorted(pk for step in steps for pk in step.sent_back)
    assert sent_back == sorted(ids[2:])
    for n, pk in enumerate(ids):
        image = Image.objects.get(pk=pk)
        machine = list(ImageLabel.objects.filter(image=image).values_list("label_id", flat=True))
        if n < 2:
            assert image.status == ImageStatus.AUTO_TAGGED and machine == [given[pk]]
        else:
            assert image.status == ImageStatus.NEEDS_REVIEW and machine == []
            prediction = Prediction.objects.get(image=image, model_version=version)
            assert prediction.overturned_label_id == given[pk]
