"""Factories for the tests: small valid objects with the least typing."""

import hashlib
import io

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db.models import Max
from PIL import Image as PILImage

from labelling.models import (
    Client,
    ClientLabelName,
    Image,
    Label,
    Membership,
    Prediction,
    Role,
    Sector,
    Taxonomy,
    UploadBatch,
)
from training.models import ModelMode, ModelVersion, PredictionJob, TrainingRun


def make_image_bytes(
    size: tuple[int, int] = (96, 80), color=(200, 40, 40), fmt: str = "JPEG", **save_args
) -> bytes:
    """An image built in memory; tests never read image files from disk."""
    buffer = io.BytesIO()
    PILImage.new("RGB", size, color).save(buffer, format=fmt, **save_args)
    return buffer.getvalue()


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery")


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sector

    name = factory.Sequence(lambda n: f"Sector {n}")
    slug = factory.Sequence(lambda n: f"sector-{n}")


class TaxonomyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Taxonomy

    sector = factory.SubFactory(SectorFactory)
    name = factory.Sequence(lambda n: f"Taxonomy {n}")


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    taxonomy = factory.SubFactory(TaxonomyFactory)
    key = factory.Sequence(lambda n: f"label-{n}")
    name = factory.LazyAttribute(lambda o: o.key.replace("-", " ").title())


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n}")
    slug = factory.Sequence(lambda n: f"client-{n}")
    sector = factory.SubFactory(SectorFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    client = factory.SubFactory(ClientFactory)
    role = Role.LIBRARIAN


class ClientLabelNameFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClientLabelName

    client = factory.SubFactory(ClientFactory)
    label = factory.SubFactory(LabelFactory)
    name = factory.Sequence(lambda n: f"Our name {n}")


class UploadBatchFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UploadBatch

    client = factory.SubFactory(ClientFactory)
    name = factory.Sequence(lambda n: f"Batch {n}")


class ImageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Image
        skip_postgeneration_save = True

    client = factory.SubFactory(ClientFactory)
    original_name = factory.Sequence(lambda n: f"photo-{n}.jpg")
    file = factory.LazyAttribute(
        lambda o: ContentFile(make_image_bytes(), name=f"images/{o.original_name}")
    )
    sha256 = factory.Sequence(lambda n: hashlib.sha256(f"image-{n}".encode()).hexdigest())
    width = 96
    height = 80
    size_bytes = 1000
    format = "JPEG"

    @factory.post_generation
    def index_hash(self, create, extracted, **kwargs):
        # A hash is stored with its index rows, as the product does.
        if create and self.dhash:
            from labelling.services.duplicates import image_hash_bands_store

            image_hash_bands_store(images=[self])


def _next_number(version) -> int:
    latest = ModelVersion.objects.filter(taxonomy=version.taxonomy).aggregate(n=Max("number"))
    return (latest["n"] or 0) + 1


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A version row with no artifact file behind it; ``labels`` sets its classes."""

    class Meta:
        model = ModelVersion

    class Params:
        labels = ()

    taxonomy = factory.SubFactory(TaxonomyFactory)
    number = factory.LazyAttribute(_next_number)
    backbone = "efficientnet_lite0"
    mode = ModelMode.HEAD
    input_size = 224
    taxonomy_version = factory.LazyAttribute(lambda o: o.taxonomy.version)
    artifact = factory.LazyAttribute(lambda o: f"models/{o.taxonomy.pk}/v{o.number}.taxmodel")
    artifact_sha256 = "0" * 64
    class_labels = factory.LazyAttribute(lambda o: [label.pk for label in o.labels])


class PredictionFactory(factory.django.DjangoModelFactory):
    """What a version said about an image: ``scores`` [(label, probability), ...] best
    first, or ``ranked`` as stored ([{"label": id, "probability": p}, ...])."""

    class Meta:
        model = Prediction

    class Params:
        scores = ()

    image = factory.SubFactory(ImageFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    ranked = factory.LazyAttribute(
        lambda o: [{"label": label.pk, "probability": p} for label, p in o.scores]
    )
    top_label_id = factory.LazyAttribute(lambda o: o.ranked[0]["label"] if o.ranked else None)
    top_probability = factory.LazyAttribute(
        lambda o: o.ranked[0]["probability"] if o.ranked else 0.0
    )


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun

    taxonomy = factory.SubFactory(TaxonomyFactory)
    mode = ModelMode.HEAD
    backbone = "efficientnet_lite0"
    max_epochs = 200


class PredictionJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PredictionJob
        skip_postgeneration_save = True  # images.set() writes the rows itself

    client = factory.SubFactory(ClientFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    top_n = 5

    @factory.post_generation
    def images(self, create, extracted, **kwargs):
        if create and extracted:
            self.images.set(extracted)
