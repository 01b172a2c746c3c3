"""Validation and normalisation of uploaded images: pure Pillow, no Django.

Two steps, one per process that runs them:

- ``inspect_image`` at upload, in the web process: is this an image we accept, within our
  limits, readable to the end? It refuses with an ``ImageRejected`` carrying a reason code and
  a message a librarian can act on, and decodes as little as it can (JPEG at 1/8 scale).
- ``make_derivatives`` in the worker: the thumbnail and the model-input image, upright
  (EXIF orientation applied), in sRGB, re-encoded by Pillow with no EXIF, GPS or other
  metadata carried over.

The original file is stored as uploaded (a library keeps its masters); it is only ever served
with a server-set content type and ``nosniff``, which is why files that could be read as a web
page are refused here.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import Image as PILImage
from PIL import ImageCms, UnidentifiedImageError

from labelling import active_content
from labelling.perceptual_hash import dhash

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "TIFF")
MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "TIFF": "tif"}
FORMAT_NAMES = "JPEG, PNG, WebP or TIFF"

THUMBNAIL_SIDE = 320
THUMBNAIL_QUALITY = 80
# Large enough for any backbone we use (Inception-v3 takes 299 px, EfficientNet-Lite 224-280)
# and small enough that the worker that embeds it decodes it in a millisecond or two.
MODEL_INPUT_SIDE = 512
MODEL_INPUT_QUALITY = 90

_DECODE_ERRORS = (
    OSError,  # "image file is truncated", "broken data stream", decoder errors
    SyntaxError,  # Pillow's plugins raise it for malformed headers
    ValueError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
    KeyError,
    TypeError,
    MemoryError,
    PILImage.DecompressionBombError,
    PILImage.DecompressionBombWarning,  # where a warnings filter turned it into an error
)

# EXIF orientations that swap width and height (90° and 270° turns, with or without a flip).
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}
# What turns each EXIF orientation upright (as ImageOps.exif_transpose does it, but applied to
# the shrunk copy, which no longer carries the tag: TIFF keeps it outside ``info``).
_UPRIGHT = {
    2: PILImage.Transpose.FLIP_LEFT_RIGHT,
    3: PILImage.Transpose.ROTATE_180,
    4: PILImage.Transpose.FLIP_TOP_BOTTOM,
    5: PILImage.Transpose.TRANSPOSE,
    6: PILImage.Transpose.ROTATE_270,
    7: PILImage.Transpose.TRANSVERSE,
    8: PILImage.Transpose.ROTATE_90,
}
# Modes Image.reduce() takes; the others (1, P, I;16) are shrunk after their conversion.
_REDUCIBLE_MODES = {"L", "LA", "La", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "I", "F"}
# Arithmetic-coded JPEG frames (SOF9-11, SOF13-15): they can spend less than a bit a block.
_ARITHMETIC_SOF = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_EXIF_ORIENTATION = 0x0112
_RESAMPLE = PILImage.Resampling.BILINEAR
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))

# Pillow only warns about a likely decompression bomb (up to twice its limit) and decodes it
# anyway. In this process that warning is an error, wherever Pillow is used; set once, at
# import, because catch_warnings() around each open would not be thread-safe. ``_open`` also
# refuses such images itself (pixel_limit), so nothing depends on this filter alone.
warnings.filterwarnings("error", category=PILImage.DecompressionBombWarning)


class ImageRejected(Exception):
    """An upload we refuse: ``code`` is for programs, ``message`` for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageInfo:
    format: str  # one of ALLOWED_FORMATS
    width: int  # as a person sees it: EXIF orientation applied
    height: int
    frames: int
    # The perceptual hash of the upright picture (labelling.perceptual_hash), so that near-
    # duplicates can be named in the upload's answer; "" where it could not be computed.
    dhash: str = ""

    @property
    def mime_type(self) -> str:
        return MIME_TYPES[self.format]

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.format]


@dataclass(frozen=True)
class Derivatives:
    thumbnail: bytes  # JPEG, longest side THUMBNAIL_SIDE at most
    model_input: bytes  # JPEG, RGB, longest side MODEL_INPUT_SIDE at most
    width: int  # of the upright original
    height: int


def pixel_limit(max_pixels: int) -> int:
    """Our cap, or Pillow's own decompression-bomb threshold where that is lower: an image
    that would make Pillow warn is refused, never decoded with a warning in a log."""
    pillow_limit = PILImage.MAX_IMAGE_PIXELS
    return min(max_pixels, pillow_limit) if pillow_limit else max_pixels


