"""Reads shared by the training services, pages and the API. A selector only reads and
never imports a service, so every service can import it at the top."""

from __future__ import annotations

from labelling.models import Taxonomy
from training.models import ActiveModel, ModelVersion


def active_version(taxonomy: Taxonomy) -> ModelVersion | None:
    """The version serving ``taxonomy``, or None before the first activation."""
    pointer = ActiveModel.objects.filter(taxonomy=taxonomy).select_related("model_version").first()
    return pointer.model_version if pointer else None


def taxonomy_drift(taxonomy: Taxonomy, version: ModelVersion | None) -> dict | None:
    """How the labels ``version`` learned differ from the taxonomy's active labels now:
    None when they are the same set (a rename or a new description needs no retraining),
    else the labels added since and those retired or merged away."""
    if version is None:
        return None
    from labelling.models import Label

    learned = set(version.class_labels)
    active = set(
        Label.objects.filter(taxonomy=taxonomy, is_active=True).values_list("pk", flat=True)
    )
    if learned == active:
        return None
    names = dict(Label.objects.filter(pk__in=learned ^ active).values_list("pk", "name"))
    return {
        "added": sorted(names.get(pk, str(pk)) for pk in active - learned),
        "gone": sorted(names.get(pk, str(pk)) for pk in learned - active),
        "learned_version": version.taxonomy_version,
        "taxonomy_version": taxonomy.version,
    }
