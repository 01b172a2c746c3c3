"""Changes to a sector's label set, and to the names clients give its labels.

Every change to a taxonomy's labels bumps its version in the same transaction, so a model
trained on one version can tell that the label set has moved on since, and writes an audit
event in it. A client's names are the client's, not the taxonomy's: they write an audit event
but leave the version alone. Merge and split are in ``taxonomy_restructure``; import and
export in ``taxonomy_transfer``.
"""

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from labelling.models import AuditAction, Client, ClientLabelName, Label, Taxonomy
from labelling.services import audit

LABEL_UPDATABLE_FIELDS = frozenset({"key", "name", "parent", "description"})


def _lock_taxonomy(taxonomy_id: int) -> Taxonomy:
    # Changes to one taxonomy's labels queue behind each other, so the key check, the
    # cycle check and the version bump all see a settled label set.
    return (
        Taxonomy.objects.select_related("sector")
        .select_for_update(of=("self",))
        .get(pk=taxonomy_id)
    )


def taxonomy_changed(
    *, taxonomy: Taxonomy, user, action: str, summary: str, detail: dict | None = None
) -> None:
    """The end of every change to a label set: a new version, and the audit event that
    says who made it (inside the caller's transaction)."""
    taxonomy.bump_version()
    audit.record(
        user,
        action,
        sector=taxonomy.sector,
        summary=f"{taxonomy.name} v{taxonomy.version}: {summary}",
        detail={"taxonomy": taxonomy.pk, "version": taxonomy.version, **(detail or {})},
    )


def _check_key_is_free(*, taxonomy: Taxonomy, key: str, label_id: int | None) -> None:
    taken = Label.objects.filter(taxonomy=taxonomy, key=key).exclude(pk=label_id).exists()
    if taken:
        raise ValidationError({"key": f"The key “{key}” is already used in {taxonomy.name}."})


def _check_parent(*, taxonomy: Taxonomy, parent: Label | None, label_id: int | None) -> None:
    if parent is None:
        return
    if parent.taxonomy_id != taxonomy.pk:
        raise ValidationError(
            {"parent": f"The parent “{parent.key}” is not in {taxonomy.name}; it must be."}
        )
    if not parent.is_active:
        raise ValidationError({"parent": f"The parent “{parent.key}” is retired."})
    if label_id is None:
        return  # a new label has no descendants, so it cannot close a cycle
    # One query for the whole tree, then walk up from the new parent in memory.
    parent_of = dict(Label.objects.filter(taxonomy=taxonomy).values_list("id", "parent_id"))
    node, seen = parent.pk, set()
    while node is not None and node not in seen:
        if node == label_id:
            raise ValidationError({"parent": "A label cannot be its own ancestor."})
        seen.add(node)
        node = parent_of.get(node)


def _save_or_key_error(label: Label, **save_args) -> None:
    # The database constraint is the last word on unique keys (two writers can both pass
    # the check on a database without row locks).
    try:
        with transaction.atomic():
            label.save(**save_args)
    except IntegrityError as exc:
        raise ValidationError({"key": f"The key “{label.key}” is already used."}) from exc


def _changed_fields(label: Label, data: Mapping[str, Any]) -> list[str]:
    # The parent is compared by id, so the current parent is never loaded.
    def now(field: str) -> Any:
        return label.parent_id if field == "parent" else getattr(label, field)

    def new(value: Any) -> Any:
        return value.pk if isinstance(value, Label) else value

    return [field for field, value in data.items() if now(field) != new(value)]


def label_create(
    *,
    taxonomy: Taxonomy,
    key: str,
    name: str,
    parent: Label | None = None,
    description: str = "",
    user=None,
) -> Label:
    with transaction.atomic():
        taxonomy = _lock_taxonomy(taxonomy.pk)
        _check_key_is_free(taxonomy=taxonomy, key=key, label_id=None)
        _check_parent(taxonomy=taxonomy, parent=parent, label_id=None)
        label = Label(taxonomy=taxonomy, key=key, name=name, parent=parent, description=description)
        label.clean_fields(exclude=["taxonomy", "parent"])
        _save_or_key_error(label)
        where = f" under “{parent.name}”" if parent else ""
        taxonomy_changed(
            taxonomy=taxonomy,
            user=user,
            action=AuditAction.LABEL_ADDED,
            summary=f"added “{name}” ({key}){where}.",
            detail={"label": label.pk, "key": key},
        )
    return label


def label_update(*, label: Label, data: Mapping[str, Any], user=None) -> Label:
    """Change any of key, name, parent and description. The version goes up only when
    something really changed."""
    unknown = set(data) - LABEL_UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"label_update cannot change {sorted(unknown)}")
    changed = _changed_fields(label, data)
    if not changed:
        return label
    with transaction.atomic():
        taxonomy = _lock_taxonomy(label.taxonomy_id)
        if "key" in changed:
            _check_key_is_free(taxonomy=taxonomy, key=data["key"], label_id=label.pk)
        if "parent" in changed:
            _check_parent(taxonomy=taxonomy, parent=data["parent"], label_id=label.pk)
        before = {f: label.parent_id if f == "parent" else getattr(label, f) for f in changed}
        for field in changed:
            setattr(label, field, data[field])
        label.clean_fields(exclude=["taxonomy", "parent"])
        _save_or_key_error(label, update_fields=changed)
        action, summary = _describe_update(label, before, changed)
        after = {f: label.parent_id if f == "parent" else getattr(label, f) for f in changed}
        taxonomy_changed(
            taxonomy=taxonomy,
            user=user,
            action=action,
            summary=summary,
            detail={"label": label.pk, "before": before, "after": after},
        )
    return label


