"""The decoded-memory budget: files refused for what decoding them would cost, whatever their
compressed size, and the memory a process really spends on them."""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from PIL import Image as PILImage

from labelling.image_validation import (
    ImageRejected,
    decoded_bytes,
    inspect_image,
    make_derivatives,
)
from labelling.models import ImageStatus
from labelling.services import ingest, uploads
from tests import factories
from tests.labelling.hostile_images import jpeg_claiming, lossless_webp, png_of_zeros

MB = 1024 * 1024
BUDGET = 256 * MB
LIMITS = {"max_pixels": 50_000_000, "max_decoded_bytes": BUDGET}


@pytest.fixture(scope="module")
def webp_7000():
    return lossless_webp(7000, 7000)


def refused(data: bytes, **limits) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, max_bytes=50 * MB, **{**LIMITS, **limits})
    return caught.value


def test_a_2kb_lossless_webp_of_7000_by_7000_is_refused_for_its_memory(webp_7000):
    assert len(webp_7000) < 2048

    refusal = refused(webp_7000)

    assert refusal.code == "too_much_memory"
    assert "7,000 × 7,000" in refusal.message and "256.0 MB" in refusal.message


@pytest.mark.parametrize("mode, bits", [("RGBA", 16), ("RGB", 16)])
def test_a_49_megapixel_png_under_the_pixel_cap_is_refused_for_its_memory(mode, bits):
    data = png_of_zeros(7000, 7000, mode=mode, bits=bits)

    assert refused(data).code == "too_much_memory"


def test_sixteen_bit_samples_count_twice():
    eight, sixteen = (
        PILImage.open(io.BytesIO(png_of_zeros(100, 50, mode="RGBA", bits=bits))) for bits in (8, 16)
    )

    assert decoded_bytes(eight) == 100 * 50 * 4
    assert decoded_bytes(sixteen) == 100 * 50 * 4 * 2


def test_an_image_within_the_budget_is_accepted_and_one_byte_less_refuses_it():
    data = png_of_zeros(1000, 1000, mode="RGBA", bits=16)  # 1000 × 1000 × 4 × 2 bytes

    info = inspect_image(data, max_bytes=50 * MB, **{**LIMITS, "max_decoded_bytes": 8_000_000})

    assert (info.width, info.height) == (1000, 1000)
    assert refused(data, max_decoded_bytes=7_999_999).code == "too_much_memory"


def test_animated_images_count_their_canvas_too():
    frames = [PILImage.new("RGBA", (100, 100), (i, 0, 0, 255)) for i in (0, 200)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="PNG", save_all=True, append_images=frames[1:])

    assert decoded_bytes(PILImage.open(io.BytesIO(buffer.getvalue()))) == 2 * 100 * 100 * 4


def test_a_progressive_jpeg_counts_its_full_size_coefficients_whatever_its_draft():
    buffer = io.BytesIO()
    PILImage.new("RGB", (1600, 1600)).save(buffer, format="JPEG", progressive=True)
    baseline = factories.make_image_bytes(size=(1600, 1600))
    image, plain = (PILImage.open(io.BytesIO(d)) for d in (buffer.getvalue(), baseline))
    for opened in (image, plain):
        opened.draft("RGB", (1, 1))

    # 4:2:0: a full luma plane and two quarter chroma planes of 2-byte coefficients.
    assert decoded_bytes(image, (1600, 1600)) - decoded_bytes(plain) == 1600 * 1600 * 3


def test_the_worker_refuses_the_same_files(webp_7000):
    with pytest.raises(ImageRejected) as caught:
        make_derivatives(webp_7000, **LIMITS)

    assert caught.value.code == "too_much_memory"


@pytest.mark.parametrize("check", ["upload", "worker"])
def test_a_2kb_jpeg_whose_header_claims_7000_by_7000_is_refused(check):
    data = jpeg_claiming(7000, 7000)
    assert len(data) < 2048
    with pytest.raises(ImageRejected) as caught:
        if check == "upload":
            inspect_image(data, max_bytes=50 * MB, **LIMITS)
        else:
            make_derivatives(data, **LIMITS)

    assert caught.value.code == "damaged_file"
    assert "incomplete" in caught.value.message


