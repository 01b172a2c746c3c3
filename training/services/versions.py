"""Activation and rollback: moving the pointer that says which version serves a taxonomy."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db import transaction

from labelling.models import AuditAction, Taxonomy
from labelling.services import audit
from training.artifacts import stream_sha256
from training.models import ActiveModel, ModelActivation, ModelVersion
from training.selectors import active_version
from training.services import evaluation
from training.services.backfill import backfill_start

# What training's own promotion says when it activates a version (the audit log calls that
# a promotion).
PROMOTION_NOTE = "after training"


class ActivationRefused(Exception):
    """The version may not serve: its artifact is unreadable, or it did worse."""


class ArtifactUnusable(ActivationRefused):
    """The version's file is missing, incomplete or replaced: no admin can force it."""


def _verify_artifact(model_version: ModelVersion) -> None:
    """A half-written or swapped artifact must never serve: its bytes must hash to the
    checksum recorded when it was written. Reading is all it takes (no model is loaded, so
    a web request can do it); the worker checks the same again when it loads the file."""
    try:
        with default_storage.open(model_version.artifact, "rb") as handle:
            digest = stream_sha256(handle)
    except OSError as exc:
        raise ArtifactUnusable(f"{model_version} cannot be read: {exc}") from exc
    if digest != model_version.artifact_sha256:
        raise ArtifactUnusable(
            f"{model_version} cannot serve: its file does not match the checksum recorded when "
            "it was written (it is incomplete or was replaced)."
        )


def model_activate(
    *,
    model_version: ModelVersion,
    user=None,
    force: bool = False,
    is_rollback: bool = False,
    note: str = "",
) -> ModelActivation:
    """Point the taxonomy at ``model_version``. Unless forced (or rolling back), it must do
    at least as well as the active version on the same gold test images."""
    _verify_artifact(model_version)
    if not force and not is_rollback:
        comparison = evaluation.compare_on_gold(candidate=model_version)
        if comparison is not None and comparison.n == 0:
            raise ActivationRefused(
                f"{model_version} and the active version have not answered the same gold test "
                "images yet, so they cannot be compared: evaluate both (manage.py evaluate "
                "--model-version ID) or force it to activate anyway."
            )
        if comparison is not None and not comparison.candidate_not_worse:
            raise ActivationRefused(
                f"{model_version} is worse than the active version on the same "
                f"{comparison.n} gold test images (top-1 {comparison.candidate_top1:.3f} vs "
                f"{comparison.active_top1:.3f}); force it to activate anyway."
            )
    with transaction.atomic():
        taxonomy = Taxonomy.objects.select_for_update().get(pk=model_version.taxonomy_id)
        pointer = ActiveModel.objects.filter(taxonomy=taxonomy).first()
        previous = pointer.model_version if pointer else None
        if previous == model_version:
            # Already serving: no pointer move, so no history row that a rollback would
            # mistake for a step.
            return ModelActivation.objects.filter(model_version=model_version).first()
        if pointer is None:
            ActiveModel.objects.create(taxonomy=taxonomy, model_version=model_version)
        else:
            pointer.model_version = model_version
            pointer.save(update_fields=["model_version", "updated_at"])
        # Every pointer move (promotion, activation, rollback) passes here.
        backfill_start(model_version=model_version)
        _audit_activation(
            taxonomy=taxonomy,
            model_version=model_version,
            previous=previous,
            user=user,
            force=force,
            is_rollback=is_rollback,
            note=note,
        )
        return ModelActivation.objects.create(
            taxonomy=taxonomy,
            model_version=model_version,
            previous=previous,
            activated_by=user,
            forced=force,
            is_rollback=is_rollback,
            note=note[:300],
        )


def _audit_activation(*, taxonomy, model_version, previous, user, force, is_rollback, note) -> None:
    before = f"v{previous.number}" if previous else "none"
    if is_rollback:
        action, verb = AuditAction.VERSION_ROLLED_BACK, "rolled back to"
    elif note == PROMOTION_NOTE:
        action, verb = AuditAction.VERSION_PROMOTED, "promoted after training:"
    else:
        action, verb = AuditAction.VERSION_ACTIVATED, "force-activated" if force else "activated"
    audit.record(
        user,
        action,
        sector=taxonomy.sector,
        summary=f"{taxonomy.name}: {verb} v{model_version.number} (was {before}).",
        detail={
            "model_version": model_version.pk,
            "number": model_version.number,
            "previous": previous.number if previous else None,
            "forced": force,
        },
    )


def model_rollback(*, taxonomy: Taxonomy, user=None) -> ModelActivation:
    """Move the pointer back to the version that served before the current one. Repeated
    rollbacks walk further back through the activation history."""
    current = active_version(taxonomy)
    if current is None:
        raise ActivationRefused(f"{taxonomy} has no active model to roll back.")
    activated = (
        ModelActivation.objects.filter(taxonomy=taxonomy, model_version=current, is_rollback=False)
        .exclude(previous=current)
        .order_by("-created_at", "-id")
        .first()
    )
    if activated is None or activated.previous is None:
        raise ActivationRefused(
            f"{current} was the first version of {taxonomy}: nothing to roll back to."
        )
    return model_activate(
        model_version=activated.previous,
        user=user,
        is_rollback=True,
        note=f"rolled back from v{current.number}",
    )