def _describe_update(label: Label, before: dict, changed: list[str]) -> tuple[str, str]:
    if "parent" in changed:
        where = f"under “{label.parent.name}”" if label.parent_id else "to the top level"
        return AuditAction.LABEL_MOVED, f"moved “{label.name}” {where}."
    if "name" in changed or "key" in changed:
        old = before.get("name", label.name)
        keys = f" (key {before['key']} → {label.key})" if "key" in changed else ""
        return AuditAction.LABEL_RENAMED, f"renamed “{old}” to “{label.name}”{keys}."
    return AuditAction.TAXONOMY_EDITED, f"described “{label.name}”."


def label_retire(*, label: Label, user=None) -> Label:
    """Retire a label (never delete it: predictions and reviews point at it). Retiring a
    retired label changes nothing."""
    with transaction.atomic():
        taxonomy = _lock_taxonomy(label.taxonomy_id)
        label.refresh_from_db(fields=["is_active"])
        if not label.is_active:
            return label
        children = list(label.children.active().values_list("key", flat=True))
        if children:
            raise ValidationError(
                f"“{label.key}” still has active children ({', '.join(children)}): "
                "retire or move them first."
            )
        label.retire()
        taxonomy_changed(
            taxonomy=taxonomy,
            user=user,
            action=AuditAction.LABEL_RETIRED,
            summary=f"retired “{label.name}” ({label.key}).",
            detail={"label": label.pk, "key": label.key},
        )
    return label


def client_label_name_create(
    *, client: Client, label: Label, name: str, user=None
) -> ClientLabelName:
    """Give one of the sector's labels the client's own name: one name per label."""
    if label.taxonomy.sector_id != client.sector_id:
        raise ValidationError(
            {"label": f"Label {label.pk} is not in the {client.sector.name} taxonomy."}
        )
    duplicate = {
        "label": f"{client.name} already has a name for “{label.key}”: change that one instead."
    }
    if ClientLabelName.objects.filter(client=client, label=label).exists():
        raise ValidationError(duplicate)
    try:
        with transaction.atomic():
            label_name = ClientLabelName.objects.create(client=client, label=label, name=name)
            _name_recorded(client=client, label=label, before="", after=name, user=user)
            return label_name
    except IntegrityError as exc:  # a concurrent request named it first
        raise ValidationError(duplicate) from exc


def _name_recorded(*, client: Client, label: Label, before: str, after: str, user) -> None:
    was = f" (was “{before}”)" if before else ""
    audit.record(
        user,
        AuditAction.CLIENT_LABEL_NAME_SET,
        client=client,
        summary=f"{client.name} calls “{label.name}” “{after}”{was}.",
        detail={"label": label.pk, "key": label.key, "before": before, "after": after},
    )


def client_label_name_update(
    *, label_name: ClientLabelName, name: str, user=None
) -> ClientLabelName:
    if label_name.name != name:
        before = label_name.name
        with transaction.atomic():
            label_name.name = name
            label_name.save(update_fields=["name"])
            _name_recorded(
                client=label_name.client,
                label=label_name.label,
                before=before,
                after=name,
                user=user,
            )
    return label_name


def client_label_name_set(*, client: Client, label: Label, name: str, user=None) -> str:
    """Set, change or (with an empty name) remove the client's own name for a label, and
    record it. Returns what was done: "set", "changed", "removed" or "unchanged"."""
    name = name.strip()
    if label.taxonomy.sector_id != client.sector_id:
        raise ValidationError(
            {"label": f"Label {label.pk} is not in the {client.sector.name} taxonomy."}
        )
    with transaction.atomic():
        current = ClientLabelName.objects.select_for_update().filter(client=client, label=label)
        current = current.first()
        if current is None and not name:
            return "unchanged"
        if current is not None and current.name == name:
            return "unchanged"
        before = current.name if current else ""
        if not name:
            current.delete()
            outcome, summary = "removed", f"dropped its own name for “{label.name}” (“{before}”)."
        elif current is None:
            label_name = ClientLabelName(client=client, label=label, name=name)
            label_name.clean_fields(exclude=["client", "label"])
            label_name.save()
            outcome = "set"
        else:
            current.name = name
            current.clean_fields(exclude=["client", "label"])
            current.save(update_fields=["name"])
            outcome = "changed"
        if outcome == "removed":
            audit.record(
                user,
                AuditAction.CLIENT_LABEL_NAME_SET,
                client=client,
                summary=f"{client.name} {summary}",
                detail={"label": label.pk, "key": label.key, "before": before, "after": ""},
            )
        else:
            _name_recorded(client=client, label=label, before=before, after=name, user=user)
    return outcome
