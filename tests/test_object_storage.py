"""The S3 set-up (django-storages) against a real S3-compatible server (SeaweedFS, see
tests/s3_server.py): uploads, derivatives, model artifacts with their checksum, media
serving and the health check. CI runs this module as a step of its own, where a missing
server fails instead of skipping."""

import hashlib
import uuid

import numpy as np
import pytest
from django.core.files.storage import storages
from django.urls import reverse

from labelling import health, storage_names
from labelling.models import Image, ImageStatus
from labelling.services import ingest, uploads
from taxonomy_site.settings import s3_storage
from tests import factories
from tests.factories import make_image_bytes
from tests.s3_server import start_server
from tests.training.builders import add_photo, verified_library
from training import runtime
from training.models import ActiveModel, RunStatus
from training.services.prediction import images_predict
from training.services.training import training_execute, training_request
from training.services.versions import ActivationRefused, model_activate

pytestmark = [pytest.mark.s3, pytest.mark.django_db]


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    yield from start_server(tmp_path_factory.mktemp("seaweedfs"))


@pytest.fixture
def bucket(s3_server, settings, _media_in_tmp):
    """A fresh bucket as the default storage, configured as settings configure S3."""
    name = f"media-{uuid.uuid4().hex[:12]}"
    s3_server.client().create_bucket(Bucket=name)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage(
            name,
            endpoint_url=s3_server.endpoint_url,
            region_name="us-east-1",
            access_key=s3_server.access_key,
            secret_key=s3_server.secret_key,
        ),
    }
    assert type(storages["default"]).__name__ == "S3Storage"

    class Bucket:
        client = s3_server.client()

        @staticmethod
        def keys() -> set[str]:
            listing = Bucket.client.list_objects_v2(Bucket=name)
            return {o["Key"] for o in listing.get("Contents", [])}

        @staticmethod
        def read(key: str) -> bytes:
            return Bucket.client.get_object(Bucket=name, Key=key)["Body"].read()

        @staticmethod
        def write(key: str, data: bytes) -> None:
            Bucket.client.put_object(Bucket=name, Key=key, Body=data)

        @staticmethod
        def delete(key: str) -> None:
            Bucket.client.delete_object(Bucket=name, Key=key)

    return Bucket


@pytest.fixture
def uploaded(world, bucket, monkeypatch, api_client_for):
    """A JPEG uploaded through the API and ingested (thumbnail, model input)."""
    monkeypatch.setattr(uploads, "enqueue_ingest", lambda ids: None)
    monkeypatch.setattr(ingest, "predict_hook", lambda *, image_ids: None)
    data = make_image_bytes(size=(900, 600), color=(10, 120, 200))
    batch = factories.UploadBatchFactory(client=world.client_a, created_by=world.librarian)
    api = api_client_for(world.librarian)
    response = api.post(
        reverse("api-batch-files", args=["alpha", batch.pk]),
        {"file": _named(data, "harbour.jpg")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    image = Image.objects.get()
    ingest.images_ingest(image_ids=[image.pk])
    image.refresh_from_db()
    return image, data


def _named(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="image/jpeg")


def test_an_upload_and_its_derivatives_are_objects_in_the_bucket(uploaded, bucket):
    image, data = uploaded
    keys = bucket.keys()
    assert image.file.name in keys
    assert bucket.read(image.file.name) == data
    assert image.thumbnail.name == storage_names.thumbnail_name(image.file.name)
    assert image.thumbnail.name in keys
    assert ingest.model_input_name(image) in keys
    assert bucket.read(image.thumbnail.name)[:2] == b"\xff\xd8"


def test_media_is_served_from_the_bucket_to_members_only(uploaded, bucket, client, world):
    image, data = uploaded
    file_url = reverse("image-file", args=["alpha", image.pk])
    client.force_login(world.librarian)
    response = client.get(file_url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    etag = response["ETag"]
    assert client.get(file_url, HTTP_IF_NONE_MATCH=etag).status_code == 304
    thumbnail = client.get(reverse("image-thumbnail", args=["alpha", image.pk]))
    assert b"".join(thumbnail.streaming_content) == bucket.read(image.thumbnail.name)
    client.force_login(world.outsider)
    assert client.get(file_url).status_code == 404
    # An object gone from the bucket is a 404, not a 500.
    bucket.delete(image.file.name)
    client.force_login(world.librarian)
    assert client.get(file_url).status_code == 404


def test_model_artifacts_live_in_the_bucket_with_their_checksum(world, bucket, settings):
    settings.DEFAULT_BACKBONE = "efficientnet_lite0"
    settings.BACKBONE_INPUT_SIZE = 64
    runtime.forget_models()
    try:
        verified_library(world, n=40)
        first = training_execute(run_id=training_request(taxonomy=world.taxonomy).pk)
        assert first.status == RunStatus.SUCCEEDED, first.message
        version = first.model_version
        assert version.artifact in bucket.keys()
        stored = bucket.read(version.artifact)
        assert hashlib.sha256(stored).hexdigest() == version.artifact_sha256
        # A fresh process (no model in memory, no local copy) loads it from the bucket.
        runtime.forget_models()
        _clear_local_copies(settings)
        rng = np.random.default_rng(5)
        image = add_photo(world.client_a, rng, warm=True, status=ImageStatus.NEEDS_REVIEW)
        assert images_predict(image_ids=[image.pk]).predicted == [image.pk]
        assert (version.artifact_sha256 + ".taxmodel") in {
            p.name for p in (settings.MODEL_CACHE_DIR / "artifacts").iterdir()
        }
        # A copy cut short in the bucket fails its checksum: activating it is refused.
        bucket.write(version.artifact, stored[: len(stored) // 2])
        runtime.forget_models()
        _clear_local_copies(settings)
        with pytest.raises(ActivationRefused):
            model_activate(model_version=version, force=True)
        assert ActiveModel.objects.get(taxonomy=world.taxonomy).model_version == version
    finally:
        runtime.forget_models()


def _clear_local_copies(settings):
    folder = settings.MODEL_CACHE_DIR / "artifacts"
    for path in folder.glob("*") if folder.exists() else []:
        path.unlink()


def test_the_health_check_writes_and_reads_the_bucket(bucket):
    check = health.check_storage()
    assert check.ok, check.detail
    assert check.detail == "S3Storage"
    assert not {k for k in bucket.keys() if k.startswith("health/")}
