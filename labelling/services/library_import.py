"""Import an existing, hand-labelled library: one sub-folder per label.

    library/
      smiling/          ← a label's key, its name, or the client's own name for it
        IMG_0001.jpg
        2019/IMG_0002.jpg   (files in deeper folders count for the top folder's label)
      Happy students/   ← ClientLabelName of ``smiling``: the same label
      backpack/         ← unknown: reported with its file count, imported only with
                          create_labels=True (then created in the taxonomy)

The files are checked like uploads (labelling.image_validation), stored under server-made
names (labelling.storage_names) and recorded as ``verified`` images carrying an
``ImageLabel(source="import")``: a hand-tagged library is what people verified, and training
learns from it. Their thumbnails and model-input images are made here and now, since these
images never pass through the ingest worker (which would send them to review).

In a multi-label taxonomy a photo may sit in several label folders: its first copy is
imported, and each other folder it is found in adds that folder's label to the same image
(``ImportReport.added_labels``), as it does for a verified image already in the library.

Each file is committed on its own, so an interrupted import keeps what it stored, and running
it again skips those files as duplicates and carries on. A dry run reads and checks every
file and stores nothing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from labelling import image_validation, storage_names
from labelling.image_validation import ImageInfo, ImageRejected
from labelling.models import (
    Client,
    ClientLabelName,
    Image,
    ImageLabel,
    ImageStatus,
    Label,
    Taxonomy,
    UploadBatch,
)
from labelling.models.images import LabelSource
from labelling.services.ingest import image_derivatives_make
from labelling.services.taxonomy import label_create
from labelling.services.uploads import batch_create

logger = logging.getLogger(__name__)

NOT_IN_A_LABEL_FOLDER = "not_in_label_folder"
DUPLICATE = "duplicate"


class LibraryImportError(Exception):
    """The import cannot start (no such folder, no taxonomy); nothing was changed."""


@dataclass(frozen=True)
class SkippedFile:
    path: str  # relative to the library's root, with "/" separators
    code: str  # image_validation's reason codes, "duplicate" or "not_in_label_folder"
    message: str


@dataclass
class ImportReport:
    root: Path
    taxonomy: Taxonomy
    dry_run: bool
    batch: UploadBatch | None = None  # the batch the images went into (None in a dry run)
    # folder → key of the label its files were (or, in a dry run, would be) imported as
    folders: dict[str, str] = field(default_factory=dict)
    imported: Counter = field(default_factory=Counter)  # label key → images
    # Multi-label: label key → images already imported (or in the library) given it too.
    added_labels: Counter = field(default_factory=Counter)
    created_labels: dict[str, str] = field(default_factory=dict)  # folder → new label key
    unknown_labels: dict[str, int] = field(default_factory=dict)  # folder → files in it
    retired_labels: dict[str, int] = field(default_factory=dict)  # folder → files in it
    empty_folders: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)  # refused files and duplicates
    notes: list[str] = field(default_factory=list)

    @property
    def imported_total(self) -> int:
        return sum(self.imported.values())

    @property
    def duplicates(self) -> list[SkippedFile]:
        return [s for s in self.skipped if s.code == DUPLICATE]

    @property
    def refused(self) -> list[SkippedFile]:
        """Skipped for what they are (not images, too large, damaged...), not as duplicates."""
        return [s for s in self.skipped if s.code != DUPLICATE]

    def skipped_by_code(self) -> Counter:
        return Counter(s.code for s in self.skipped)


def library_import(
    *,
    client: Client,
    root: Path | str,
    taxonomy: Taxonomy | None = None,
    create_labels: bool = False,
    dry_run: bool = False,
) -> ImportReport:
    """Import the labelled library at ``root`` into ``client`` (see the module's doc).

    ``taxonomy`` defaults to the first taxonomy of the client's sector, the one training uses.
    Raises LibraryImportError before changing anything when the import cannot start."""
    root = Path(root).expanduser().resolve()
    if not root.exists():
        raise LibraryImportError(f"{root} does not exist.")
    if not root.is_dir():
        raise LibraryImportError(f"{root} is not a folder.")
    taxonomy = taxonomy or default_taxonomy(client)
    if taxonomy.sector_id != client.sector_id:
        raise LibraryImportError(
            f"The taxonomy “{taxonomy.name}” is not in {client.name}'s sector."
        )
    report = ImportReport(root=root, taxonomy=taxonomy, dry_run=dry_run)

    folders, loose_files = _scan(root)
    for path in loose_files:
        report.skipped.append(
            SkippedFile(
                _relative(path, root),
                NOT_IN_A_LABEL_FOLDER,
                "The file is not inside a label folder; each label's images go in a folder "
                "named after the label.",
            )
        )
    matcher = _LabelMatcher(client=client, taxonomy=taxonomy)
    plan: list[tuple[str, Label, list[Path]]] = []
    for folder, files in folders.items():
        if not files:
            report.empty_folders.append(folder)
            continue
        label = matcher.match(folder)
        if label is None and create_labels:
            label = _label_for_folder(folder, taxonomy, matcher, report)
        if label is None:
            report.unknown_labels[folder] = len(files)
            similar = matcher.near(folder)
            if similar is not None:
                report.notes.append(
                    f"“{folder}” looks like the label {similar.key} (“{similar.name}”): "
                    f"rename the folder to {similar.key} to import its files as that label."
                )
        elif not label.is_active:
            report.retired_labels[folder] = len(files)
        else:
            report.folders[folder] = label.key
            plan.append((folder, label, files))

    importer = _Importer(client=client, report=report)
    for folder, label, files in plan:
        for path in files:
            importer.import_file(path, label=label, folder=folder)
        if not importer.exists(label):
            del report.folders[folder]
            report.notes.append(
                f"No label was created for “{folder}”: none of its files could be imported."
            )
    if report.batch is not None and report.skipped:
        _note_skipped(report.batch, report.skipped)
    if report.created_labels and not dry_run:
        taxonomy.refresh_from_db(fields=["version", "updated_at"])
    return report


def default_taxonomy(client: Client) -> Taxonomy:
    taxonomy = client.sector.taxonomies.order_by("created_at", "id").first()
    if taxonomy is None:
        raise LibraryImportError(f"The sector {client.sector.name} has no taxonomy yet.")
    return taxonomy


def taxonomy_named(client: Client, name: str) -> Taxonomy:
    """The client's sector's taxonomy called ``name`` (any case)."""
    taxonomy = client.sector.taxonomies.filter(name__iexact=name.strip()).first()
    if taxonomy is None:
        known = ", ".join(client.sector.taxonomies.values_list("name", flat=True)) or "none"
        raise LibraryImportError(
            f"The sector {client.sector.name} has no taxonomy “{name}”. Its taxonomies: {known}."
        )
    return taxonomy


def normalise(name: str) -> str:
    """Folder and label names compare case-insensitively, with "_", "-" and runs of spaces
    alike: ``Not_Smiling``, ``not-smiling`` and ``not smiling`` are one name."""
    return " ".join(re.split(r"[\s_\-]+", name.casefold())).strip()


class _LabelMatcher:
    """Folder name → label: the key first, then the client's own name, then the sector's
    display name (a client's word wins over the sector's when the two disagree)."""

    def __init__(self, *, client: Client, taxonomy: Taxonomy):
        labels = list(Label.objects.filter(taxonomy=taxonomy))
        by_id = {label.pk: label for label in labels}
        client_names = ClientLabelName.objects.filter(client=client, label__taxonomy=taxonomy)
        self._lookups: list[dict[str, Label]] = [
            {normalise(label.key): label for label in labels},
            {normalise(n.name): by_id[n.label_id] for n in client_names},
            {normalise(label.name): label for label in labels},
        ]

    def match(self, folder: str) -> Label | None:
        wanted = normalise(folder)
        for lookup in self._lookups:
            if wanted in lookup:
                return lookup[wanted]
        return None

    def near(self, folder: str) -> Label | None:
        """A saved label the folder names up to a plural ("shoes" for ``shoe``): never
        imported as that label, but never created beside it either."""
        wanted = normalise(folder)
        variants = {
            wanted + "s",
            wanted + "es",
            wanted.removesuffix("s"),
            wanted.removesuffix("es"),
        }
        variants.discard(wanted)
        for variant in sorted(variants):
            label = self.match(variant)
            if label is not None and label.pk is not None:
                return label
        return None

    def add(self, label: Label) -> None:
        self._lookups[0][normalise(label.key)] = label


def _label_for_folder(
    folder: str, taxonomy: Taxonomy, matcher: _LabelMatcher, report: ImportReport
) -> Label | None:
    """The label a folder with an unknown name becomes: the one that has the key its name
    makes, or a new one, built but not saved: it is created when the first of its files is
    imported, so that a folder of documents does not add a label. None when no key can be
    made."""
    key = slugify(folder).replace("-", "_").strip("_")[:80]
    if not key:
        report.notes.append(
            f"“{folder}” cannot become a label key (letters, digits and _): create its label "
            "by hand, or rename the folder."
        )
        return None
    existing = matcher.match(key)
    if existing is not None:  # "Back-pack!" when a label back_pack exists or was just made
        return existing
    if matcher.near(folder) is not None:
        return None  # reported with the label it resembles
    name = re.sub(r"[\s_\-]+", " ", folder).strip()[:120]
    name = name[:1].upper() + name[1:]
    label = Label(taxonomy=taxonomy, key=key, name=name)
    matcher.add(label)  # "Bag" and "bag" folders: one new label
    return label


class _Importer:
    def __init__(self, *, client: Client, report: ImportReport):
        self.client = client
        self.report = report
        self.seen: dict[str, str] = {}  # sha256 → relative path, for repeats within the run
        self.keys_of: dict[str, set[str]] = {}  # sha256 → label keys given in this run
        taxonomy = report.taxonomy
        self.multi_label = bool(taxonomy and taxonomy.is_multi_label)
        self.would_create: set[str] = set()  # keys of new labels, in a dry run

    def exists(self, label: Label) -> bool:
        """True once the label is in the taxonomy (in a dry run: would be)."""
        return label.pk is not None or label.key in self.would_create

    def import_file(self, path: Path, *, label: Label, folder: str) -> None:
        report = self.report
        relative = _relative(path, report.root)
        try:
            data, info = _read_and_check(path)
        except ImageRejected as rejected:
            report.skipped.append(SkippedFile(relative, rejected.code, rejected.message))
            return
        sha256 = hashlib.sha256(data).hexdigest()
        if self.multi_label and self._add_label(sha256, label, folder):
            return
        if sha256 in self.seen:
            report.skipped.append(
                SkippedFile(relative, DUPLICATE, f"The same file as {self.seen[sha256]}.")
            )
            return
        self.seen[sha256] = relative
        existing = Image.objects.for_client(self.client).filter(sha256=sha256).first()
        if existing is not None:
            report.skipped.append(_already_there(relative, existing))
            return
        if not self.exists(label):
            self._create(label, folder)
        self.keys_of[sha256] = {label.key}
        if report.dry_run:
            report.imported[label.key] += 1
            return
        image = self._store(path, data, info, sha256, label)
        if image is None:
            existing = Image.objects.for_client(self.client).filter(sha256=sha256).first()
            report.skipped.append(_already_there(relative, existing))
            return
        try:
            image_derivatives_make(image=image)
        except ImageRejected as unreadable:
            # Pillow read the header and the first frame but not the whole image: take it
            # out again rather than keep a verified image without a thumbnail.
            _delete_image(image)
            report.skipped.append(SkippedFile(relative, unreadable.code, unreadable.message))
            return
        report.imported[label.key] += 1

    def _add_label(self, sha256: str, label: Label, folder: str) -> bool:
        """Multi-label: the same photo in another label's folder gives the image it already
        is (imported earlier in this run, or verified in the library) that label too. False
        when the file is new, or a plain duplicate (same label, or an image not verified)."""
        keys = self.keys_of.get(sha256)
        existing = Image.objects.for_client(self.client).filter(sha256=sha256).first()
        if existing is None and (keys is None or not self.report.dry_run):
            return False  # new here (or its first copy was refused after all)
        if existing is not None and existing.status != ImageStatus.VERIFIED:
            return False
        if keys is not None and label.key in keys:
            return False
        if (
            existing is not None
            and label.pk is not None
            and ImageLabel.objects.filter(image=existing, label_id=label.pk).exists()
        ):
            return False
        if not self.exists(label):
            self._create(label, folder)
        if not self.report.dry_run:
            ImageLabel.objects.get_or_create(
                image=existing, label=label, defaults={"source": LabelSource.IMPORT}
            )
        self.keys_of.setdefault(sha256, set()).add(label.key)
        self.report.added_labels[label.key] += 1
        return True

    def _create(self, label: Label, folder: str) -> None:
        if self.report.dry_run:
            self.would_create.add(label.key)
        else:
            saved = label_create(taxonomy=label.taxonomy, key=label.key, name=label.name)
            # The same object stands for the label in every folder that named it.
            label.pk, label._state.adding, label._state.db = saved.pk, False, saved._state.db
        self.report.created_labels[folder] = label.key

    def _store(
        self, path: Path, data: bytes, info: ImageInfo, sha256: str, label: Label
    ) -> Image | None:
        """The file and its rows, or None when the same bytes arrived meanwhile."""
        if self.report.batch is None:
            self.report.batch = batch_create(
                client=self.client, user=None, name=f"Import of {self.report.root.name}"
            )
        name = storage_names.original_name(client_id=self.client.pk, extension=info.extension)
        stored = default_storage.save(name, ContentFile(data))
        try:
            with transaction.atomic():
                image = Image.objects.create(
                    client=self.client,
                    batch=self.report.batch,
                    file=stored,
                    original_name=storage_names.sanitise_original_name(path.name),
                    sha256=sha256,
                    format=info.format,
                    width=info.width,
                    height=info.height,
                    size_bytes=len(data),
                    status=ImageStatus.VERIFIED,
                )
                ImageLabel.objects.create(image=image, label=label, source=LabelSource.IMPORT)
        except IntegrityError:
            _delete_quietly(stored)
            return None
        except BaseException:
            _delete_quietly(stored)
            raise
        return image


def _scan(root: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """Top-level folders → the files under them (at any depth), and the loose files at the
    root. Hidden files and folders (``.DS_Store``, ``.git``) are left out; links to folders
    are not followed, so a link cannot loop."""
    folders: dict[str, list[Path]] = {}
    loose: list[Path] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            folders[entry.name] = _files_under(Path(entry.path))
        elif entry.is_file():
            loose.append(Path(entry.path))
    return folders, loose


def _files_under(folder: Path) -> list[Path]:
    found: list[Path] = []
    for current, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(current, f) for f in sorted(files) if not f.startswith("."))
    return found


def _read_and_check(path: Path) -> tuple[bytes, ImageInfo]:
    max_bytes = settings.MAX_UPLOAD_BYTES
    try:
        size = path.stat().st_size
        if size > max_bytes:  # refused before it is read into memory
            raise ImageRejected(
                "file_too_large",
                f"The file is {size / 1048576:.1f} MB; the limit is {max_bytes / 1048576:.1f} MB.",
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ImageRejected("unreadable", f"The file could not be read ({exc.strerror}).") from None
    info = image_validation.inspect_image(
        data,
        max_pixels=settings.MAX_IMAGE_PIXELS,
        max_bytes=max_bytes,
        max_decoded_bytes=settings.MAX_DECODED_BYTES,
    )
    return data, info


def _already_there(relative: str, image: Image | None) -> SkippedFile:
    described = f" as image {image.pk} (“{image.original_name}”)" if image is not None else ""
    return SkippedFile(relative, DUPLICATE, f"Already in the library{described}.")


def _note_skipped(batch: UploadBatch, skipped: list[SkippedFile]) -> None:
    # Same shape as the upload service's refusals, so the batch page shows both alike.
    at = timezone.now().isoformat(timespec="seconds")
    entries = [{"name": s.path, "code": s.code, "message": s.message, "at": at} for s in skipped]
    with transaction.atomic():
        locked = UploadBatch.objects.select_for_update().only("id", "rejections").get(pk=batch.pk)
        locked.rejections = [*locked.rejections, *entries]
        locked.save(update_fields=["rejections"])
    batch.rejections = locked.rejections


def _delete_image(image: Image) -> None:
    original = image.file.name
    names = [original, image.thumbnail.name, storage_names.model_input_name(original)]
    image.delete()
    for name in filter(None, names):
        _delete_quietly(name)


def _delete_quietly(name: str) -> None:
    try:
        default_storage.delete(name)
    except Exception:  # a leftover file is harmless; a masked error is not
        logger.exception("could not delete %s after a failed import", name)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
