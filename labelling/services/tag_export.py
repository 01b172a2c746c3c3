"""The tags of a client's library, out to files a digital asset system reads.

One row per label an image carries now: the image (id, file name, sha256), the label (key,
the client's own name for it, its path from the root of the taxonomy), the probability,
who set it (``machine``, ``human`` or ``import``) and, for the model's own tags, the number
of the model version whose prediction it was.

Formats:
- ``csv``: one row per image label, the columns of CSV_COLUMNS; tag_import reads it back.
- ``json``: ``{"client": ..., "images": [{"image": ..., "labels": [...]}, ...]}``.
- ``xmp``: one sidecar per image (``<stem>.xmp``, named after the image's id and file name):
  ``dc:subject`` with the client's names of its labels, ``lr:hierarchicalSubject`` with
  their paths (``Parent|Child``, as Lightroom writes them), and the probability, source and
  model version of each label in the product's own namespace (NS_TAX). Written into a folder,
  or into a zip when the output path ends in ``.zip``.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from django.db.models import OuterRef, Subquery

from labelling.models import Client, ImageLabel, Label, Prediction
from labelling.models.images import LabelSource

FORMATS = ("csv", "json", "xmp")
CSV_COLUMNS = (
    "image_id",
    "original_name",
    "sha256",
    "label",
    "label_name",
    "label_path",
    "probability",
    "source",
    "model_version",
)
NS_TAX = "https://taxonomy.invalid/ns/tags/1.0/"
PATH_SEPARATOR = "|"


class TagExportError(Exception):
    """The export cannot be written (unknown format, unusable output path)."""


@dataclass(frozen=True)
class TagRow:
    image_id: int
    original_name: str
    sha256: str
    label: str  # the label's key
    label_name: str  # the client's name for it (the sector's name when it has none)
    label_path: str  # names from the root down, joined by PATH_SEPARATOR
    probability: float | None
    source: str
    model_version: int | None


def tag_rows(*, client: Client) -> list[TagRow]:
    """Every label the client's images carry, by image then label key."""
    taxonomy = client.taxonomy
    labels = {label.pk: label for label in Label.objects.filter(taxonomy=taxonomy)}
    names = client.display_names()

    def name(label: Label) -> str:
        return names.get(label.pk, label.name)

    def path(label: Label) -> str:
        chain, node = [], label
        while node is not None:
            chain.append(name(node))
            node = labels.get(node.parent_id)
        return PATH_SEPARATOR.join(reversed(chain))

    # The model version of a machine tag: the newest prediction that put this label on top.
    newest = Prediction.objects.filter(
        image_id=OuterRef("image_id"), top_label_id=OuterRef("label_id")
    ).order_by("-created_at", "-id")
    image_labels = (
        ImageLabel.objects.filter(image__client=client)
        .select_related("image")
        .annotate(version_number=Subquery(newest.values("model_version__number")[:1]))
        .order_by("image_id", "label__key")
    )
    rows = []
    for tag in image_labels:
        label = labels.get(tag.label_id) or tag.label
        machine = tag.source == LabelSource.MACHINE
        rows.append(
            TagRow(
                image_id=tag.image_id,
                original_name=tag.image.original_name,
                sha256=tag.image.sha256,
                label=label.key,
                label_name=name(label),
                label_path=path(label),
                probability=tag.probability,
                source=tag.source,
                model_version=tag.version_number if machine else None,
            )
        )
    return rows


