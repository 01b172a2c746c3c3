"""Tags from a CSV onto a client's images: what tag_export writes reads back in.

Columns: ``image_id`` or ``sha256`` (which image), ``label`` (its key, the sector's name
or the client's own name for it); optional ``probability`` (0–1) and ``source``
(``machine``, ``human`` or ``import``, default ``import``). The other columns tag_export
writes (``original_name``, ``label_name``, ``label_path``, ``model_version``) are accepted
and ignored: they follow from the image and the label. Any other column is an error, so a
misspelt header never drops data silently.

Every row is checked before anything is written; one bad row (unknown image, unknown or
retired label, bad probability) refuses the whole file with each problem and its line.
Labels an image already carries are kept as they are (counted as unchanged).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from django.db import transaction

from labelling.models import AuditAction, Client, ClientLabelName, Image, ImageLabel, Label
from labelling.models.images import LabelSource
from labelling.services import audit
from labelling.services.library_import import normalise

KNOWN_COLUMNS = frozenset(
    {
        "image_id",
        "sha256",
        "label",
        "probability",
        "source",
        "original_name",
        "label_name",
        "label_path",
        "model_version",
    }
)
MAX_PROBLEMS_SHOWN = 20
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class TagImportError(Exception):
    """The file was refused; nothing was written. ``problems`` lists each, with its line."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
        super().__init__(text)


@dataclass(frozen=True)
class TagImportResult:
    created: int
    unchanged: int


def read_csv_upload(upload) -> str:
    """The text of an uploaded CSV (a Django UploadedFile), or TagImportError."""
    if upload is None:
        raise TagImportError(["Choose a CSV file to import."])
    if upload.size > MAX_UPLOAD_BYTES:
        raise TagImportError(["The file is over 20 MB: split it into smaller files."])
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TagImportError(["The file is not UTF-8 text: save the CSV as UTF-8."]) from None


def tags_import_csv(*, client: Client, text: str, user=None) -> TagImportResult:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if not columns:
        raise TagImportError(["The file is empty: its first line must name the columns."])
    unknown = [c for c in columns if c not in KNOWN_COLUMNS]
    problems = [
        f"Unknown column “{c}”: the columns are {', '.join(sorted(KNOWN_COLUMNS))}."
        for c in unknown
    ]
    if "label" not in columns:
        problems.append("The column “label” is missing.")
    if "image_id" not in columns and "sha256" not in columns:
        problems.append("Name each image with an “image_id” or a “sha256” column.")
    if problems:
        raise TagImportError(problems)
    reader.fieldnames = columns

    labels = _LabelLookup(client)
    images = Image.objects.for_client(client)
    by_id = dict(images.values_list("id", "id"))
    by_sha = dict(images.values_list("sha256", "id"))
    wanted: dict[tuple[int, int], tuple[str, float | None]] = {}
    for line, row in enumerate(reader, start=2):
        image_id = _image_of(row, by_id, by_sha, line, problems)
        label = labels.find((row.get("label") or "").strip(), line, problems)
        source = (row.get("source") or "").strip() or LabelSource.IMPORT
        if source not in LabelSource.values:
            problems.append(
                f"Line {line}: unknown source “{source}” (use {', '.join(LabelSource.values)})."
            )
        probability = _probability(row.get("probability"), line, problems)
        if image_id is not None and label is not None:
            wanted[(image_id, label.pk)] = (source, probability)
    if problems:
        raise TagImportError(problems)

    with transaction.atomic():
        existing = set(
            ImageLabel.objects.filter(image_id__in={i for i, _ in wanted}).values_list(
                "image_id", "label_id"
            )
        )
        new = [
            ImageLabel(image_id=i, label_id=lab, source=source, probability=probability)
            for (i, lab), (source, probability) in wanted.items()
            if (i, lab) not in existing
        ]
        ImageLabel.objects.bulk_create(new, ignore_conflicts=True)
        if new:
            audit.record(
                user,
                AuditAction.TAGS_IMPORTED,
                client=client,
                summary=f"{len(new)} tags imported ({len(wanted) - len(new)} already there).",
                detail={"created": len(new), "unchanged": len(wanted) - len(new)},
            )
    return TagImportResult(created=len(new), unchanged=len(wanted) - len(new))


def _image_of(row, by_id, by_sha, line: int, problems: list[str]) -> int | None:
    raw_id = (row.get("image_id") or "").strip()
    sha = (row.get("sha256") or "").strip().lower()
    if raw_id:
        if not raw_id.isdigit() or int(raw_id) not in by_id:
            problems.append(f"Line {line}: no image {raw_id!r} in this library.")
            return None
        return int(raw_id)
    if sha:
        if sha not in by_sha:
            problems.append(f"Line {line}: no image with sha256 {sha} in this library.")
            return None
        return by_sha[sha]
    problems.append(f"Line {line}: no image_id nor sha256.")
    return None


def _probability(raw: str | None, line: int, problems: list[str]) -> float | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        problems.append(f"Line {line}: the probability {raw!r} is not a number from 0 to 1.")
        return None
    return value


class _LabelLookup:
    """Label key, client's name, then the sector's name, as the folder import matches."""

    def __init__(self, client: Client):
        labels = list(Label.objects.filter(taxonomy=client.taxonomy))
        by_id = {label.pk: label for label in labels}
        named = ClientLabelName.objects.filter(client=client, label_id__in=by_id)
        self.lookups = [
            {label.key: label for label in labels},
            {normalise(n.name): by_id[n.label_id] for n in named},
            {normalise(label.name): label for label in labels},
        ]

    def find(self, value: str, line: int, problems: list[str]) -> Label | None:
        if not value:
            problems.append(f"Line {line}: no label.")
            return None
        for i, lookup in enumerate(self.lookups):
            label = lookup.get(value if i == 0 else normalise(value))
            if label is not None:
                if not label.is_active:
                    problems.append(f"Line {line}: the label “{value}” is retired.")
                    return None
                return label
        problems.append(f"Line {line}: unknown label “{value}”.")
        return None
