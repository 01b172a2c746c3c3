"""A taxonomy as a file, and back: JSON or CSV, one entry per label (key, name, parent key,
description, active).

An import changes the taxonomy to what the file says for the labels it names: new keys are
added, known ones renamed, moved, described, retired or brought back. Labels the file does
not name are left as they are (a file never deletes or retires by omission). The whole file
is checked first; one problem refuses it and nothing changes. The changes make one new
version and one audit event."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from labelling.models import AuditAction, Label, Taxonomy
from labelling.services.taxonomy import _lock_taxonomy, taxonomy_changed

COLUMNS = ("key", "name", "parent", "description", "active")
FORMATS = {"json": "application/json", "csv": "text/csv; charset=utf-8"}
MAX_BYTES = 2 * 1024 * 1024
TRUE, FALSE = {"", "1", "true", "yes", "y"}, {"0", "false", "no", "n"}
NAME_MAX = Label._meta.get_field("name").max_length
KEY_MAX = Label._meta.get_field("key").max_length


class TaxonomyFileError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    version: int | None = None


def _rows(taxonomy: Taxonomy) -> list[dict]:
    labels = list(Label.objects.filter(taxonomy=taxonomy).order_by("id"))
    key_of = {label.pk: label.key for label in labels}
    return [
        {
            "key": label.key,
            "name": label.name,
            "parent": key_of.get(label.parent_id, ""),
            "description": label.description,
            "active": label.is_active,
        }
        for label in labels
    ]


def taxonomy_export(*, taxonomy: Taxonomy, format: str) -> tuple[str, str, bytes]:
    """(file name, content type, bytes) of the taxonomy in ``format`` (json or csv)."""
    if format not in FORMATS:
        raise TaxonomyFileError([f"Unknown format “{format}”: use json or csv."])
    rows = _rows(taxonomy)
    stem = f"{taxonomy.sector.slug}-taxonomy-v{taxonomy.version}"
    if format == "json":
        body = {
            "sector": taxonomy.sector.slug,
            "taxonomy": taxonomy.name,
            "kind": taxonomy.kind,
            "version": taxonomy.version,
            "labels": rows,
        }
        data = json.dumps(body, indent=2, ensure_ascii=False).encode()
    else:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "active": "yes" if row["active"] else "no"})
        data = out.getvalue().encode()
    return f"{stem}.{format}", FORMATS[format], data


def read_taxonomy_upload(upload) -> tuple[str, str]:
    """(format, text) of an uploaded taxonomy file, or TaxonomyFileError."""
    if upload is None:
        raise TaxonomyFileError(["Choose a JSON or CSV file to import."])
    if upload.size > MAX_BYTES:
        raise TaxonomyFileError([f"The file is over {MAX_BYTES // 1024 // 1024} MB."])
    name = (upload.name or "").lower()
    format = "json" if name.endswith(".json") else "csv" if name.endswith(".csv") else None
    if format is None:
        raise TaxonomyFileError(["The file's name must end in .json or .csv."])
    try:
        return format, upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise TaxonomyFileError(["The file is not UTF-8 text."]) from None


def _parse(format: str, text: str) -> list[dict]:
    if format == "json":
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            problem = f"The JSON is malformed: {exc.msg} (line {exc.lineno})."
            raise TaxonomyFileError([problem]) from None
        labels = body.get("labels") if isinstance(body, dict) else body
        if not isinstance(labels, list) or not all(isinstance(r, dict) for r in labels):
            raise TaxonomyFileError(
                ["The JSON must be a list of labels, or an object with a “labels” list."]
            )
        return labels
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip() for c in reader.fieldnames or []]
    if not columns:
        raise TaxonomyFileError(["The file is empty: its first line must name the columns."])
    problems = [
        f"Unknown column “{c}”: the columns are {', '.join(COLUMNS)}."
        for c in columns
        if c not in COLUMNS
    ]
    problems += [f"The column “{c}” is missing." for c in ("key", "name") if c not in columns]
    if problems:
        raise TaxonomyFileError(problems)
    reader.fieldnames = columns
    return list(reader)


def _clean(raw: list[dict], problems: list[str]) -> dict[str, dict]:
    wanted: dict[str, dict] = {}
    for n, row in enumerate(raw, start=1):
        where = f"Label {n}"
        key = str(row.get("key") or "").strip()
        name = str(row.get("name") or "").strip()
        if not key:
            problems.append(f"{where}: the key is missing.")
            continue
        where = f"Label {n} ({key})"
        try:
            validate_slug(key)
        except ValidationError:
            problems.append(f"{where}: a key is letters, digits, - and _ only.")
        if len(key) > KEY_MAX:
            problems.append(f"{where}: the key is over {KEY_MAX} characters.")
        if not name:
            problems.append(f"{where}: the name is missing.")
        if len(name) > NAME_MAX:
            problems.append(f"{where}: the name is over {NAME_MAX} characters.")
        if key in wanted:
            problems.append(f"{where}: the key is named twice.")
        active = row.get("active", True)
        if not isinstance(active, bool):
            text = str(active).strip().lower()
            if text not in TRUE | FALSE:
                problems.append(f"{where}: active must be yes or no, not “{active}”.")
            active = text in TRUE
        wanted[key] = {
            "name": name,
            "parent": str(row.get("parent") or "").strip(),
            "description": str(row.get("description") or "").strip(),
            "is_active": active,
        }
    if not wanted and not problems:
        problems.append("The file names no labels.")
    return wanted


def _check_tree(wanted: dict[str, dict], existing: dict[str, Label], problems: list[str]) -> None:
    """The tree the import would leave: every parent known, no cycle, no active label
    under a retired one."""
    id_to_key = {label.pk: key for key, label in existing.items()}
    parent_of = {key: id_to_key.get(label.parent_id, "") for key, label in existing.items()}
    active = {key: label.is_active for key, label in existing.items()}
    for key, row in wanted.items():
        parent_of[key] = row["parent"]
        active[key] = row["is_active"]
    for key, row in wanted.items():
        parent = row["parent"]
        if parent and parent not in parent_of:
            problems.append(
                f"“{key}”: its parent “{parent}” is neither in the file nor the taxonomy."
            )
            continue
        if parent and row["is_active"] and not active[parent]:
            problems.append(f"“{key}”: its parent “{parent}” is retired.")
        node, seen = parent, {key}
        while node:
            if node in seen:
                problems.append(f"“{key}”: its parents go round in a circle.")
                break
            seen.add(node)
            node = parent_of.get(node, "")
    for key, row in wanted.items():
        if not row["is_active"]:
            live = sorted(k for k, p in parent_of.items() if p == key and active.get(k))
            if live:
                problems.append(f"“{key}” is retired but has active children ({', '.join(live)}).")


def taxonomy_import(*, taxonomy: Taxonomy, format: str, text: str, user=None) -> ImportResult:
    if format not in FORMATS:
        raise TaxonomyFileError([f"Unknown format “{format}”: use json or csv."])
    raw = _parse(format, text)
    problems: list[str] = []
    with transaction.atomic():
        taxonomy = _lock_taxonomy(taxonomy.pk)
        existing = {label.key: label for label in Label.objects.filter(taxonomy=taxonomy)}
        wanted = _clean(raw, problems)
        if not problems:
            _check_tree(wanted, existing, problems)
        if problems:
            raise TaxonomyFileError(problems)
        result = ImportResult()
        for key, row in wanted.items():
            if key not in existing:
                existing[key] = Label.objects.create(
                    taxonomy=taxonomy,
                    key=key,
                    name=row["name"],
                    description=row["description"],
                    is_active=row["is_active"],
                )
                result.added.append(key)
        for key, row in wanted.items():
            label = existing[key]
            values = {
                "name": row["name"],
                "description": row["description"],
                "is_active": row["is_active"],
                "parent_id": existing[row["parent"]].pk if row["parent"] else None,
            }
            changed = [f for f, v in values.items() if getattr(label, f) != v]
            if not changed:
                if key not in result.added:
                    result.unchanged += 1
                continue
            for f in changed:
                setattr(label, f, values[f])
            label.save(update_fields=changed)
            if key not in result.added:
                result.changed.append(key)
        if result.added or result.changed:
            taxonomy_changed(
                taxonomy=taxonomy,
                user=user,
                action=AuditAction.TAXONOMY_IMPORTED,
                summary=f"imported a {format.upper()} file: {len(result.added)} added, "
                f"{len(result.changed)} changed.",
                detail={"added": result.added, "changed": result.changed},
            )
        result.version = taxonomy.version
    return result
