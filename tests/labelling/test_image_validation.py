"""The validation and normalisation of uploaded images (pure Pillow: no database)."""

import io
import warnings

import numpy as np
import pytest
from PIL import Image as PILImage
from PIL import PngImagePlugin

from labelling.image_validation import (
    ALLOWED_FORMATS,
    ImageRejected,
    inspect_image,
    make_derivatives,
)
from tests.factories import make_image_bytes

DECODE_LIMITS = {"max_pixels": 50_000_000, "max_decoded_bytes": 160 * 1024 * 1024}
LIMITS = {**DECODE_LIMITS, "max_bytes": 5 * 1024 * 1024}

SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script></svg>"
)
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


def rejection(data: bytes, **limits) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        inspect_image(data, **{**LIMITS, **limits})
    assert caught.value.message  # every refusal says why, in words
    return caught.value


def jpeg_with_exif(size=(120, 60), orientation: int | None = None, gps: bool = False) -> bytes:
    image = PILImage.new("RGB", size, (200, 40, 40))
    # Left quarter blue, so a rotation can be seen in the pixels.
    image.paste((20, 40, 220), (0, 0, size[0] // 4, size[1]))
    exif = image.getexif()
    exif[0x010F] = "Camera maker"  # Make
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)}
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif, quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ALLOWED_FORMATS)
def test_it_accepts_each_allowed_format(fmt):
    info = inspect_image(make_image_bytes(size=(64, 48), fmt=fmt), **LIMITS)

    assert (info.format, info.width, info.height) == (fmt, 64, 48)
    assert info.mime_type.startswith("image/")


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P", "L", "I;16", "CMYK", "1"])
def test_it_makes_rgb_derivatives_from_any_mode(mode):
    fmt = "JPEG" if mode in ("CMYK", "L") else "TIFF" if mode == "I;16" else "PNG"
    buffer = io.BytesIO()
    PILImage.new(mode, (40, 30)).save(buffer, format=fmt)

    derivatives = make_derivatives(buffer.getvalue(), **DECODE_LIMITS)

    thumbnail = PILImage.open(io.BytesIO(derivatives.thumbnail))
    assert (thumbnail.format, thumbnail.mode, thumbnail.size) == ("JPEG", "RGB", (40, 30))


def test_it_paints_transparency_on_white():
    buffer = io.BytesIO()
    PILImage.new("RGBA", (20, 20), (255, 0, 0, 0)).save(buffer, format="PNG")

    derivatives = make_derivatives(buffer.getvalue(), **DECODE_LIMITS)

    r, g, b = PILImage.open(io.BytesIO(derivatives.model_input)).getpixel((10, 10))
    assert min(r, g, b) > 245


def test_it_rejects_svg():
    assert rejection(SVG).code == "unsupported_format"


def test_it_rejects_html_whatever_its_name():
    assert rejection(HTML).code == "unsupported_format"


def test_it_rejects_other_image_formats():
    gif = io.BytesIO()
    PILImage.new("P", (8, 8)).save(gif, format="GIF")
    bmp = io.BytesIO()
    PILImage.new("RGB", (8, 8)).save(bmp, format="BMP")

    assert rejection(gif.getvalue()).code == "unsupported_format"
    assert rejection(bmp.getvalue()).code == "unsupported_format"


def test_it_rejects_a_png_html_polyglot_in_a_text_chunk():
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "<html><script>alert(document.domain)</script></html>")
    buffer = io.BytesIO()
    PILImage.new("RGB", (16, 16), (0, 128, 0)).save(buffer, format="PNG", pnginfo=text)
    polyglot = buffer.getvalue()
    assert PILImage.open(io.BytesIO(polyglot)).format == "PNG"  # a valid PNG all the same

    refused = rejection(polyglot)

    assert refused.code == "active_content"
    assert "<html" in refused.message


def test_it_rejects_html_appended_after_the_image():
    polyglot = make_image_bytes(fmt="PNG") + b"<SCRIPT src=//evil.example/x.js></SCRIPT>"

    assert rejection(polyglot).code == "active_content"


