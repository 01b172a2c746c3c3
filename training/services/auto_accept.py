"""Changing a taxonomy's auto-accept target: the taxonomy remembers it for the versions to
come, and the active version's thresholds are chosen again at once from its kept held-out
probabilities (no retraining)."""

from __future__ import annotations

from django.db import transaction

from labelling.models import Taxonomy
from training.selectors import active_version
from training.services.policy import policy_set_target


def auto_accept_target_set(*, taxonomy: Taxonomy, target: float) -> dict | None:
    """Save ``target`` on the taxonomy and re-choose the active version's thresholds.
    Returns the active version's new policy (None when nothing is active). Raises ValueError
    (nothing saved) for a target outside 0.5–1.0 or a version without held-out data."""
    if not 0.5 <= target <= 1.0:
        raise ValueError("the target precision must be between 0.5 and 1.0")
    with transaction.atomic():
        locked = Taxonomy.objects.select_for_update().get(pk=taxonomy.pk)
        version = active_version(locked)
        policy = policy_set_target(model_version=version, target=target) if version else None
        locked.auto_accept_target = target
        locked.save(update_fields=["auto_accept_target", "updated_at"])
    taxonomy.auto_accept_target = target
    return policy
