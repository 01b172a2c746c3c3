"""Shared fixtures: a temporary media root for every test, and the three personas every
endpoint is tested with: the owner (an admin of client A), a member of client A with a
narrower role, and an outsider (an admin of client B in the same sector)."""

import uuid
from types import SimpleNamespace

import pytest

from labelling.models import Role
from tests import factories


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # The real hasher is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": media},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MODEL_CACHE_DIR = tmp_path / "model-cache"
    return media


@pytest.fixture(autouse=True)
def _cache_of_its_own(settings, tmp_path):
    # Throttle counters live in the cache: a key prefix per test keeps one test's requests
    # from counting against the next (without flushing a Redis database others may use).
    # The file cache gets a directory per test as well: one shared by the whole run fills
    # past MAX_ENTRIES and culls entries at random, a test's own counters among them.
    cache = {**settings.CACHES["default"], "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    if cache["BACKEND"].endswith("FileBasedCache"):
        cache["LOCATION"] = str(tmp_path / "cache")
    settings.CACHES = {"default": cache}


@pytest.fixture
def throttle_rates(monkeypatch):
    """throttle_rates(login="2/min", ...) → those scopes' rates for this test. DRF reads the
    rates once, into a class attribute, so settings overrides would not reach it."""
    from rest_framework.throttling import SimpleRateThrottle

    def set_rates(**rates):
        monkeypatch.setattr(
            SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, **rates}
        )

    return set_rates


# A tiny configuration of the default backbone, as backbone tests build one: the stem, one
# block of stages 1, 2 and 6 (the one the grid embedding reads) and the 1280-filter top,
# with seeded random weights. Its embeddings have the real lengths; building and tracing it
# takes a fraction of a second where the whole network takes seconds.
TINY_LITE0_STAGES = ((0, 1), (1, 1), (5, 1))


def _tiny_lite0(*, input_size=None, weights=None, from_scratch=False, embedding="pooled"):
    import dataclasses

    import keras
    import numpy as np

    from training.backbones import efficientnet_lite

    variant = dataclasses.replace(
        efficientnet_lite.VARIANTS["efficientnet_lite0"], stages=TINY_LITE0_STAGES
    )
    keras.utils.set_random_seed(0)  # the same weights every time it is built
    model = efficientnet_lite.build_efficientnet_lite(
        variant.name, input_size=input_size, embedding=embedding, from_scratch=True, variant=variant
    )
    key = (input_size, embedding)
    if key not in _TINY_WEIGHTS:
        # A kind that embeds the mirror image too wraps the features model: calibrate that.
        features = model.get_layer(f"{variant.name}_features") if "+flip" in embedding else model
        _calibrate_batchnorm(features, variant.name, np.random.default_rng(0))
        _TINY_WEIGHTS[key] = model.get_weights()
    model.set_weights(_TINY_WEIGHTS[key])
    return model


# The calibrated weights, once per session: a new model each time (fine-tuning changes
# its own), the same weights in it.
_TINY_WEIGHTS: dict = {}


def _calibrate_batchnorm(model, name: str, rng) -> None:
    """Give every BatchNorm the statistics of what reaches it from random pixels, layer by
    layer: features then have the scale pretrained ones have, and a head trains on them in
    as few epochs (with untouched statistics they shrink layer after layer)."""
    import keras
    import numpy as np

    network = model.get_layer(name)
    pixels = rng.integers(0, 256, (16, 64, 64, 3)).astype(np.float32)
    scaled = model.get_layer("scale")(model.get_layer("resize")(pixels))
    for norm in [
        layer for layer in network.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]:
        reaching = np.asarray(keras.Model(network.input, norm.input)(scaled, training=False))
        gamma, beta, _, _ = norm.get_weights()
        norm.set_weights([gamma, beta, reaching.mean(axis=(0, 1, 2)), reaching.var(axis=(0, 1, 2))])


@pytest.fixture
def tiny_backbone(settings, monkeypatch):
    """The default backbone, efficientnet_lite0, as a tiny configuration of its network at a
    small input size, with no model kept from another test. The tests of the real network
    and its ImageNet weights are in tests/training/test_backbones.py."""
    import dataclasses

    from training import runtime
    from training.backbones import base, get_spec

    spec = get_spec("efficientnet_lite0")
    monkeypatch.setitem(base._REGISTRY, spec.name, dataclasses.replace(spec, builder=_tiny_lite0))
    settings.DEFAULT_BACKBONE = "efficientnet_lite0"
    settings.BACKBONE_INPUT_SIZE = 64
    runtime.forget_models()
    yield
    runtime.forget_models()


