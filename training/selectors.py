"""Reads shared by the training services, pages and the API. A selector only reads and
never imports a service, so every service can import it at the top."""

from __future__ import annotations

from labelling.models import Taxonomy
from training.models import ActiveModel, ModelVersion


def active_version(taxonomy: Taxonomy) -> ModelVersion | None:
    """The version serving ``taxonomy``, or None before the first activation."""
    pointer = ActiveModel.objects.filter(taxonomy=taxonomy).select_related("model_version").first()
    return pointer.model_version if pointer else None


def latest_label_audit(taxonomy: Taxonomy):
    """The taxonomy's newest finished audit, whose scores are the suspect-labels queue."""
    from training.models import LabelAudit, RunStatus

    return (
        LabelAudit.objects.filter(taxonomy=taxonomy, status=RunStatus.SUCCEEDED)
        .order_by("-finished_at", "-id")
        .first()
    )


def open_suspects(client, *, limit: int = 50):
    """The client's own images among the latest audit's suspects, not yet decided, most
    suspect first (the audit covers the whole sector; each client sees only its images).
    A label a reviewer kept in an earlier audit is not asked about again."""
    from django.db.models import Exists, OuterRef

    from training.models import LabelNoiseScore, SuspectDecision

    taxonomy = client.taxonomy
    audit = latest_label_audit(taxonomy) if taxonomy is not None else None
    if audit is None:
        return None, []
    rows = (
        LabelNoiseScore.objects.filter(
            audit=audit, is_suspect=True, decision="", image__client=client
        )
        .exclude(
            Exists(
                LabelNoiseScore.objects.filter(
                    image=OuterRef("image"),
                    label=OuterRef("label"),
                    decision=SuspectDecision.KEEP,
                )
            )
        )
        .select_related("image")
        .order_by("rank")[:limit]
    )
    return audit, list(rows)