def _jpeg_with_bytes_in_its_pixels(marker: bytes) -> bytes:
    """A noisy JPEG whose compressed pixel data carries ``marker`` (written over a run with
    no 0xFF byte near it, so the structure stays whole: it still decodes)."""
    pixels = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    PILImage.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    data = bytearray(buffer.getvalue())
    sos = data.find(b"\xff\xda")
    scan = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    at = scan + (len(data) - scan) // 2
    while 0xFF in data[at - 1 : at + len(marker) + 1]:
        at += 7
    data[at : at + len(marker)] = marker
    return bytes(data)


def test_markup_bytes_inside_compressed_pixels_are_not_a_web_page():
    # Compressed pixels are random bytes: "<svg" alone turned up in about one camera-sized
    # JPEG in 3,600 and had it refused. No sniffer reads a tag there.
    photo = _jpeg_with_bytes_in_its_pixels(b"<svg ")
    assert b"<svg " in photo

    info = inspect_image(photo, **LIMITS)

    assert (info.format, info.width) == ("JPEG", 256)


def test_markup_in_a_jpeg_comment_or_after_its_end_is_refused():
    buffer = io.BytesIO()
    PILImage.new("RGB", (32, 32), (10, 120, 10)).save(
        buffer, format="JPEG", comment=b"<svg onload=alert(1)>"
    )
    assert rejection(buffer.getvalue()).code == "active_content"

    trailer = _jpeg_with_bytes_in_its_pixels(b"<b") + b"<html><script>alert(1)</script>"
    assert rejection(trailer).code == "active_content"


