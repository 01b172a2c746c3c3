"""The ingest task: claims, derivatives, the prediction hook, failures and the sweeper."""

import io
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from PIL import Image as PILImage

from labelling import storage_names, tasks
from labelling.models import Image, ImageStatus
from labelling.services import ingest, uploads
from tests import factories
from tests.factories import make_image_bytes


@pytest.fixture
def queued(monkeypatch):
    calls: list[list[int]] = []
    monkeypatch.setattr(uploads, "enqueue_ingest", lambda ids: calls.append(list(ids)))
    return calls


@pytest.fixture
def hooked(monkeypatch):
    """The ids the prediction hook was called with (the real hook is tested on its own)."""
    calls: list[list[int]] = []
    monkeypatch.setattr(ingest, "predict_hook", lambda *, image_ids: calls.append(list(image_ids)))
    return calls


@pytest.fixture
def upload(world, queued):
    batch = factories.UploadBatchFactory(client=world.client_a)

    def make(data=None, name="photo.jpg") -> Image:
        data = data if data is not None else make_image_bytes(size=(1200, 800))
        [outcome] = uploads.batch_files_upload(
            batch=batch, user=world.librarian, files=[ContentFile(data, name=name)]
        )
        assert outcome.status == uploads.STORED, outcome.message
        return outcome.image

    return make


def test_the_tasks_are_named_and_routed_to_the_ingest_queue():
    assert (tasks.ingest_images.name, tasks.ingest_images.queue) == (
        "labelling.ingest_images",
        "ingest",
    )
    assert tasks.sweep_stuck_images.name == "labelling.sweep_stuck_images"
    assert tasks.sweep_stuck_images.queue == "ingest"


