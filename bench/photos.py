"""Photo-like images made in memory for the benchmarks: a two-colour gradient, grain and a
few filled ellipses, so that compressed sizes look like camera photos scaled down, and each
one differs from the others."""

from __future__ import annotations

import io


def photo_like(rng, size: tuple[int, int], *, ellipses: int = 6, min_extent: int = 10):
    """A PIL image of ``size`` (width, height) drawn from the numpy generator ``rng``."""
    import numpy as np
    from PIL import Image, ImageDraw

    width, height = size
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    a, b = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    pixels = a * (1 - x) * (1 - y) + b * x * y + rng.normal(0, 6, (height, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(ellipses):
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        x1 = x0 + rng.integers(min_extent, width // 2)
        y1 = y0 + rng.integers(min_extent, height // 2)
        draw.ellipse((x0, y0, x1, y1), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return image


def encoded(image, fmt: str = "JPEG", quality: int = 85) -> bytes:
    buffer = io.BytesIO()
    options = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()
