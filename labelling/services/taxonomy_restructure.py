"""Merging two labels into one, and splitting one label into several.

Both keep every image's labels consistent with the label set they leave behind: after a
merge the images of both labels carry the one kept; after a split the images of the old
label carry none of it and go back to review, where people choose among the new labels.
The old label is retired (never deleted: predictions and reviews point at it)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from labelling.models import AuditAction, Image, ImageLabel, ImageStatus, Label, Prediction
from labelling.services.taxonomy import (
    _check_key_is_free,
    _lock_taxonomy,
    _save_or_key_error,
    taxonomy_changed,
)

# Decided images go back to people; those still being ingested get their review from the
# model's prediction as usual, and failed ones carry no labels to speak of.
BACK_TO_REVIEW_FROM = (ImageStatus.AUTO_TAGGED, ImageStatus.VERIFIED, ImageStatus.REJECTED)


@dataclass(frozen=True)
class NewLabel:
    key: str
    name: str
    description: str = ""


def _descendant_ids(label: Label) -> set[int]:
    parent_of = dict(
        Label.objects.filter(taxonomy_id=label.taxonomy_id).values_list("id", "parent_id")
    )
    found: set[int] = set()
    for node in parent_of:
        chain, seen = parent_of.get(node), set()
        while chain is not None and chain not in seen:
            if chain == label.pk:
                found.add(node)
                break
            seen.add(chain)
            chain = parent_of.get(chain)
    return found


def label_merge(*, label: Label, into: Label, user=None) -> dict:
    """Merge ``label`` into ``into``: its images carry ``into`` instead (an image that had
    both keeps one), its children move under ``into``, and ``label`` is retired."""
    if label.pk == into.pk:
        raise ValidationError({"into": "A label cannot be merged into itself."})
    if label.taxonomy_id != into.taxonomy_id:
        raise ValidationError({"into": f"“{into.key}” is in another taxonomy."})
    with transaction.atomic():
        taxonomy = _lock_taxonomy(label.taxonomy_id)
        label.refresh_from_db()
        into.refresh_from_db()
        for one in (label, into):
            if not one.is_active:
                raise ValidationError({"into": f"“{one.key}” is retired: it cannot be merged."})
        if into.pk in _descendant_ids(label):
            raise ValidationError(
                {"into": f"“{into.key}” is inside “{label.key}”: move it out before merging."}
            )
        both = set(ImageLabel.objects.filter(label=into).values_list("image_id", flat=True)) & set(
            ImageLabel.objects.filter(label=label).values_list("image_id", flat=True)
        )
        ImageLabel.objects.filter(label=label, image_id__in=both).delete()
        moved = ImageLabel.objects.filter(label=label).update(label=into)
        children = Label.objects.filter(parent=label).update(parent=into)
        predictions = _merge_predictions(taxonomy, label=label, into=into)
        label.retire()
        taxonomy_changed(
            taxonomy=taxonomy,
            user=user,
            action=AuditAction.LABEL_MERGED,
            summary=f"merged “{label.name}” into “{into.name}” ({moved + len(both)} images).",
            detail={
                "label": label.pk,
                "into": into.pk,
                "images_moved": moved,
                "images_had_both": len(both),
                "children_moved": children,
                "predictions_moved": predictions,
            },
        )
    return {"images": moved + len(both), "children": children}


def _merge_predictions(taxonomy, *, label: Label, into: Label) -> int:
    """What the model said of ``label`` it now says of ``into``, so that a waiting image's
    suggestion is a label people can accept. A multi-class model's probabilities of the two
    add up (they were one softmax's shares); a multi-label model's take the larger."""
    combine = max if taxonomy.is_multi_label else (lambda a, b: a + b)
    changed = []
    rows = Prediction.objects.filter(image__client__sector_id=taxonomy.sector_id).only(
        "id", "ranked", "top_label_id", "top_probability"
    )
    for prediction in rows.iterator(chunk_size=2000):
        if not any(isinstance(e, dict) and e.get("label") == label.pk for e in prediction.ranked):
            continue
        merged: dict[int, float] = {}
        for entry in prediction.ranked:
            if not isinstance(entry, dict) or "label" not in entry:
                continue
            key = into.pk if int(entry["label"]) == label.pk else int(entry["label"])
            p = float(entry.get("probability", 0.0))
            merged[key] = combine(merged[key], p) if key in merged else p
        if not merged:
            continue
        ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))
        prediction.ranked = [{"label": k, "probability": v} for k, v in ranked]
        prediction.top_label_id, prediction.top_probability = ranked[0]
        changed.append(prediction)
    Prediction.objects.bulk_update(
        changed, ["ranked", "top_label", "top_probability"], batch_size=1000
    )
    return len(changed)


def label_split(*, label: Label, into: list[NewLabel], user=None) -> dict:
    """Split ``label`` into new labels beside it (same parent). Its images lose it and go
    back to review for people to choose among the new labels; ``label`` is retired."""
    if len(into) < 2:
        raise ValidationError({"into": "Name at least two labels to split into."})
    keys = [new.key for new in into]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValidationError({"into": f"The key “{duplicates[0]}” is named twice."})
    with transaction.atomic():
        taxonomy = _lock_taxonomy(label.taxonomy_id)
        label.refresh_from_db()
        if not label.is_active:
            raise ValidationError({"label": f"“{label.key}” is retired: it cannot be split."})
        children = list(label.children.active().values_list("key", flat=True))
        if children:
            raise ValidationError(
                {
                    "label": f"“{label.key}” has active children ({', '.join(children)}): "
                    "move or retire them before splitting it."
                }
            )
        created = []
        for new in into:
            _check_key_is_free(taxonomy=taxonomy, key=new.key, label_id=None)
            made = Label(
                taxonomy=taxonomy,
                key=new.key,
                name=new.name,
                parent_id=label.parent_id,
                description=new.description,
            )
            made.clean_fields(exclude=["taxonomy", "parent"])
            _save_or_key_error(made)
            created.append(made)
        image_ids = list(ImageLabel.objects.filter(label=label).values_list("image_id", flat=True))
        ImageLabel.objects.filter(label=label).delete()
        to_review = Image.objects.filter(pk__in=image_ids).move_status(
            ImageStatus.NEEDS_REVIEW, from_statuses=BACK_TO_REVIEW_FROM
        )
        label.retire()
        names = ", ".join(f"“{m.name}”" for m in created)
        taxonomy_changed(
            taxonomy=taxonomy,
            user=user,
            action=AuditAction.LABEL_SPLIT,
            summary=f"split “{label.name}” into {names}; {to_review} images back to review.",
            detail={
                "label": label.pk,
                "into": [m.pk for m in created],
                "images": len(image_ids),
                "back_to_review": to_review,
            },
        )
    return {"labels": created, "images": len(image_ids), "back_to_review": to_review}
