"""Fixtures shared by the tests of the training pages and APIs."""

import pytest

from training import tasks
from training.services import evaluation, versions


@pytest.fixture
def queued_runs(monkeypatch):
    """Run ids handed to the training task, instead of a broker."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.train, "delay", ids.append)
    return ids


@pytest.fixture
def no_artifacts(monkeypatch):
    """Version rows built directly have no artifact file: skip the load check."""
    monkeypatch.setattr(versions, "_verify_artifact", lambda version: None)


@pytest.fixture
def gold(monkeypatch):
    """What compare_on_gold answers: set .result to a Comparison (None: nothing to compare)."""

    class Gold:
        result = None

    monkeypatch.setattr(evaluation, "compare_on_gold", lambda *, candidate: Gold.result)
    return Gold


@pytest.fixture
def tiny_backbone(settings):
    """The real default backbone at a tiny input size, with no model kept between tests."""
    from training import runtime

    settings.DEFAULT_BACKBONE = "efficientnet_lite0"
    settings.BACKBONE_INPUT_SIZE = 64
    runtime.forget_models()
    yield
    runtime.forget_models()
