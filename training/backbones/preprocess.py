"""Decode an image file into the square uint8 pixels a backbone takes."""

from __future__ import annotations

import os
from typing import IO

import numpy as np
from PIL import Image, ImageOps

# Transparent areas of logos and cut-outs are meant to be seen on a light page; dropping
# the alpha channel instead would show whatever colour the transparent pixels happen to hold
# (often black), which changes what the network sees.
BACKGROUND = (255, 255, 255)


def _center_square(width: int, height: int) -> tuple[int, int, int, int]:
    side = min(width, height)
    left = (width - side) // 2
    top = (height - side) // 2
    return (left, top, left + side, top + side)


def _to_rgb(image: Image.Image) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image_for_backbone(source: str | os.PathLike | IO[bytes], size: int) -> np.ndarray:
    """The image at ``source`` (a path or a binary file object) as uint8 (size, size, 3) RGB:
    upright per its EXIF orientation, center-cropped to a square, resized to size × size.

    The crop keeps the middle of the picture rather than squashing its aspect ratio, as the
    backbones were trained on undistorted center crops.
    """
    with Image.open(source) as image:
        # JPEG only: decode at the smallest 1/2, 1/4 or 1/8 scale still >= size on both
        # sides; a 6000 px photo then decodes several times faster, with no visible loss
        # once it is resized down to a few hundred pixels.
        image.draft("RGB", (size, size))
        image = ImageOps.exif_transpose(image)
        image = _to_rgb(image)
        # Bicubic, as the EfficientNet reference evaluation resizes; Pillow widens the
        # filter when shrinking, so the result is antialiased (no moiré on fine textures).
        # The crop box is applied by resize itself, saving a copy of the full image.
        resized = image.resize(
            (size, size), Image.Resampling.BICUBIC, box=_center_square(*image.size)
        )
        return np.array(resized, dtype=np.uint8)
