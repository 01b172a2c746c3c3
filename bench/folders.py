"""Class-folder trees for the benchmarks: scan, merge, select, and draw train/test sets.

A root is a folder with one sub-folder per class; the sub-folder's name is the label and
every image below it (at any depth) belongs to that class. Several roots are merged by
class name. Pure Python and Pillow: no TensorFlow here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError


class ProtocolError(ValueError):
    """A problem with the folders or the options, worded for the person who ran the command."""


@dataclass
class ClassTree:
    """Image paths per class, after merging roots (and, later, classes)."""

    files: dict[str, list[Path]]  # class → sorted image paths
    folders: dict[str, list[Path]]  # class → the folders its images came from
    skipped: list[Path] = field(default_factory=list)  # files that are not images

    @property
    def classes(self) -> list[str]:
        return sorted(self.files)


def is_image(path: Path) -> bool:
    """Whether Pillow recognises ``path`` as an image. Only the header is read, so a whole
    library scans in seconds; a file that is cut short fails later, at decode time."""
    try:
        with Image.open(path) as image:
            return bool(image.format)
    except (UnidentifiedImageError, OSError, ValueError):
        return False


def scan_roots(roots: Sequence[str | Path]) -> ClassTree:
    """Every class folder under ``roots``, merged by class name. Files that are not images
    are left out and listed in ``skipped``; a class folder may end up with no images (the
    caller decides whether that matters, see ``require_images``)."""
    files: dict[str, list[Path]] = {}
    folders: dict[str, list[Path]] = {}
    skipped: list[Path] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            raise ProtocolError(f"{root} is not a folder")
        class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not class_dirs:
            raise ProtocolError(f"{root} has no class sub-folders (one folder per class)")
        for class_dir in class_dirs:
            members = files.setdefault(class_dir.name, [])
            folders.setdefault(class_dir.name, []).append(class_dir)
            for path in sorted(class_dir.rglob("*")):
                if not path.is_file():
                    continue
                (members if is_image(path) else skipped).append(path)
    for name in files:
        files[name].sort()
    return ClassTree(files=files, folders=folders, skipped=skipped)


def parse_merges(specs: Sequence[str]) -> dict[str, list[str]]:
    """``["shoe=sandal,sneaker", ...]`` → {"shoe": ["sandal", "sneaker"], ...}."""
    merges: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for spec in specs:
        new, sep, sources = spec.partition("=")
        new = new.strip()
        members = [s.strip() for s in sources.split(",") if s.strip()]
        if not sep or not new or not members:
            raise ProtocolError(f"--merge {spec!r}: expected NEW=class,class,...")
        if new in merges:
            raise ProtocolError(f"--merge: {new!r} is defined twice")
        for member in members:
            if member in seen:
                raise ProtocolError(
                    f"--merge: class {member!r} is in both {seen[member]!r} and {new!r}"
                )
            seen[member] = new
        merges[new] = members
    return merges


def apply_merges(
    tree: ClassTree, merges: dict[str, list[str]], *, require_sources: bool = True
) -> ClassTree:
    """Join classes: each NEW takes the images of its sources, which disappear as classes.
    With ``require_sources`` a source that no root has is an error (a typo would otherwise
    silently leave a class out); test roots may lack some."""
    files = dict(tree.files)
    folders = dict(tree.folders)
    for new, sources in merges.items():
        missing = [s for s in sources if s not in tree.files]
        if missing and require_sources:
            raise ProtocolError(
                f"--merge {new}=...: no class folder named {', '.join(map(repr, missing))} "
                f"(classes: {', '.join(tree.classes)})"
            )
        present = [s for s in sources if s in tree.files]
        if not present:
            continue
        merged: list[Path] = []
        merged_folders: list[Path] = []
        for source in present:
            merged += files.pop(source)
            merged_folders += folders.pop(source)
        if new in files:  # NEW also names a class that is not among its sources
            raise ProtocolError(
                f"--merge {new}=...: {new!r} is already a class; list it among the sources "
                "to merge into it"
            )
        files[new] = sorted(merged)
        folders[new] = merged_folders
    return ClassTree(files=files, folders=folders, skipped=tree.skipped)


def select_classes(tree: ClassTree, classes: Sequence[str] | None) -> ClassTree:
    """Keep ``classes`` (in that order's set; all when None)."""
    if not classes:
        return tree
    unknown = [c for c in classes if c not in tree.files]
    if unknown:
        raise ProtocolError(
            f"--classes: no class {', '.join(map(repr, unknown))} "
            f"(classes after merging: {', '.join(tree.classes)})"
        )
    if len(set(classes)) != len(classes):
        raise ProtocolError("--classes names a class twice")
    keep = set(classes)
    return ClassTree(
        files={c: f for c, f in tree.files.items() if c in keep},
        folders={c: f for c, f in tree.folders.items() if c in keep},
        skipped=tree.skipped,
    )


def require_images(tree: ClassTree) -> None:
    empty = [c for c in tree.classes if not tree.files[c]]
    if empty:
        where = "; ".join(f"{c!r} ({', '.join(str(f) for f in tree.folders[c])})" for c in empty)
        raise ProtocolError(f"class with no images: {where}")
    if len(tree.classes) < 2:
        raise ProtocolError(
            f"at least two classes are needed, got {len(tree.classes)}: {tree.classes}"
        )


def allocate(available: Sequence[int], n: int) -> list[int]:
    """Split ``n`` draws across classes in proportion to ``available`` (largest remainder),
    never more than a class has. Every class with images gets at least one when n allows,
    so that no class goes unseen just because it is small."""
    available = [int(a) for a in available]
    total = sum(available)
    n = min(n, total)
    if n <= 0:
        return [0] * len(available)
    quotas = [n * a / total for a in available]
    counts = [int(q) for q in quotas]
    if n >= sum(1 for a in available if a):
        counts = [max(c, 1) if a else 0 for c, a in zip(counts, available, strict=True)]
    # Hand out what is left by largest remainder, or take back from the largest counts
    # when the minimum of one per class overshot.
    order = sorted(range(len(available)), key=lambda i: (-(quotas[i] - int(quotas[i])), i))
    while sum(counts) < n:
        for i in order:
            if sum(counts) < n and counts[i] < available[i]:
                counts[i] += 1
    while sum(counts) > n:
        candidates = [j for j in range(len(counts)) if counts[j] > 1] or [
            j for j in range(len(counts)) if counts[j] > 0
        ]
        i = max(candidates, key=lambda j: (counts[j] - quotas[j], counts[j]))
        counts[i] -= 1
    return counts


@dataclass
class Draw:
    paths: list[Path]
    labels: np.ndarray  # class indices into ``classes``
    requested: int
    available: int  # images there were to draw from

    @property
    def truncated(self) -> bool:
        return len(self.paths) < self.requested


def _take(groups: list[list[Path]], counts: list[int], requested: int, available: int) -> Draw:
    paths, labels = [], []
    for index, (group, count) in enumerate(zip(groups, counts, strict=True)):
        paths += group[:count]
        labels += [index] * count
    return Draw(paths, np.asarray(labels, dtype=np.int64), requested, available)


def draw_train_test(
    train: ClassTree,
    test: ClassTree | None,
    *,
    classes: list[str],
    train_size: int,
    test_size: int,
    seed: int,
) -> tuple[Draw, Draw]:
    """A stratified random draw of ``train_size`` training images and ``test_size`` test
    images, each class in proportion to how many images it has.

    Each class is shuffled once with the seed; training takes the front of each shuffled
    class and, without test roots, the test draw comes from what is left, so the two never
    overlap and the training draw does not depend on ``test_size``. A size larger than
    what is available takes everything there is (``Draw.truncated`` says so).
    """
    rng = np.random.default_rng(seed)
    shuffled = [[train.files[c][i] for i in rng.permutation(len(train.files[c]))] for c in classes]
    sizes = [len(g) for g in shuffled]
    train_counts = allocate(sizes, train_size)
    train_draw = _take(shuffled, train_counts, train_size, sum(sizes))
    if test is None:
        rest = [g[n:] for g, n in zip(shuffled, train_counts, strict=True)]
    else:
        test_rng = np.random.default_rng([seed, 1])
        rest = [
            [test.files[c][i] for i in test_rng.permutation(len(test.files.get(c, [])))]
            for c in classes
        ]
    rest_sizes = [len(g) for g in rest]
    test_draw = _take(rest, allocate(rest_sizes, test_size), test_size, sum(rest_sizes))
    return train_draw, test_draw


def flip_labels(
    labels: np.ndarray, fraction: float, *, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Flip round(fraction · n) labels, chosen at random, each to another class chosen at
    random. Returns (noisy labels, indices flipped)."""
    if not 0.0 <= fraction <= 1.0:
        raise ProtocolError(f"--noise must be between 0 and 1, got {fraction}")
    labels = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng([seed, 2])
    n_flip = int(np.floor(fraction * len(labels) + 0.5))
    flipped = np.sort(rng.choice(len(labels), size=n_flip, replace=False))
    noisy = labels.copy()
    # Adding 1..K-1 modulo K always lands on another class, each equally likely.
    noisy[flipped] = (labels[flipped] + rng.integers(1, n_classes, size=n_flip)) % n_classes
    return noisy, flipped