def test_it_rejects_an_empty_file():
    assert rejection(b"").code == "empty_file"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_it_rejects_a_truncated_file(fmt):
    # Noise, so that the compressed data is long enough to cut in the middle.
    image = PILImage.effect_noise((256, 256), 64).convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    data = buffer.getvalue()

    refused = rejection(data[: len(data) // 2])

    assert refused.code == "damaged_file"


def test_it_rejects_a_decompression_bomb_without_decoding_it():
    buffer = io.BytesIO()
    PILImage.new("1", (10_000, 10_000)).save(buffer, format="PNG")  # 100 megapixels
    bomb = buffer.getvalue()
    assert len(bomb) < 20_000  # a few KB

    refused = rejection(bomb)

    assert refused.code == "too_many_pixels"
    assert "100.0 megapixels" in refused.message


def test_it_applies_our_own_pixel_cap():
    refused = rejection(make_image_bytes(size=(200, 100)), max_pixels=10_000)

    assert refused.code == "too_many_pixels"


def test_it_rejects_files_over_the_byte_cap():
    refused = rejection(make_image_bytes(size=(200, 100)), max_bytes=100)

    assert refused.code == "file_too_large"


def test_it_reports_the_full_size_of_a_large_jpeg_decoded_in_draft_mode():
    info = inspect_image(make_image_bytes(size=(2400, 1600)), **LIMITS)

    assert (info.width, info.height) == (2400, 1600)


@pytest.mark.parametrize(
    "size, decoded",
    [
        ((1024, 768), (512, 384)),  # half scale is exactly the model-input image
        ((4000, 3000), (1000, 750)),  # an eighth would be smaller than it: a quarter
        ((640, 480), (640, 480)),  # already close: decoded whole
    ],
)
def test_a_jpeg_is_decoded_at_the_smallest_scale_the_model_input_image_allows(
    monkeypatch, size, decoded
):
    loaded = []
    original_load = PILImage.Image.load

    def spy(image):
        result = original_load(image)
        loaded.append(image.size)
        return result

    monkeypatch.setattr(PILImage.Image, "load", spy)
    derivatives = make_derivatives(make_image_bytes(size=size), **DECODE_LIMITS)

    assert decoded in loaded
    assert (derivatives.width, derivatives.height) == size  # the original's size is kept
    model_input = PILImage.open(io.BytesIO(derivatives.model_input))
    assert max(model_input.size) == min(512, max(size))


def test_it_applies_the_exif_orientation():
    data = jpeg_with_exif(size=(120, 60), orientation=6)  # rotate 90° clockwise to view

    info = inspect_image(data, **LIMITS)
    derivatives = make_derivatives(data, **DECODE_LIMITS)

    assert (info.width, info.height) == (60, 120)
    assert (derivatives.width, derivatives.height) == (60, 120)
    upright = PILImage.open(io.BytesIO(derivatives.model_input))
    assert upright.size == (60, 120)
    # The blue left edge of the stored pixels is the top once upright.
    r, g, b = upright.getpixel((30, 5))
    assert b > 150 and r < 100
    r, g, b = upright.getpixel((30, 115))
    assert r > 150 and b < 100


def test_derivatives_carry_no_exif_or_gps():
    data = jpeg_with_exif(size=(900, 600), orientation=3, gps=True)
    assert PILImage.open(io.BytesIO(data)).getexif().get_ifd(0x8825)  # the source has GPS

    derivatives = make_derivatives(data, **DECODE_LIMITS)

    for encoded in (derivatives.thumbnail, derivatives.model_input):
        image = PILImage.open(io.BytesIO(encoded))
        assert len(image.getexif()) == 0
        assert "exif" not in image.info
        assert b"Exif" not in encoded
        assert b"Camera maker" not in encoded
    assert max(PILImage.open(io.BytesIO(derivatives.thumbnail)).size) == 320
    assert max(PILImage.open(io.BytesIO(derivatives.model_input)).size) == 512


def test_derivatives_refuse_a_file_that_cannot_be_read():
    with pytest.raises(ImageRejected) as caught:
        make_derivatives(b"not an image at all", **DECODE_LIMITS)

    assert caught.value.code == "unsupported_format"


def test_it_treats_pillows_bomb_warning_as_an_error():
    buffer = io.BytesIO()
    PILImage.new("1", (10_000, 10_000)).save(buffer, format="PNG")

    with warnings.catch_warnings():
        warnings.simplefilter("error", PILImage.DecompressionBombWarning)
        refused = rejection(buffer.getvalue(), max_pixels=10**9)

    assert refused.code == "too_many_pixels"


ACTIVE_MARKERS = [
    b'<img src=x onerror="alert(1)">',
    b"<IMG SRC=x\nONLOAD=alert(1)>",
    b"<a href=# onclick=alert(1)>x</a>",
    b"<style>body{background:url(javascript:alert(1))}</style>",
    b'<meta http-equiv="refresh" content="0;url=https://example.org/">',
    b"<x:script xmlns:x='http://www.w3.org/1999/xhtml'>alert(1)</x:script>",
    b"<html:body xmlns:html='http://www.w3.org/1999/xhtml'>",
    b"%PDF-1.7\n1 0 obj << /OpenAction << /JS (app.alert(1)) >> >>",
    b"%!PS-Adobe-3.0\n",
]


@pytest.mark.parametrize("marker", ACTIVE_MARKERS)
@pytest.mark.parametrize("carrier", ["jpeg-comment", "png-text", "after-the-end", "webp-chunk"])
def test_event_handlers_style_meta_namespaced_script_and_pdf_markers_are_refused(marker, carrier):
    if carrier == "jpeg-comment":
        buffer = io.BytesIO()
        PILImage.new("RGB", (32, 32), (10, 120, 10)).save(buffer, format="JPEG", comment=marker)
        data = buffer.getvalue()
    elif carrier == "png-text":
        text = PngImagePlugin.PngInfo()
        text.add_text("Comment", marker.decode("latin-1"))
        data = make_image_bytes(size=(32, 32), fmt="PNG", pnginfo=text)
    elif carrier == "webp-chunk":
        data = make_image_bytes(size=(32, 32), fmt="WEBP", xmp=marker)
    else:
        data = make_image_bytes(size=(32, 32), fmt="PNG") + marker

    refused = rejection(data)

    assert refused.code == "active_content"


def test_ordinary_photo_metadata_is_not_active_content():
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
        b'22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements'
        b'/1.1/" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" photoshop:Headline="On'
        b' stage" dc:format="image/jpeg"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
        b"Concert online</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    buffer = io.BytesIO()
    PILImage.new("RGB", (32, 32)).save(buffer, format="JPEG", xmp=xmp, comment=b"PDF export")

    assert inspect_image(buffer.getvalue(), **LIMITS).format == "JPEG"


@pytest.mark.parametrize("fmt", ["WEBP", "TIFF"])
def test_noisy_photos_scanned_whole_are_not_mistaken_for_markup(fmt):
    # WebP and TIFF are scanned whole, compressed pixels included: random bytes.
    noise = PILImage.effect_noise((1024, 1024), 120).convert("RGB")
    buffer = io.BytesIO()
    noise.save(buffer, format=fmt, **({"quality": 95} if fmt == "WEBP" else {}))

    assert inspect_image(buffer.getvalue(), **LIMITS).format == fmt
