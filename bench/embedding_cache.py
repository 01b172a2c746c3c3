"""Embeddings of benchmark images, computed once and kept on disk.

A study compares dozens of heads on the same images; embedding them again for each would
cost minutes a candidate. Vectors are kept under ``bench/results/embeddings/`` (git-ignored),
one file per (backbone, kind, view, input size), keyed by the sha1 of each image file's
bytes, so a renamed or copied file is found again and a changed one is embedded anew.

A *view* is what the backbone is shown: the image as the product loads it (``orig``), its
mirror image (``flip``), or a zoomed / shifted crop of it (``zoom``, ``shift_tl``,
``shift_br``: 85 % of the side, resized back), the cheap augmentations that stored
embeddings can afford: each is embedded once and then reused by every head.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np

CACHE = Path("bench/results/embeddings")
CROP = 0.85
VIEWS = ("orig", "flip", "zoom", "shift_tl", "shift_br")


def file_key(path: str | Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()


def view_of(pixels: np.ndarray, view: str) -> np.ndarray:
    """``pixels`` (n, s, s, 3) uint8 as ``view`` shows them, at the same size."""
    if view == "orig":
        return pixels
    if view == "flip":
        return np.ascontiguousarray(pixels[:, :, ::-1])
    from PIL import Image

    side = pixels.shape[1]
    crop = int(round(side * CROP))
    offset = {"zoom": (side - crop) // 2, "shift_tl": 0, "shift_br": side - crop}[view]
    out = np.empty_like(pixels)
    for i, image in enumerate(pixels):
        part = image[offset : offset + crop, offset : offset + crop]
        resized = Image.fromarray(part).resize((side, side), Image.Resampling.BICUBIC)
        out[i] = np.asarray(resized)
    return out


class EmbeddingCache:
    """Vectors of one (backbone, kind, view, size), loaded from and saved to one file."""

    def __init__(self, backbone: str, kind: str, view: str, size: int, *, root: Path | None = None):
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; known: {', '.join(VIEWS)}")
        self.backbone, self.kind, self.view, self.size = backbone, kind, view, size
        safe_kind = kind.replace("+", "_").replace("/", "_")
        self.path = Path(root or CACHE) / f"{backbone}__{safe_kind}__{view}__{size}.npz"
        self.vectors: dict[str, np.ndarray] = {}
        self.seconds = 0.0  # embedding time spent on the images embedded so far
        self.embedded = 0
        if self.path.exists():
            data = np.load(self.path)
            self.vectors = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
            self.seconds = float(data["seconds"])
            self.embedded = int(data["embedded"])
        self._model = None

    @property
    def seconds_per_image(self) -> float | None:
        return self.seconds / self.embedded if self.embedded else None

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.vectors)
        partial = self.path.with_suffix(".part.npz")
        np.savez(
            partial,
            keys=np.asarray(keys),
            vectors=np.stack([self.vectors[k] for k in keys]),
            seconds=self.seconds,
            embedded=self.embedded,
        )
        partial.replace(self.path)

    def get(self, paths, keys: list[str] | None = None, *, batch: int = 64, log=None):
        """(n, dim) float32 embeddings of ``paths``; the missing ones are computed and saved."""
        from training.backbones.preprocess import load_image_for_backbone

        keys = keys or [file_key(p) for p in paths]
        missing = [(p, k) for p, k in zip(paths, keys, strict=True) if k not in self.vectors]
        if missing:
            from training.inference import run_model

            if self._model is None:
                from training.backbones import build_backbone

                self._model = build_backbone(
                    self.backbone, input_size=self.size, embedding=self.kind
                )
            for start in range(0, len(missing), 256):
                chunk = missing[start : start + 256]
                pixels = np.stack([load_image_for_backbone(p, self.size) for p, _ in chunk])
                pixels = view_of(pixels, self.view)
                t0 = time.monotonic()
                emb = np.asarray(run_model(self._model, pixels, batch_size=batch), np.float32)
                self.seconds += time.monotonic() - t0
                self.embedded += len(chunk)
                self.vectors.update({k: v for (_, k), v in zip(chunk, emb, strict=True)})
                if log:
                    log(
                        f"  {self.path.name}: {start + len(chunk)}/{len(missing)} embedded "
                        f"({self.seconds_per_image * 1000:.1f} ms/image)"
                    )
            self.save()
        return np.stack([self.vectors[k] for k in keys])