@pytest.fixture
def quick_heads(monkeypatch):
    """Training runs cap a head at 30 epochs instead of the product's 200: the photos the
    tests build (a warm or a cool colour) are told apart long before, and a head's epochs
    are most of a training run's time in a test that trains through the service. The tests
    of the schedule itself call the trainer directly."""
    from training.models import ModelMode
    from training.services import training as training_service

    monkeypatch.setitem(training_service.MAX_EPOCHS, ModelMode.HEAD, 30)


@pytest.fixture
def fresh_review_windows():
    """Queue heads are cached per process (labelling.services.review.cache), and ids
    repeat across tests: each test starts and ends with none."""
    from labelling.services import review

    review.review_windows_clear()
    yield
    review.review_windows_clear()


@pytest.fixture
def world(db):
    """One sector with a three-label taxonomy, two clients in it, and their people."""
    sector = factories.SectorFactory(name="Universities", slug="universities")
    taxonomy = factories.TaxonomyFactory(sector=sector, name="Campus life")
    smiling = factories.LabelFactory(taxonomy=taxonomy, key="smiling", name="Smiling")
    not_smiling = factories.LabelFactory(taxonomy=taxonomy, key="not_smiling", name="Not smiling")
    building = factories.LabelFactory(taxonomy=taxonomy, key="building", name="Building")
    client_a = factories.ClientFactory(name="Alpha University", slug="alpha", sector=sector)
    client_b = factories.ClientFactory(name="Beta College", slug="beta", sector=sector)
    people = {}
    for username, client, role in [
        ("alice", client_a, Role.ADMIN),
        ("bob", client_a, Role.LIBRARIAN),
        ("rita", client_a, Role.REVIEWER),
        ("charlie", client_b, Role.ADMIN),
    ]:
        user = factories.UserFactory(username=username)
        factories.MembershipFactory(user=user, client=client, role=role)
        people[username] = user
    # The sector's maintainer: site staff, and an admin of client A so its pages open.
    maintainer = factories.UserFactory(username="mia", is_staff=True)
    factories.MembershipFactory(user=maintainer, client=client_a, role=Role.ADMIN)
    return SimpleNamespace(
        sector=sector,
        taxonomy=taxonomy,
        labels=SimpleNamespace(smiling=smiling, not_smiling=not_smiling, building=building),
        client_a=client_a,
        client_b=client_b,
        owner=people["alice"],
        librarian=people["bob"],
        reviewer=people["rita"],
        outsider=people["charlie"],
        maintainer=maintainer,
    )


@pytest.fixture
def api_client_for():
    """api_client_for(user) → a DRF APIClient authenticated as that user by token."""
    from django.utils import timezone
    from rest_framework.test import APIClient

    from labelling.models import ApiToken
    from labelling.services.tokens import token_create

    keys = {}

    def make(user):
        client = APIClient()
        if user is not None:
            if user.pk not in keys:
                made = token_create(user=user, name="tests")
                # As if used a moment ago: "last used" is written at most once a minute,
                # which would make the first request's query count differ from the next.
                ApiToken.objects.filter(pk=made.token.pk).update(last_used_at=timezone.now())
                keys[user.pk] = made.key
            client.credentials(HTTP_AUTHORIZATION=f"Token {keys[user.pk]}")
        return client

    return make


def pytest_collection_modifyitems(config, items):
    """Tests of the pure ML modules (under tests/training, using no database) are marked
    "ml": they touch neither database nor broker, so CI runs them once, not per set-up."""
    for item in items:
        path = str(item.path)
        uses_db = item.get_closest_marker("django_db") or {
            "db",
            "transactional_db",
            "live_server",
        } & set(getattr(item, "fixturenames", ()))
        if "/tests/training/" in path and not uses_db:
            item.add_marker(pytest.mark.ml)

    # The API fuzzer takes minutes: it runs when asked for (-m fuzz), as CI's own step does.
    if "fuzz" not in (config.getoption("-m") or ""):
        skip = pytest.mark.skip(reason="the API fuzzer runs on its own: pytest -m fuzz")
        for item in items:
            if item.get_closest_marker("fuzz"):
                item.add_marker(skip)
