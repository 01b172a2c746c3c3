"""Reads shared by the training services, pages and the API. A selector only reads and
never imports a service, so every service can import it at the top."""

from __future__ import annotations

from labelling.models import Taxonomy
from training.models import ActiveModel, ModelVersion


def active_version(taxonomy: Taxonomy) -> ModelVersion | None:
    """The version serving ``taxonomy``, or None before the first activation."""
    pointer = ActiveModel.objects.filter(taxonomy=taxonomy).select_related("model_version").first()
    return pointer.model_version if pointer else None
