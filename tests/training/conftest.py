"""Fixtures shared by the tests of the training pages and APIs."""

from types import SimpleNamespace

import pytest

from tests import factories
from tests.training.builders import finished_run, make_version
from training import tasks
from training.services import evaluation


@pytest.fixture
def queued_runs(monkeypatch):
    """Run ids handed to the training task, instead of a broker."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.train, "delay", ids.append)
    return ids


@pytest.fixture
def gold(monkeypatch):
    """What compare_on_gold answers: set .result to a Comparison (None: nothing to compare)."""

    class Gold:
        result = None

    monkeypatch.setattr(evaluation, "compare_on_gold", lambda *, candidate: Gold.result)
    return Gold


@pytest.fixture
def other(db):
    """The outsider's side: a client of another sector, with its own taxonomy, active model
    version (and the finished run that made it) and admin."""
    sector = factories.SectorFactory(name="Retail", slug="retail")
    taxonomy = factories.TaxonomyFactory(sector=sector, name="Products")
    labels = [factories.LabelFactory(taxonomy=taxonomy, key=k) for k in ("shoe", "hat")]
    client = factories.ClientFactory(name="Gamma Shop", slug="gamma", sector=sector)
    admin = factories.UserFactory(username="olga")
    factories.MembershipFactory(user=admin, client=client, role="admin")
    version = make_version(taxonomy, labels=labels, active=True)
    return SimpleNamespace(
        taxonomy=taxonomy, client=client, admin=admin, version=version, run=finished_run(version)
    )