def inspect_image(
    data: bytes, *, max_pixels: int, max_bytes: int, max_decoded_bytes: int
) -> ImageInfo:
    """Accept ``data`` as an image or raise ImageRejected. Reads the header, checks the
    limits (pixels, and the memory decoding would take) before any pixel is decoded, then
    decodes the first frame (JPEG at 1/8 scale, which still reads every byte) so that
    truncated and damaged files are caught here."""
    if not data:
        raise ImageRejected("empty_file", "The file is empty (0 bytes).")
    if len(data) > max_bytes:
        raise ImageRejected(
            "file_too_large",
            f"The file is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}.",
        )
    image = _open(data, max_pixels=max_pixels)
    width, height = image.size  # before draft() makes a JPEG report its reduced size
    try:
        _refuse_active_content(data, image.format)
        if image.format == "JPEG":
            _refuse_truncated_jpeg(data, image)
            # As small as libjpeg scales (1/8) while keeping enough pixels for the hash.
            image.draft(image.mode if image.mode in ("L", "RGB") else "RGB", _HASH_DRAFT)
        _refuse_over_budget(image, (width, height), max_decoded_bytes)
        try:
            image.load()
        except _DECODE_ERRORS as exc:
            raise ImageRejected(
                "damaged_file",
                f"The {FORMAT_NAMES_BY_FORMAT[image.format]} file is damaged or incomplete "
                f"and could not be read to the end ({_plain(exc)}). Upload it again.",
            ) from None
        orientation = _orientation(image)
        if orientation in _SWAPPING_ORIENTATIONS:
            width, height = height, width
        return ImageInfo(
            format=image.format,
            width=width,
            height=height,
            frames=getattr(image, "n_frames", 1),
            dhash=_upright_hash(image, orientation),
        )
    finally:
        image.close()


def make_derivatives(
    data: bytes,
    *,
    max_pixels: int,
    max_decoded_bytes: int,
    thumbnail_side: int = THUMBNAIL_SIDE,
    model_input_side: int = MODEL_INPUT_SIDE,
) -> Derivatives:
    """The thumbnail and the model-input image of a stored original. Raises ImageRejected
    when the file cannot be read (the worker marks the image failed with its message)."""
    image = _open(data, max_pixels=max_pixels)
    width, height = image.size
    try:
        # JPEG: let libjpeg scale down by 1/2, 1/4 or 1/8 while decoding, to the smallest
        # size still at least the model-input image's own (the original fitted into
        # model_input_side: a 1024×768 photo decodes at 512×384, a quarter of the pixels,
        # and needs no resize). A square box would keep it at full size.
        if image.format == "JPEG":
            _refuse_truncated_jpeg(data, image)
            image.draft("RGB", _fitted(image.size, model_input_side))
        _refuse_over_budget(image, (width, height), max_decoded_bytes)
        try:
            image.load()
            orientation = _orientation(image)
            # Shrunk before any copy is made (turned upright, converted to sRGB): the
            # decoded image is then the only full-size one in memory.
            upright = _upright(_reduced(image, model_input_side), orientation)
            rgb = _to_srgb(upright)
        except _DECODE_ERRORS as exc:
            raise ImageRejected(
                "damaged_file", f"The image could not be read ({_plain(exc)})."
            ) from None
        if orientation in _SWAPPING_ORIENTATIONS:
            width, height = height, width
        # Bilinear (antialiased when shrinking, as Pillow does it) costs about 60 % of bicubic
        # here, and resizing is most of the worker's time on small photos.
        rgb.thumbnail((model_input_side, model_input_side), _RESAMPLE, reducing_gap=2.0)
        model_input = _encode_jpeg(rgb, quality=MODEL_INPUT_QUALITY)
        rgb.thumbnail((thumbnail_side, thumbnail_side), _RESAMPLE)
        thumbnail = _encode_jpeg(rgb, quality=THUMBNAIL_QUALITY)
        return Derivatives(thumbnail=thumbnail, model_input=model_input, width=width, height=height)
    finally:
        image.close()


FORMAT_NAMES_BY_FORMAT = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "TIFF": "TIFF"}


