"""Near-duplicates: a perceptual hash at ingest, "looks like image N" on the image page, and
never one copy in the training images and another in the gold test images."""

import io
import uuid

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


# --- At upload, through the index -----------------------------------------------------------


@pytest.mark.django_db
def test_the_upload_answer_says_which_images_a_new_one_looks_like(world, api_client_for, queued):  # noqa: F811
    from django.core.files.base import ContentFile

    from labelling.services import uploads
    from tests.labelling.test_uploads_api import post_files

    batch = factories.UploadBatchFactory(client=world.client_a, created_by=world.librarian)
    [first] = uploads.batch_files_upload(
        batch=batch,
        user=world.librarian,
        files=[ContentFile(encoded(photo(7), fmt="PNG"), name="a.png")],
    )
    # Client B's copy of the same photo is never named to client A.
    b_batch = factories.UploadBatchFactory(client=world.client_b)
    uploads.batch_files_upload(
        batch=b_batch,
        user=world.outsider,
        files=[ContentFile(encoded(photo(7), quality=70), name="b.jpg")],
    )
    assert len(first.image.dhash) == 16  # hashed at upload, before any worker

    response = post_files(
        api_client_for(world.librarian),
        batch,
        [("copy.jpg", encoded(photo(7), quality=50)), ("other.jpg", encoded(photo(8)))],
    )

    assert response.status_code == 201, response.json()
    copy, other = response.json()["results"]
    assert copy["status"] == "stored"
    [named] = copy["looks_like"]
    assert named["id"] == first.image.pk and named["name"] == "a.png"
    assert named["page"] == f"/clients/alpha/images/{first.image.pk}/"
    assert 0 <= named["bits"] <= NEAR_DUPLICATE_BITS
    assert other["status"] == "stored" and other["looks_like"] == []
    # The first image now has a look-alike too, on its own page.
    from labelling.selectors.duplicates import near_duplicates

    first.image.refresh_from_db()
    assert [pk for pk, _ in near_duplicates(first.image)] == [copy["image"]["id"]]


@pytest.mark.django_db
def test_ingest_keeps_the_upload_hash_and_indexes_images_hashed_later(world, upload, hooked):  # noqa: F811
    from labelling.models import Image, ImageHashBand
    from labelling.perceptual_hash import band_keys

    image = upload(encoded(photo(4)), name="x.jpg")
    at_upload = image.dhash
    assert sorted(
        ImageHashBand.objects.filter(image=image).values_list("key", flat=True)
    ) == sorted(band_keys(at_upload))
    tasks.ingest_images([image.pk])
    image.refresh_from_db()
    assert image.dhash == at_upload and ImageHashBand.objects.filter(image=image).count() == 4

    # An image hashed before the index existed gets its rows from the command.
    old = factories.ImageFactory(client=world.client_a)
    Image.objects.filter(pk=old.pk).update(dhash=at_upload)
    from django.core.management import call_command

    call_command("hash_images")
    assert ImageHashBand.objects.filter(image=old).count() == 4
    old.refresh_from_db()
    from labelling.selectors.duplicates import near_duplicates

    assert near_duplicates(old) == [(image.pk, 0)]


def _stored_hashes(client, values: list[str]):
    """Image rows with these hashes, indexed, without files: the look-up reads rows only."""
    from labelling.models import Image
    from labelling.services.duplicates import image_hash_bands_store

    rows = Image.objects.bulk_create(
        [
            Image(client=client, file=f"x/{n}.jpg", sha256=uuid.uuid4().hex * 2, dhash=value)
            for n, value in enumerate(values)
        ]
    )
    image_hash_bands_store(images=rows, new=True)
    return rows


@pytest.mark.django_db
def test_the_index_finds_exactly_what_comparing_every_hash_finds(world, django_assert_num_queries):
    from labelling.selectors.duplicates import near_duplicates_of

    rng = np.random.default_rng(5)
    stored = [f"{int(v):016x}" for v in rng.integers(0, 2**64, 3000, dtype=np.uint64)]
    probes = {}
    for n, bits in enumerate([0, 1, 3, 6, 7, 9]):
        base = int(stored[n * 7], 16)
        flips = rng.choice(64, size=bits, replace=False)
        probes[n] = f"{base ^ sum(1 << int(b) for b in flips):016x}"
    rows = _stored_hashes(world.client_a, stored)
    probe_rows = _stored_hashes(world.client_a, list(probes.values()))
    _stored_hashes(world.client_b, list(probes.values()))  # another client's copies

    asked = {row.pk: row.dhash for row in probe_rows}
    with django_assert_num_queries(1):
        found = near_duplicates_of(world.client_a.pk, asked, limit=100)

    everyone = rows + probe_rows
    for pk, value in asked.items():
        scan = sorted(
            (distance(value, other.dhash), other.pk)
            for other in everyone
            if other.pk != pk and distance(value, other.dhash) <= NEAR_DUPLICATE_BITS
        )
        assert found[pk] == [(other, bits) for bits, other in scan]
    # Planted within 6 bits: found; 7 and 9 bits away: not.
    assert [bool(found[row.pk]) for row in probe_rows] == [True] * 4 + [False] * 2


def test_a_hash_within_six_bits_always_shares_a_looked_up_key():
    from labelling.perceptual_hash import band_keys, probe_keys

    rng = np.random.default_rng(11)
    for _ in range(2000):
        value = int(rng.integers(0, 2**63)) << 1 | int(rng.integers(0, 2))
        flips = rng.choice(64, size=int(rng.integers(0, NEAR_DUPLICATE_BITS + 1)), replace=False)
        other = value ^ sum(1 << int(b) for b in flips)
        a, b = f"{value:016x}", f"{other:016x}"
        assert set(probe_keys(a)) & set(band_keys(b)), (a, b)
    assert len(band_keys("0123456789abcdef")) == 4 and len(probe_keys("0123456789abcdef")) == 68


@pytest.mark.parametrize("mode", ["RGB", "P", "L", "I;16", "RGBA"])
def test_the_upload_hash_is_the_one_the_thumbnail_would_give(mode):
    from django.conf import settings

    from labelling import image_validation

    picture = photo(21, size=(1600, 1200))
    picture = (
        picture.convert("I").point(lambda v: v * 200).convert("I;16")
        if mode == "I;16"
        else picture.convert(mode)
    )
    data = encoded(picture, fmt="PNG")
    limits = {
        "max_pixels": settings.MAX_IMAGE_PIXELS,
        "max_decoded_bytes": settings.MAX_DECODED_BYTES,
    }
    info = image_validation.inspect_image(data, max_bytes=settings.MAX_UPLOAD_BYTES, **limits)
    thumbnail = image_validation.make_derivatives(data, **limits).thumbnail
    assert len(info.dhash) == 16
    assert distance(info.dhash, dhash(thumbnail)) <= 2


def test_a_turned_jpeg_is_hashed_upright_at_upload_as_its_thumbnail_is():
    from django.conf import settings

    from labelling import image_validation

    exif = PILImage.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    data = encoded(photo(22, size=(1600, 1200)), exif=exif.tobytes())
    limits = {
        "max_pixels": settings.MAX_IMAGE_PIXELS,
        "max_decoded_bytes": settings.MAX_DECODED_BYTES,
    }
    info = image_validation.inspect_image(data, max_bytes=settings.MAX_UPLOAD_BYTES, **limits)
    thumbnail = image_validation.make_derivatives(data, **limits).thumbnail
    assert distance(info.dhash, dhash(thumbnail)) <= 2
    assert distance(info.dhash, dhash(encoded(photo(22, size=(1600, 1200))))) > NEAR_DUPLICATE_BITS
