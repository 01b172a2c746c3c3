"""Reads shared by the training services, pages and the API. A selector only reads and
never imports a service, so every service can import it at the top."""

from __future__ import annotations

from labelling.models import Client, Taxonomy
from training.models import (
    ActiveModel,
    ClientModelSettings,
    EmbeddingMap,
    ModelActivation,
    ModelVersion,
    RunStatus,
)


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


def rollback_target(taxonomy: Taxonomy, active: ModelVersion | None) -> ModelVersion | None:
    """The version a rollback would make active (what model_rollback picks), for the
    confirmation to name it."""
    if active is None:
        return None
    activated = (
        ModelActivation.objects.filter(taxonomy=taxonomy, model_version=active, is_rollback=False)
        .exclude(previous=active)
        .select_related("previous")
        .order_by("-created_at", "-id")
        .first()
    )
    return activated.previous if activated else None


def affected_clients(client: Client) -> dict:
    """Who a change of the shared model touches, as a confirmation says it: this client by
    name, the others of the sector by number only (no client sees another's name)."""
    others = Client.objects.filter(sector_id=client.sector_id).exclude(pk=client.pk).count()
    return {"client": client, "others": others, "total": others + 1}


def consenting_clients(client: Client) -> dict:
    """How many of the sector's clients let their verified images train the model."""
    total = Client.objects.filter(sector_id=client.sector_id).count()
    refusing = ClientModelSettings.objects.filter(
        client__sector_id=client.sector_id, trains_sector_model=False
    ).count()
    return {"consenting": total - refusing, "total": total}


def latest_embedding_map(client: Client) -> EmbeddingMap | None:
    """The client's newest map row, whatever its status (what the page says is going on)."""
    return EmbeddingMap.objects.filter(client=client).first()


def current_embedding_map(client: Client) -> EmbeddingMap | None:
    """The client's newest laid-out map (what the page draws), or None."""
    return EmbeddingMap.objects.filter(client=client, status=RunStatus.SUCCEEDED).first()