def test_uploads_are_queued_after_the_commit(
    world, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(tasks.ingest_images, "delay", lambda ids: sent.append(ids))
    batch = factories.UploadBatchFactory(client=world.client_a)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        [outcome] = uploads.batch_files_upload(
            batch=batch, user=world.librarian, files=[ContentFile(make_image_bytes(), "a.jpg")]
        )
    assert sent == []  # nothing before the commit: the worker would not find the row
    for callback in callbacks:
        callback()

    assert sent == [[outcome.image.pk]]


def test_it_makes_derivatives_and_sends_images_to_review(upload, hooked):
    image = upload()

    tasks.ingest_images([image.pk])

    image.refresh_from_db()
    assert image.status == ImageStatus.NEEDS_REVIEW
    assert hooked == [[image.pk]]
    assert image.thumbnail.name == storage_names.thumbnail_name(image.file.name)
    with default_storage.open(image.thumbnail.name) as handle:
        thumbnail = PILImage.open(io.BytesIO(handle.read()))
    assert (thumbnail.format, thumbnail.size) == ("JPEG", (320, 213))
    with default_storage.open(ingest.model_input_name(image)) as handle:
        model_input = PILImage.open(io.BytesIO(handle.read()))
    assert model_input.size == (512, 341) and model_input.mode == "RGB"
    assert len(model_input.getexif()) == 0


def test_it_is_idempotent(upload, hooked):
    image = upload()
    tasks.ingest_images([image.pk])
    first_thumbnail = Image.objects.get(pk=image.pk).thumbnail.name

    result = ingest.images_ingest(image_ids=[image.pk, image.pk])

    assert result.skipped == [image.pk] and result.processed == []
    assert hooked == [[image.pk]]  # the hook was not called again
    assert Image.objects.get(pk=image.pk).thumbnail.name == first_thumbnail


def test_an_image_claimed_by_another_worker_is_left_alone(upload, hooked):
    image = upload()
    assert image.claim_for_processing()

    result = ingest.images_ingest(image_ids=[image.pk])

    assert result.skipped == [image.pk]
    assert hooked == []
    image.refresh_from_db()
    assert image.status == ImageStatus.PROCESSING and not image.thumbnail


def test_a_deleted_image_is_skipped_quietly(db, hooked):
    result = ingest.images_ingest(image_ids=[987654])

    assert result.skipped == [987654] and hooked == []


def test_an_image_the_worker_cannot_read_fails_with_a_reason(upload, hooked):
    good, bad = upload(), upload(make_image_bytes(color=(0, 0, 255)), name="bad.jpg")
    # The stored bytes went bad after the upload (a disk fault, a bad copy on S3).
    with default_storage.open(bad.file.name, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0 garbage")
    missing = upload(make_image_bytes(color=(0, 255, 0)), name="gone.jpg")
    default_storage.delete(missing.file.name)

    result = ingest.images_ingest(image_ids=[good.pk, bad.pk, missing.pk])

    assert result.processed == [good.pk] and result.failed == [bad.pk, missing.pk]
    bad.refresh_from_db()
    missing.refresh_from_db()
    assert bad.status == missing.status == ImageStatus.FAILED
    assert "could not be read" in bad.failure_reason
    assert "could not be opened" in missing.failure_reason
    assert hooked == [[good.pk]]


def test_a_failed_image_can_be_ingested_again(upload, hooked):
    image = upload()
    image.claim_for_processing()
    image.mark_failed("a worker crashed")

    tasks.ingest_images([image.pk])

    image.refresh_from_db()
    assert image.status == ImageStatus.NEEDS_REVIEW and image.failure_reason == ""


def test_the_hook_decides_some_and_people_get_the_rest(upload, monkeypatch):
    sure, unsure = upload(), upload(make_image_bytes(size=(300, 300), color=(1, 200, 1)), "b.jpg")

    def hook(*, image_ids):
        assert set(image_ids) == {sure.pk, unsure.pk}
        assert set(Image.objects.filter(pk__in=image_ids).values_list("status", flat=True)) == {
            ImageStatus.PROCESSING
        }
        Image.objects.get(pk=sure.pk).transition_to(ImageStatus.AUTO_TAGGED)

    monkeypatch.setattr(ingest, "predict_hook", hook)

    tasks.ingest_images([sure.pk, unsure.pk])

    assert Image.objects.get(pk=sure.pk).status == ImageStatus.AUTO_TAGGED
    assert Image.objects.get(pk=unsure.pk).status == ImageStatus.NEEDS_REVIEW


def test_the_hook_returns_at_once_without_an_active_model(upload, django_assert_num_queries):
    image = upload()

    with django_assert_num_queries(1):
        assert ingest.predict_hook(image_ids=[image.pk]) is None


def test_a_hook_that_raises_leaves_images_for_the_sweeper(
    upload, queued, monkeypatch, django_capture_on_commit_callbacks
):
    image = upload()
    queued.clear()

    def broken(*, image_ids):
        raise RuntimeError("model server down")

    monkeypatch.setattr(ingest, "predict_hook", broken)
    with pytest.raises(RuntimeError):
        tasks.ingest_images([image.pk])
    image.refresh_from_db()
    assert image.status == ImageStatus.PROCESSING

    assert ingest.stuck_images_requeue() == []  # not stuck for long enough yet
    Image.objects.filter(pk=image.pk).update(
        status_changed_at=timezone.now() - timedelta(minutes=31)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert ingest.stuck_images_requeue() == [image.pk]
    assert queued == [[image.pk]]

    image.refresh_from_db()
    assert image.status == ImageStatus.UPLOADED
    monkeypatch.setattr(ingest, "predict_hook", lambda *, image_ids: None)
    for ids in queued:
        tasks.ingest_images(ids)
    image.refresh_from_db()
    assert image.status == ImageStatus.NEEDS_REVIEW


def test_the_sweeper_queues_after_the_commit_in_chunks(
    world, queued, settings, django_capture_on_commit_callbacks
):
    settings.INGEST_STUCK_AFTER_MINUTES = 5
    long_ago = timezone.now() - timedelta(minutes=6)
    stuck = [
        factories.ImageFactory(
            client=world.client_a, status=ImageStatus.PROCESSING, status_changed_at=long_ago
        )
        for _ in range(ingest.SWEEP_CHUNK + 1)
    ]
    lost = factories.ImageFactory(  # its message never reached a worker
        client=world.client_a, status=ImageStatus.UPLOADED, status_changed_at=long_ago
    )
    factories.ImageFactory(client=world.client_a, status=ImageStatus.PROCESSING)  # just started
    factories.ImageFactory(client=world.client_a, status=ImageStatus.UPLOADED)  # just uploaded
    factories.ImageFactory(
        client=world.client_a, status=ImageStatus.NEEDS_REVIEW, status_changed_at=long_ago
    )

    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_stuck_images()

    assert sorted(i for chunk in queued for i in chunk) == sorted(i.pk for i in [*stuck, lost])
    assert [len(chunk) for chunk in queued] == [ingest.SWEEP_CHUNK, 2]
    assert set(
        Image.objects.filter(pk__in=[i.pk for i in stuck]).values_list("status", flat=True)
    ) == {ImageStatus.UPLOADED}
    # Sent again at most once per period, however long the queue.
    queued.clear()
    with django_capture_on_commit_callbacks(execute=True):
        tasks.sweep_stuck_images()
    assert queued == []


def test_a_broker_that_refuses_does_not_fail_the_upload(world, monkeypatch, caplog):
    def down(ids):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.ingest_images, "delay", down)

    uploads.enqueue_ingest([1, 2])

    assert "the sweeper will" in caplog.text


def test_the_ingest_modules_do_not_import_tensorflow():
    code = (
        "import django, os, sys;"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'taxonomy_site.settings');"
        "django.setup();"
        "import labelling.tasks, labelling.services.ingest, labelling.services.uploads;"
        "import labelling.api.uploads, labelling.library_urls;"
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "False"