def _open(data: bytes, *, max_pixels: int) -> PILImage.Image:
    try:
        image = PILImage.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        raise ImageRejected(
            "unsupported_format",
            f"This is not a {FORMAT_NAMES} image, whatever its name says. Other formats "
            "(SVG, GIF, HEIC, PDF, RAW…) are not accepted: export it as JPEG or PNG.",
        ) from None
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning):
        raise _too_many_pixels(None, max_pixels) from None
    except _DECODE_ERRORS as exc:
        raise ImageRejected(
            "damaged_file", f"The image header is damaged ({_plain(exc)}); it could not be read."
        ) from None
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise ImageRejected("damaged_file", "The image says it has no pixels.")
    if width * height > pixel_limit(max_pixels):
        image.close()
        raise _too_many_pixels((width, height), max_pixels)
    return image


def decoded_bytes(image: PILImage.Image, full_size: tuple[int, int] | None = None) -> int:
    """The memory, in bytes, that decoding ``image`` (opened, not loaded; a JPEG after its
    draft()) and making its first RGB copy takes, whatever its compressed size: width ×
    height × bands × bytes per sample of the widest of what the file holds, what Pillow
    keeps (3 and 4 band images in 4 bytes a pixel) and what the worker converts it to
    (palette, bilevel and 16-bit grey images to 4 bytes a pixel). Animated PNG and WebP
    keep the canvas beside the frame: twice. WebP takes four buffers of 4 bytes a pixel. A
    progressive JPEG also holds every DCT coefficient of the full-size image (2 bytes each),
    whatever scale it is drafted to."""
    width, height = image.size
    mode_bands = len(image.getbands())
    in_memory = 1 if image.mode in ("L", "P", "1") else 2 if image.mode.startswith("I;16") else 4
    if image.mode in ("P", "1") or image.mode.startswith("I;16"):
        in_memory = 4  # the converted copy
    per_pixel = max(in_memory, mode_bands * _bytes_per_sample(image))
    if image.format == "WEBP":
        # libwebp's own ARGB buffer, its animation decoder's two canvases (Pillow decodes
        # every WebP through it), then Pillow's copy: measured 143 MB for 3000 × 3000.
        per_pixel = 16
    total = width * height * per_pixel
    if image.format in ("PNG", "WEBP") and getattr(image, "n_frames", 1) > 1:
        total *= 2
    if image.format == "JPEG" and image.info.get("progressive"):
        total += _jpeg_coefficient_bytes(image, full_size or image.size)
    return total


def _bytes_per_sample(image: PILImage.Image) -> int:
    """From the raw mode the decoder reads (``RGBA;16B``, ``I;16``, ``F;32BF``...): what the
    file holds per sample, which may be wider than what Pillow keeps."""
    bits = 8
    for tile in image.tile:
        args = tile.args
        rawmode = args if isinstance(args, str) else args[0] if args else ""
        if isinstance(rawmode, str):
            found = re.search(r";(\d+)", rawmode)
            if found:
                bits = max(bits, int(found.group(1)))
            elif rawmode.startswith(("I", "F")):
                bits = max(bits, 32)
    return (bits + 7) // 8


