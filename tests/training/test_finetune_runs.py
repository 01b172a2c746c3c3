"""A fine-tuning run through the training service: head first, then the backbone, one
version that serves raw pixels. The real (tiny) backbone on photos built in memory."""

import pytest

from labelling.models import ImageStatus
from tests.training.builders import add_photo, verified_library
from training.models import ModelMode, RunStatus
from training.services import training as training_service
from training.services.prediction import images_predict

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_backbone")]


def test_a_fine_tuning_run_trains_the_head_first_and_serves_pixels(world, monkeypatch):
    monkeypatch.setitem(training_service.MAX_EPOCHS, ModelMode.FINETUNE, 2)
    rng = verified_library(world, n=40)
    run = training_service.training_request(taxonomy=world.taxonomy, mode=ModelMode.FINETUNE)
    run = training_service.training_execute(run_id=run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.message
    version = run.model_version
    assert version.mode == ModelMode.FINETUNE
    training = version.metrics["training"]
    assert training["head_epochs"] >= 1 and 1 <= training["epochs"] <= 2
    # Progress counted the epochs of both phases, in order.
    run.refresh_from_db()
    assert [e["epoch"] for e in run.history] == list(
        range(1, training["head_epochs"] + training["epochs"] + 1)
    )
    image = add_photo(world.client_a, rng, warm=True, status=ImageStatus.PROCESSING)
    outcome = images_predict(image_ids=[image.pk])
    assert outcome.predicted == [image.pk]