def tags_csv(rows: list[TagRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        values = asdict(row)
        values["probability"] = "" if row.probability is None else f"{row.probability:.6f}"
        values["model_version"] = "" if row.model_version is None else row.model_version
        writer.writerow(values)
    return out.getvalue()


def tags_json(*, client: Client, rows: list[TagRow]) -> str:
    images: dict[int, dict] = {}
    for row in rows:
        entry = images.setdefault(
            row.image_id,
            {
                "image": row.image_id,
                "original_name": row.original_name,
                "sha256": row.sha256,
                "labels": [],
            },
        )
        entry["labels"].append(
            {
                "label": row.label,
                "name": row.label_name,
                "path": row.label_path.split(PATH_SEPARATOR),
                "probability": row.probability,
                "source": row.source,
                "model_version": row.model_version,
            }
        )
    document = {"client": client.slug, "images": list(images.values())}
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def xmp_sidecar(rows: list[TagRow]) -> str:
    """The XMP packet of one image's labels (rows all of one image)."""

    def bag(items: list[str]) -> str:
        return "".join(f"\n     <rdf:li>{escape(item)}</rdf:li>" for item in items)

    tags = "".join(
        "\n     <rdf:li rdf:parseType='Resource'>"
        f"\n      <tax:label>{escape(row.label)}</tax:label>"
        f"\n      <tax:source>{escape(row.source)}</tax:source>"
        + (
            ""
            if row.probability is None
            else f"\n      <tax:probability>{row.probability:.6f}</tax:probability>"
        )
        + (
            ""
            if row.model_version is None
            else f"\n      <tax:modelVersion>{row.model_version}</tax:modelVersion>"
        )
        + "\n     </rdf:li>"
        for row in rows
    )
    return (
        "<?xpacket begin='\ufeff' id='W5M0MpCehiHzreSzNTczkc9d'?>\n"
        "<x:xmpmeta xmlns:x='adobe:ns:meta/'>\n"
        " <rdf:RDF xmlns:rdf='http://www.w3.org/1999/02/22-rdf-syntax-ns#'>\n"
        "  <rdf:Description rdf:about=''\n"
        "    xmlns:dc='http://purl.org/dc/elements/1.1/'\n"
        "    xmlns:lr='http://ns.adobe.com/lightroom/1.0/'\n"
        f"    xmlns:tax={quoteattr(NS_TAX)}>\n"
        f"   <dc:subject>\n    <rdf:Bag>{bag([r.label_name for r in rows])}\n    </rdf:Bag>\n"
        "   </dc:subject>\n"
        "   <lr:hierarchicalSubject>\n"
        f"    <rdf:Bag>{bag([r.label_path for r in rows])}\n    </rdf:Bag>\n"
        "   </lr:hierarchicalSubject>\n"
        f"   <tax:tags>\n    <rdf:Bag>{tags}\n    </rdf:Bag>\n   </tax:tags>\n"
        "  </rdf:Description>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        "<?xpacket end='w'?>\n"
    )


def xmp_sidecars(rows: list[TagRow]) -> dict[str, str]:
    """Sidecar file name → XMP, one per image. Names start with the image's id, so two
    images with the same file name never share a sidecar."""
    by_image: dict[int, list[TagRow]] = defaultdict(list)
    for row in rows:
        by_image[row.image_id].append(row)
    sidecars = {}
    for image_id, image_rows in by_image.items():
        stem = Path(image_rows[0].original_name).stem or "image"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:100]
        sidecars[f"{image_id}-{safe}.xmp"] = xmp_sidecar(image_rows)
    return sidecars


def xmp_zip(rows: list[TagRow]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in xmp_sidecars(rows).items():
            archive.writestr(name, text)
    return buffer.getvalue()


CONTENT_TYPES = {"csv": "text/csv", "json": "application/json", "xmp": "application/zip"}
EXTENSIONS = {"csv": "csv", "json": "json", "xmp": "zip"}


def tags_download(*, client: Client, format: str) -> tuple[bytes, str, str]:
    """The client's tags as one file: (body, content type, file name); xmp is a zip."""
    if format not in FORMATS:
        raise TagExportError(f"Unknown format “{format}”: use one of {', '.join(FORMATS)}.")
    rows = tag_rows(client=client)
    if format == "csv":
        body = tags_csv(rows).encode()
    elif format == "json":
        body = tags_json(client=client, rows=rows).encode()
    else:
        body = xmp_zip(rows)
    return body, CONTENT_TYPES[format], f"{client.slug}-tags.{EXTENSIONS[format]}"


def tags_export(*, client: Client, format: str, out: Path) -> int:
    """Write the client's tags to ``out``; returns how many image labels were written.

    For ``xmp``, ``out`` is a zip when it ends in ``.zip``, else a folder (made if missing)
    that receives one sidecar per image."""
    if format not in FORMATS:
        raise TagExportError(f"Unknown format “{format}”: use one of {', '.join(FORMATS)}.")
    out = Path(out)
    rows = tag_rows(client=client)
    if format == "xmp" and out.suffix.lower() != ".zip":
        if out.exists() and not out.is_dir():
            raise TagExportError(f"{out} is a file: XMP sidecars go into a folder or a .zip.")
        out.mkdir(parents=True, exist_ok=True)
        for name, text in xmp_sidecars(rows).items():
            (out / name).write_text(text, encoding="utf-8")
        return len(rows)
    if out.is_dir():
        raise TagExportError(f"{out} is a folder: name the file to write.")
    if not out.parent.is_dir():
        raise TagExportError(f"The folder {out.parent} does not exist.")
    if format == "csv":
        out.write_text(tags_csv(rows), encoding="utf-8")
    elif format == "json":
        out.write_text(tags_json(client=client, rows=rows), encoding="utf-8")
    else:
        out.write_bytes(xmp_zip(rows))
    return len(rows)