def _jpeg_coefficient_bytes(image: PILImage.Image, full_size: tuple[int, int]) -> int:
    width, height = full_size
    layers = getattr(image, "layer", None) or [("", 1, 1, 0)] * len(image.getbands())
    h_max = max(layer[1] for layer in layers) or 1
    v_max = max(layer[2] for layer in layers) or 1
    blocks = sum(
        -(-width * layer[1] // (8 * h_max)) * -(-height * layer[2] // (8 * v_max))
        for layer in layers
    )
    return blocks * 64 * 2


def _refuse_over_budget(
    image: PILImage.Image, full_size: tuple[int, int], max_decoded_bytes: int
) -> None:
    needed = decoded_bytes(image, full_size)
    if needed > max_decoded_bytes:
        width, height = full_size
        raise ImageRejected(
            "too_much_memory",
            f"The image is {width:,} × {height:,} pixels, which takes {_megabytes(needed)} "
            f"of memory to read (as {image.mode}); the limit is "
            f"{_megabytes(max_decoded_bytes)}. Export it smaller or as JPEG.",
        )


def _refuse_truncated_jpeg(data: bytes, image: PILImage.Image) -> None:
    """libjpeg fills the missing part of a cut-off JPEG with grey and only warns, which
    Pillow does not report: a 2 KB file whose header claims 7000 × 7000 would decode. Each
    8 × 8 block of the largest component costs at least one bit of Huffman-coded data (a
    code for its DC value), so fewer bytes than blocks / 8 cannot be a whole image."""
    if _jpeg_frame_marker(data) in _ARITHMETIC_SOF:
        return
    width, height = image.size
    blocks = -(-width // 8) * -(-height // 8)
    coded = sum(stop - start for start, stop in active_content.jpeg_pixel_ranges(data))
    if coded * 8 < blocks:
        raise ImageRejected(
            "damaged_file",
            f"The JPEG file is damaged or incomplete: it says it is {width:,} × {height:,} "
            "pixels but holds the data of a much smaller image. Upload it again.",
        )


def _jpeg_frame_marker(data: bytes) -> int | None:
    position, end = 2, len(data)
    while position + 4 <= end and data[position] == 0xFF:
        marker = data[position + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        if marker == 0xFF:
            position += 1
            continue
        if marker == 0xDA or marker == 0xD9:
            return None
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return None


def _too_many_pixels(size: tuple[int, int] | None, max_pixels: int) -> ImageRejected:
    limit = pixel_limit(max_pixels) / 1e6
    if size is None:
        return ImageRejected(
            "too_many_pixels", f"The image has too many pixels; the limit is {limit:g} megapixels."
        )
    width, height = size
    return ImageRejected(
        "too_many_pixels",
        f"The image is {width:,} × {height:,} pixels ({width * height / 1e6:.1f} megapixels); "
        f"the limit is {limit:g} megapixels.",
    )


def _refuse_active_content(data: bytes, image_format: str | None = None) -> None:
    marker = active_content.find_marker(data, image_format)
    if marker is not None:
        raise ImageRejected(
            "active_content",
            f"The file hides web page or script content (it contains “{marker}”) and could be "
            "opened as a web page, so it was refused. Re-save the image in an image editor "
            "and upload it again.",
        )


def _orientation(image: PILImage.Image) -> int:
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except _DECODE_ERRORS:
        return 1


def _to_srgb(image: PILImage.Image) -> PILImage.Image:
    """RGB in sRGB: transparent areas on white, 16-bit and float scaled, colour profiles
    applied (a thumbnail carries no profile, so an Adobe RGB photo would look dull)."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        low, high = image.getextrema()
        scale = 255 / high if high and high > 255 else 1
        image = image.point(lambda value: value * scale).convert("L")
        mode = image.mode
    if mode in ("RGBA", "LA", "PA", "P", "RGBa", "La") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        return PILImage.alpha_composite(background, rgba).convert("RGB")
    icc = image.info.get("icc_profile")
    if icc and mode in ("RGB", "CMYK", "L"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, source, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile: fall back to the plain conversion
    return image if mode == "RGB" else image.convert("RGB")


def _reduced(image: PILImage.Image, side: int) -> PILImage.Image:
    """``image`` shrunk by a whole factor (box filter, fast) to no less than twice ``side``,
    where its mode allows; the antialiased resize to ``side`` comes after."""
    factor = max(image.size) // (2 * side)
    if factor < 2 or image.mode not in _REDUCIBLE_MODES:
        return image
    return image.reduce(factor)


_HASH_DRAFT = (72, 64)


def _upright_hash(image: PILImage.Image, orientation: int) -> str:
    """The dHash of the decoded (first) frame as a person sees it: upright and in sRGB, as
    the thumbnail that ingest would hash is made. Computed on a copy shrunk first, so a
    large PNG costs little more than its decode; a picture it fails on gets no hash here."""
    try:
        small = _reduced(image, 64)
        if max(small.size) > 256:
            # A mode reduce() does not take (palette, bilevel, 16-bit): sampled down, so that
            # no full-size copy is made in the web process for a 9 × 8 hash.
            scale = 256 / max(small.size)
            size = (max(1, round(small.width * scale)), max(1, round(small.height * scale)))
            small = small.resize(size, PILImage.Resampling.NEAREST)
        return dhash(_to_srgb(_upright(small, orientation)))
    except _DECODE_ERRORS:
        return ""


def _upright(image: PILImage.Image, orientation: int) -> PILImage.Image:
    method = _UPRIGHT.get(orientation)
    return image.transpose(method) if method is not None else image


def _fitted(size: tuple[int, int], side: int) -> tuple[int, int]:
    """``size`` scaled to fit a side × side box, as Image.thumbnail sizes it (never up)."""
    width, height = size
    scale = min(1.0, side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode_jpeg(image: PILImage.Image, *, quality: int) -> bytes:
    # Saved from pixels only: Pillow writes no EXIF, GPS, XMP or ICC unless asked to.
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _plain(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:200]