def test_a_real_jpeg_of_a_flat_colour_is_not_mistaken_for_a_cut_one():
    data = factories.make_image_bytes(size=(4000, 3000), color=(0, 0, 0))

    assert inspect_image(data, max_bytes=50 * MB, **LIMITS).width == 4000


def test_a_stored_file_that_is_a_cut_jpeg_fails_at_ingest_and_is_not_ingested(world, monkeypatch):
    monkeypatch.setattr(uploads, "enqueue_ingest", lambda ids: None)
    monkeypatch.setattr(ingest, "predict_hook", lambda *, image_ids: None)
    batch = factories.UploadBatchFactory(client=world.client_a)
    [outcome] = uploads.batch_files_upload(
        batch=batch,
        user=world.librarian,
        files=[ContentFile(jpeg_claiming(7000, 7000), name="cut.jpg")],
    )
    assert (outcome.status, outcome.code) == (uploads.REJECTED, "damaged_file")
    # One already stored (before this check existed) is failed by the worker, not ingested.
    image = factories.ImageFactory(
        client=world.client_a, file=ContentFile(jpeg_claiming(7000, 7000), "x.jpg")
    )

    result = ingest.images_ingest(image_ids=[image.pk])

    image.refresh_from_db()
    assert result.failed == [image.pk] and image.status == ImageStatus.FAILED
    assert "incomplete" in image.failure_reason and not image.thumbnail


_MEASURE = """
import json, sys
from concurrent.futures import ThreadPoolExecutor
from labelling.image_validation import ImageRejected, inspect_image, make_derivatives
limits = dict(max_pixels=50_000_000, max_decoded_bytes=int(sys.argv[1]))
files = [open(path, "rb").read() for path in sys.argv[2:]]
def check(data):
    outcome = []
    for step in (lambda: inspect_image(data, max_bytes=10**9, **limits),
                 lambda: make_derivatives(data, **limits)):
        try:
            step()
            outcome.append("accepted")
        except ImageRejected as refusal:
            outcome.append(refusal.code)
    return outcome
def peak_kb():  # ru_maxrss would carry over the parent's peak through exec(); VmHWM does not
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
before = peak_kb()
with ThreadPoolExecutor(len(files)) as pool:
    outcomes = list(pool.map(check, files))
after = peak_kb()
print(json.dumps({"before_kb": before, "grew_kb": after - before, "outcomes": outcomes}))
"""


def _peak_growth(tmp_path: Path, budget: int, files: list[bytes]) -> dict:
    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from Linux's /proc/self/status")
    paths = []
    for index, data in enumerate(files):
        path = tmp_path / f"file-{index}"
        path.write_bytes(data)
        paths.append(str(path))
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(budget), *paths],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_eight_bomb_like_uploads_at_once_cost_a_worker_almost_nothing(tmp_path, webp_7000):
    bombs = [
        webp_7000,
        png_of_zeros(7000, 7000, mode="RGBA", bits=16),
        png_of_zeros(7000, 7000, mode="RGB", bits=16),
        jpeg_claiming(7000, 7000),
    ] * 2

    measured = _peak_growth(tmp_path, BUDGET, bombs)

    # Unchecked, these decode to 300-800 MB each (several GB for eight at once).
    assert measured["grew_kb"] < 40 * 1024, measured
    assert all("accepted" not in outcome for outcome in measured["outcomes"])


# What the worker's copies after the decode may add: they are made from the image shrunk to
# at most four times the model-input side (2048 px), 4 bytes a pixel, a few at a time.
DERIVATIVE_COPIES = 80 * MB  # measured: 52 MB for a 3000 × 3000 RGBA PNG


@pytest.mark.parametrize(
    "make",
    [
        lambda: lossless_webp(3000, 3000),
        lambda: png_of_zeros(3000, 3000, mode="RGBA", bits=8),
        lambda: png_of_zeros(3000, 3000, mode="RGBA", bits=16),
    ],
    ids=["webp", "png-rgba8", "png-rgba16"],
)
def test_what_an_accepted_image_really_costs_stays_within_its_count(tmp_path, make):
    data = make()
    counted = decoded_bytes(PILImage.open(io.BytesIO(data)))

    measured = _peak_growth(tmp_path, counted, [data])

    assert measured["outcomes"] == [["accepted", "accepted"]]
    grew = measured["grew_kb"] * 1024
    assert counted / 4 < grew <= counted + DERIVATIVE_COPIES, (measured, counted)
