"""The embedding map's layout: the projection on synthetic embeddings, the task on the
training queue (a real worker), single flight, phases, the stored file, failures in words,
recomputing after a training run changes the embeddings, and the sweeper."""

from __future__ import annotations

import time
from datetime import timedelta

import numpy as np
import pytest
from celery.contrib.testing.worker import start_worker
from django.core.files.storage import default_storage
from django.utils import timezone

from labelling.models import ImageStatus
from taxonomy_site.celery import app
from tests import factories
from tests.training.builders import make_version
from training import tasks
from training.backbones import embedding_key, get_spec
from training.embedding_store import to_bytes
from training.models import EmbeddingMap, ImageEmbedding, MapPhase, RunStatus
from training.projection import project_2d
from training.services import embedding_map as service


@pytest.fixture(autouse=True)
def one_thread(settings):
    # Threads spinning at OpenMP barriers on a machine whose cores are all busy (a CI host
    # running tests in parallel) turned a 15-point layout from 0.3 s into 20 s of CPU.
    settings.EMBEDDING_MAP_JOBS = 1


CENTRES = np.array([[4.0] * 8 + [0.0] * 8, [0.0] * 8 + [4.0] * 8, [-4.0] * 16])


def clusters(n_per: int = 20, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well-separated clusters of 16-dimensional embeddings, and each row's cluster."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(len(CENTRES)), n_per)
    return (CENTRES[groups] + rng.normal(scale=0.5, size=(len(groups), 16))).astype(
        np.float32
    ), groups


def nearest_agree(xy: np.ndarray, groups: np.ndarray) -> float:
    """The share of points whose nearest other point on the map is of the same cluster."""
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    return float((groups[d.argmin(axis=1)] == groups).mean())


@pytest.mark.parametrize("method", ["opentsne", "sklearn"])
def test_the_projection_keeps_clusters_together_inside_the_unit_square(method):
    X, groups = clusters()
    xy = project_2d(X, method=method, seed=0)
    assert xy.shape == (60, 2) and xy.dtype == np.float32
    assert np.abs(xy).max() <= 1.0 and np.isclose(np.abs(xy).max(), 1.0)
    assert nearest_agree(xy, groups) >= 0.95


def test_the_projection_reports_its_phases():
    X, _ = clusters(n_per=5)
    heard = []
    project_2d(X, progress=lambda phase, done, total: heard.append(phase))
    assert heard == ["pca", "pca", "tsne", "tsne"]


@pytest.mark.parametrize(
    "X, method, words",
    [
        (np.zeros((2, 4)), None, "at least 3 images"),
        (np.full((5, 4), np.nan), None, "not finite"),
        (np.zeros(5), None, "must be (n, dim)"),
        (np.ones((5, 4)), "umap", "unknown projection method"),
    ],
)
def test_the_projection_refuses_bad_input_in_words(X, method, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        project_2d(X, method=method)


# ---- the task and its rows --------------------------------------------------------------


def key() -> str:
    from django.conf import settings

    return embedding_key(
        settings.DEFAULT_BACKBONE, get_spec(settings.DEFAULT_BACKBONE).default_embedding
    )


def embedded_images(client, X, *, status=ImageStatus.NEEDS_REVIEW, key_=None):
    images = []
    for vector in X:
        image = factories.ImageFactory(client=client, status=status)
        ImageEmbedding.objects.create(
            image=image, key=key_ or key(), dim=vector.size, vector=to_bytes(vector)
        )
        images.append(image)
    return images


@pytest.fixture
def training_worker(transactional_db):
    app.control.purge()
    with start_worker(
        app, pool="solo", queues=["training"], perform_ping_check=False, shutdown_timeout=30
    ) as worker:
        yield worker


def _wait_for(condition, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.2)
    return condition()


def test_a_worker_lays_out_the_clients_images_and_stores_them_as_a_file(world, training_worker):
    X, groups = clusters(n_per=10)
    mine = embedded_images(world.client_a, X)
    embedded_images(world.client_b, X[:5])  # another client's: never on A's map
    emap = service.embedding_map_request(client=world.client_a, user=world.owner)
    assert _wait_for(
        lambda: EmbeddingMap.objects.filter(
            pk=emap.pk, status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]
        ).exists()
    )
    emap.refresh_from_db()
    assert emap.status == RunStatus.SUCCEEDED, emap.message
    assert emap.n_points == 30 and emap.embedding_key == key()
    assert emap.method in ("opentsne", "sklearn") and emap.model_version is None
    assert emap.started_at <= emap.finished_at and emap.phase == ""
    assert default_storage.exists(emap.file) and emap.file.startswith(f"maps/{world.client_a.pk}/")
    layout = service.layout_read(emap)
    assert layout.image_ids.tolist() == [image.pk for image in mine]
    assert nearest_agree(layout.xy, groups) >= 0.9


def test_asking_again_while_one_waits_returns_that_one(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = service.embedding_map_request(client=world.client_a, user=world.owner)
        second = service.embedding_map_request(client=world.client_a, user=world.reviewer)
    assert second.pk == first.pk and len(callbacks) == 1
    other = service.embedding_map_request(client=world.client_b)
    assert other.pk != first.pk  # single flight is per client


def test_phases_are_stored_as_the_layout_goes(world, monkeypatch):
    X, _ = clusters(n_per=5)
    embedded_images(world.client_a, X)
    emap = EmbeddingMap.objects.create(client=world.client_a)
    seen = []
    real = service._phase

    def spy(row, phase, done=0, total=0):
        seen.append((phase, done, total))
        real(row, phase, done, total)
        stored = EmbeddingMap.objects.get(pk=row.pk)
        assert (stored.status, stored.phase) == (RunStatus.RUNNING, phase)

    monkeypatch.setattr(service, "_phase", spy)
    service.embedding_map_execute(map_id=emap.pk)
    phases = [phase for phase, _, _ in seen]
    assert phases[0] == MapPhase.EMBEDDING and (MapPhase.EMBEDDING, 15, 15) in seen
    assert MapPhase.PCA in phases and MapPhase.TSNE in phases and phases[-1] == MapPhase.STORING
    emap.refresh_from_db()
    assert emap.status == RunStatus.SUCCEEDED and emap.phase == ""


def test_a_client_with_nothing_to_lay_out_gets_a_failure_in_words(world):
    factories.ImageFactory(client=world.client_a, status=ImageStatus.PROCESSING)
    emap = EmbeddingMap.objects.create(client=world.client_a)
    service.embedding_map_execute(map_id=emap.pk)
    emap.refresh_from_db()
    assert emap.status == RunStatus.FAILED
    assert emap.message == "Alpha University has no ingested images to lay out yet."
    assert emap.file == "" and emap.finished_at is not None
    # Single flight is free again: the next request starts a new one.
    assert service.embedding_map_request(client=world.client_a).pk != emap.pk


def test_a_map_claimed_elsewhere_is_not_run_twice(world):
    emap = EmbeddingMap.objects.create(client=world.client_a, status=RunStatus.RUNNING)
    assert service.embedding_map_execute(map_id=emap.pk) is None
    assert service.embedding_map_execute(map_id=emap.pk + 1000) is None


def test_a_new_map_replaces_the_old_one_and_its_file(world):
    X, _ = clusters(n_per=5)
    embedded_images(world.client_a, X)
    first = EmbeddingMap.objects.create(client=world.client_a)
    service.embedding_map_execute(map_id=first.pk)
    first.refresh_from_db()
    second = EmbeddingMap.objects.create(client=world.client_a)
    service.embedding_map_execute(map_id=second.pk)
    assert list(EmbeddingMap.objects.filter(client=world.client_a)) == [second]
    assert not default_storage.exists(first.file)
    second.refresh_from_db()
    assert default_storage.exists(second.file)


def test_a_stored_map_that_changed_is_refused(world):
    X, _ = clusters(n_per=5)
    embedded_images(world.client_a, X)
    emap = EmbeddingMap.objects.create(client=world.client_a)
    service.embedding_map_execute(map_id=emap.pk)
    emap.refresh_from_db()
    emap.file_sha256 = "0" * 64
    with pytest.raises(service.MapUnavailable, match="checksum"):
        service.layout_read(emap)
    default_storage.delete(emap.file)
    with pytest.raises(service.MapUnavailable, match="gone"):
        service.layout_read(emap)


def test_a_version_on_other_embeddings_lays_out_the_maps_that_exist_again(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    monkeypatch.setattr(tasks.compute_embedding_map, "delay", queued.append)
    old = EmbeddingMap.objects.create(
        client=world.client_a, status=RunStatus.SUCCEEDED, embedding_key="efficientnet_lite0"
    )
    labels = [world.labels.smiling, world.labels.building]
    version = make_version(world.taxonomy, labels=labels, active=True, backbone="inception_v3")
    with django_capture_on_commit_callbacks(execute=True):
        made = service.embedding_maps_after_training(model_version=version)
    # Client A's map was on other embeddings; client B never had one and is not given one.
    assert [m.client_id for m in made] == [world.client_a.pk] and queued == [made[0].pk]
    assert "reads other embeddings" in made[0].reason
    assert service.map_embedding_kind(world.client_a)[2] == version
    # Laid out on the serving version's embeddings already: nothing to do.
    EmbeddingMap.objects.filter(pk=made[0].pk).update(
        status=RunStatus.SUCCEEDED, embedding_key=embedding_key(version.backbone, version.embedding)
    )
    old.delete()
    assert service.embedding_maps_after_training(model_version=version) == []


def test_the_sweeper_fails_a_map_whose_worker_died(world):
    long_ago = timezone.now() - timedelta(hours=3)
    dead = EmbeddingMap.objects.create(
        client=world.client_a, status=RunStatus.RUNNING, heartbeat_at=long_ago
    )
    alive = EmbeddingMap.objects.create(
        client=world.client_b, status=RunStatus.RUNNING, heartbeat_at=timezone.now()
    )
    tasks.sweep_stale_runs()
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == RunStatus.FAILED and "worker stopped" in dead.message
    assert alive.status == RunStatus.RUNNING


@pytest.mark.usefixtures("tiny_backbone")
def test_a_training_run_on_other_embeddings_queues_a_new_layout(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    from tests.training.builders import verified_library
    from training.services.training import training_execute, training_request

    verified_library(world, n=40)
    queued = []
    monkeypatch.setattr(tasks.compute_embedding_map, "delay", queued.append)
    EmbeddingMap.objects.create(
        client=world.client_a, status=RunStatus.SUCCEEDED, embedding_key="inception_v3"
    )
    with django_capture_on_commit_callbacks(execute=True):
        run = training_execute(run_id=training_request(taxonomy=world.taxonomy).pk)
    assert run.status == RunStatus.SUCCEEDED, run.message
    fresh = EmbeddingMap.objects.get(pk__in=queued)
    assert fresh.client == world.client_a and fresh.status == RunStatus.QUEUED


@pytest.mark.usefixtures("tiny_backbone")
def test_images_without_a_stored_embedding_are_embedded_for_the_map(world):
    from tests.training.builders import add_photo

    rng = np.random.default_rng(0)
    photos = [
        add_photo(world.client_a, rng, warm=i % 2 == 0, status=ImageStatus.NEEDS_REVIEW)
        for i in range(12)
    ]
    emap = EmbeddingMap.objects.create(client=world.client_a)
    service.embedding_map_execute(map_id=emap.pk)
    emap.refresh_from_db()
    assert emap.status == RunStatus.SUCCEEDED, emap.message
    assert emap.n_points == 12
    assert ImageEmbedding.objects.filter(image__in=photos, key=key()).count() == 12
    assert service.layout_read(emap).image_ids.tolist() == [p.pk for p in photos]
