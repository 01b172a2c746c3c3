"""Near-duplicates: a perceptual hash at ingest, "looks like image N" on the image page, and
never one copy in the training images and another in the gold test images."""

import io

import numpy as np
import pytest
from django.urls import reverse
from PIL import Image as PILImage

from labelling import tasks
from labelling.models import ImageLabel, ImageStatus
from labelling.models.images import LabelSource
from labelling.perceptual_hash import (
    NEAR_DUPLICATE_BITS,
    dhash,
    distance,
    near_duplicate_groups,
)
from tests import factories
from tests.labelling.test_ingest import hooked, queued, upload  # noqa: F401  (fixtures)
from training.services.dataset import gold_flags, is_gold_test


def photo(seed: int, size=(320, 240)) -> PILImage.Image:
    """A smooth random picture (blobs of colour), different for every seed."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
    return PILImage.fromarray(small).resize(size, PILImage.Resampling.BICUBIC)


def encoded(image: PILImage.Image, fmt="JPEG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def test_copies_of_one_photo_hash_near_and_other_photos_far():
    original = photo(1)
    copies = [
        encoded(original, quality=40),
        encoded(original.resize((160, 120)), fmt="PNG"),
        encoded(original.crop((4, 3, 316, 237))),
    ]
    base = dhash(encoded(original, fmt="PNG"))
    for copy in copies:
        assert distance(base, dhash(copy)) <= NEAR_DUPLICATE_BITS
    others = [distance(base, dhash(encoded(photo(seed)))) for seed in range(2, 30)]
    assert min(others) > NEAR_DUPLICATE_BITS


def test_groups_link_near_hashes_and_leave_far_and_missing_ones_alone():
    a = "f0f0f0f0f0f0f0f0"
    near_a = "f0f0f0f0f0f0f0f3"  # 2 bits away
    far = "0f0f0f0f0f0f0f0f"
    assert near_duplicate_groups([a, far, None, near_a]) == [0, 1, 2, 0]


@pytest.mark.django_db
def test_ingest_stores_the_hash_and_the_image_page_names_the_lookalike(
    world,
    upload,  # noqa: F811
    hooked,  # noqa: F811
    client,
):
    first = upload(encoded(photo(7), fmt="PNG"), name="a.png")
    second = upload(encoded(photo(7), quality=50), name="b.jpg")
    other = upload(encoded(photo(8)), name="c.jpg")
    tasks.ingest_images([first.pk, second.pk, other.pk])
    for image in (first, second, other):
        image.refresh_from_db()
        assert len(image.dhash) == 16
    client.force_login(world.librarian)
    page = client.get(reverse("image-detail", args=[world.client_a.slug, second.pk]))
    assert page.context["looks_like"][0]["id"] == first.pk
    assert f"image {first.pk}</a>" in page.content.decode()
    assert f"image {other.pk}</a>" not in page.content.decode()
    # another client's copy is never named
    client.force_login(world.outsider)
    assert (
        client.get(reverse("image-detail", args=[world.client_a.slug, second.pk])).status_code
        == 404
    )


@pytest.mark.django_db
def test_near_duplicates_land_on_one_side_of_the_gold_split(world):
    label = world.labels.smiling
    images = []
    # Pairs of copies whose content hashes alone would split them between the sides.
    seed = 0
    while len(images) < 8:
        seed += 1
        data_a, data_b = encoded(photo(seed), fmt="PNG"), encoded(photo(seed), quality=60)
        a = factories.ImageFactory(
            client=world.client_a, status=ImageStatus.VERIFIED, dhash=dhash(data_a)
        )
        b = factories.ImageFactory(
            client=world.client_b, status=ImageStatus.VERIFIED, dhash=dhash(data_b)
        )
        if is_gold_test(a.sha256) == is_gold_test(b.sha256):
            a.delete(), b.delete()
            continue
        for image in (a, b):
            ImageLabel.objects.create(image=image, label=label, source=LabelSource.HUMAN)
        images += [a, b]
    flags = gold_flags(images)
    for i in range(0, len(images), 2):
        assert flags[i] == flags[i + 1] == is_gold_test(images[i].sha256)


@pytest.mark.django_db
def test_the_command_hashes_images_stored_before_ingest_hashed_them(world, capsys):
    from django.core.files.base import ContentFile
    from django.core.management import call_command

    data = encoded(photo(3))
    old = factories.ImageFactory(client=world.client_a, dhash="")
    old.thumbnail.save("thumbs/old.jpg", ContentFile(data), save=True)
    broken = factories.ImageFactory(client=world.client_a, dhash="", thumbnail="thumbs/gone.jpg")
    call_command("hash_images")
    old.refresh_from_db()
    broken.refresh_from_db()
    assert old.dhash == dhash(data) and broken.dhash == ""
    assert "Hashed 1 image(s); 1 thumbnail(s) could not be read." in capsys.readouterr().out
