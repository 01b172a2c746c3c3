"""A multi-label taxonomy, end to end: sigmoid heads on the grid embedding, several machine
tags per image at per-label thresholds, and reviewers offered every likely label.

The real (tiny) backbone, on photos built in memory: a warm region means 'smiling', a cool
one 'building', and a photo half warm, half cool carries both.
"""

import hashlib
import io

import numpy as np
import pytest
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from labelling.models import ImageLabel, ImageStatus, Prediction
from labelling.models.images import LabelSource
from labelling.models.sectors import TaxonomyKind
from labelling.services.review.suggestions import suggested_labels
from tests import factories
from training.backbones import get_spec
from training.models import ModelVersion, RunStatus
from training.services.backfill import backfill_step
from training.services.prediction import images_predict
from training.services.training import training_execute, training_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_backbone", "quick_heads")]

WARM = np.array([200, 60, 40], dtype=np.float64)
COOL = np.array([40, 80, 200], dtype=np.float64)


def _photo(rng, *, warm: bool, cool: bool) -> bytes:
    pixels = np.empty((72, 72, 3))
    pixels[:, :36] = WARM if warm else COOL
    pixels[:, 36:] = COOL if cool else WARM
    pixels += rng.normal(0, 30, size=pixels.shape)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _add(client, rng, *, warm, cool, labels=(), status=ImageStatus.VERIFIED):
    data = _photo(rng, warm=warm, cool=cool)
    image = factories.ImageFactory(
        client=client,
        file=ContentFile(data, name=f"images/{rng.integers(1 << 62)}.png"),
        sha256=hashlib.sha256(data).hexdigest(),
        format="PNG",
        status=status,
    )
    for label in labels:
        ImageLabel.objects.create(image=image, label=label, source=LabelSource.HUMAN)
    return image


KINDS = {"warm": (True, False), "cool": (False, True), "both": (True, True)}


@pytest.fixture
def trained(world):
    """A multi-label taxonomy with 40 verified photos of each kind, trained."""
    world.taxonomy.kind = TaxonomyKind.MULTI_LABEL
    # A target a few dozen held-out photos can show to be met (0.95 needs about 73 in a row).
    world.taxonomy.auto_accept_target = 0.8
    world.taxonomy.save()
    L = world.labels
    labels_of = {"warm": [L.smiling], "cool": [L.building], "both": [L.smiling, L.building]}
    rng = np.random.default_rng(0)
    for i in range(120):
        kind = list(KINDS)[i % 3]
        warm, cool = KINDS[kind]
        _add(world.client_a, rng, warm=warm, cool=cool, labels=labels_of[kind])
    run = training_execute(run_id=training_request(taxonomy=world.taxonomy).pk)
    assert run.status == RunStatus.SUCCEEDED, run.message
    world.version = run.model_version
    world.rng = rng
    return world


def test_a_multi_label_taxonomy_trains_a_sigmoid_head_on_the_grid_embedding(trained):
    version: ModelVersion = trained.version
    assert version.embedding == get_spec("efficientnet_lite0").default_embedding == "pooled+grid"
    metrics = version.metrics
    assert metrics["kind"] == "multi_label"
    assert {row["class"] for row in metrics["per_label"]} == {"smiling", "building"}
    assert metrics["subset_accuracy"]["value"] >= 0.8
    # Thresholds per label, chosen out of fold, and what they buy on the gold test images.
    policy = version.policy
    assert policy["chosen_on"] == "out_of_fold"
    assert set(policy["thresholds"]) == {
        str(trained.labels.smiling.pk),
        str(trained.labels.building.pk),
    }
    assert policy["test"]["auto_accepted"] > 0
    assert policy["test"]["tags"] >= policy["test"]["auto_accepted"]


def test_an_image_with_both_things_is_auto_tagged_with_both_labels(trained):
    L = trained.labels
    both = _add(trained.client_a, trained.rng, warm=True, cool=True, status=ImageStatus.PROCESSING)
    warm = _add(trained.client_a, trained.rng, warm=True, cool=False, status=ImageStatus.PROCESSING)
    outcome = images_predict(image_ids=[both.pk, warm.pk])
    assert sorted(outcome.predicted) == sorted([both.pk, warm.pk])
    both.refresh_from_db()
    warm.refresh_from_db()
    assert both.status == ImageStatus.AUTO_TAGGED
    tags = ImageLabel.objects.filter(image=both, source=LabelSource.MACHINE)
    assert {t.label_id for t in tags} == {L.smiling.pk, L.building.pk}
    prediction = Prediction.objects.get(image=both)
    probability = {e["label"]: e["probability"] for e in prediction.ranked}
    assert all(t.probability == pytest.approx(probability[t.label_id]) for t in tags)
    assert warm.status == ImageStatus.AUTO_TAGGED
    assert list(ImageLabel.objects.filter(image=warm).values_list("label_id", flat=True)) == [
        L.smiling.pk
    ]


def test_a_likely_label_under_its_threshold_leaves_the_whole_image_to_reviewers(trained):
    version = trained.version
    # Raise one label's threshold out of reach: images that carry it wait for a person.
    building = str(trained.labels.building.pk)
    version.policy = {**version.policy, "thresholds": {**version.policy["thresholds"]}}
    version.policy["thresholds"][building] = 1.5
    version.save(update_fields=["policy"])
    both = _add(trained.client_a, trained.rng, warm=True, cool=True, status=ImageStatus.PROCESSING)
    images_predict(image_ids=[both.pk])
    both.refresh_from_db()
    assert both.status == ImageStatus.NEEDS_REVIEW
    assert not ImageLabel.objects.filter(image=both).exists()
    # The reviewer is offered both likely labels to accept in one key.
    prediction = Prediction.objects.get(image=both)
    assert set(suggested_labels(prediction, [], multi_label=True)) == {
        trained.labels.smiling.pk,
        trained.labels.building.pk,
    }


def test_a_backfill_tags_a_waiting_image_with_every_label_it_accepts(trained):
    L = trained.labels
    waiting = _add(
        trained.client_b, trained.rng, warm=True, cool=True, status=ImageStatus.NEEDS_REVIEW
    )
    # Tagged 'smiling' alone by an earlier model: the new one sees both, so a person decides.
    partial = _add(
        trained.client_b, trained.rng, warm=True, cool=True, status=ImageStatus.AUTO_TAGGED
    )
    ImageLabel.objects.create(
        image=partial, label=L.smiling, source=LabelSource.MACHINE, probability=0.9
    )
    step = backfill_step(model_version=trained.version, after=0, batch_size=10)
    assert step.auto_tagged == [waiting.pk] and step.sent_back == [partial.pk]
    assert set(
        ImageLabel.objects.filter(image=waiting, source=LabelSource.MACHINE).values_list(
            "label_id", flat=True
        )
    ) == {L.smiling.pk, L.building.pk}
    partial.refresh_from_db()
    assert partial.status == ImageStatus.NEEDS_REVIEW
    assert not ImageLabel.objects.filter(image=partial).exists()
    # 'smiling' is still likely: nothing was contradicted.
    assert Prediction.objects.get(image=partial).overturned_label_id is None
