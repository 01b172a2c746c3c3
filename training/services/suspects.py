"""Reviewers' decisions on the suspect-labels queue: keep the label, relabel the image, or
exclude it from training. Each is audited, and the training dataset reads the outcome."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from labelling.models import AuditAction, Client, ImageLabel, Label
from labelling.models.images import LabelSource
from labelling.services.audit import record
from training.models import LabelNoiseScore, SuspectDecision, TrainingExclusion


class SuspectAlreadyDecided(Exception):
    pass


def suspect_decide(
    *, client: Client, user, score_id: int, decision: str, label_id: int | None = None
) -> LabelNoiseScore:
    """Decide one suspect of ``client``'s (another client's is LabelNoiseScore.DoesNotExist,
    for the view's 404). ``label_id`` is the new label when relabelling."""
    if decision not in SuspectDecision.values:
        raise ValueError(f"unknown decision {decision!r}; use one of {SuspectDecision.values}")
    with transaction.atomic():
        score = (
            LabelNoiseScore.objects.select_for_update()
            .select_related("image", "label", "audit")
            .get(pk=score_id, image__client=client, audit__taxonomy=client.taxonomy)
        )
        if score.decision:
            raise SuspectAlreadyDecided(
                f"Image {score.image_id} was already decided ({score.get_decision_display()})."
            )
        detail = {
            "image": score.image_id,
            "audit": score.audit_id,
            "decision": decision,
            "label": score.label_id,
            "rank": score.rank,
        }
        if decision == SuspectDecision.RELABEL:
            new = _new_label(client, score, label_id)
            ImageLabel.objects.filter(image=score.image, label__taxonomy=new.taxonomy_id).delete()
            ImageLabel.objects.create(image=score.image, label=new, source=LabelSource.HUMAN)
            detail["new_label"] = new.pk
            summary = f"Image {score.image_id} relabelled {score.label.key} → {new.key}"
        elif decision == SuspectDecision.EXCLUDE:
            TrainingExclusion.objects.get_or_create(
                image=score.image,
                defaults={"excluded_by": user, "reason": f"suspect label (audit {score.audit_id})"},
            )
            summary = f"Image {score.image_id} excluded from training (label {score.label.key})"
        else:
            summary = f"Image {score.image_id} keeps its label {score.label.key}"
        score.decision, score.decided_by, score.decided_at = decision, user, timezone.now()
        score.save(update_fields=["decision", "decided_by", "decided_at"])
        record(
            user, AuditAction.SUSPECT_LABEL_DECIDED, client=client, summary=summary, detail=detail
        )
    return score


def _new_label(client: Client, score: LabelNoiseScore, label_id: int | None) -> Label:
    if label_id is None:
        raise ValueError("relabelling needs the new label")
    new = Label.objects.filter(pk=label_id, taxonomy=client.taxonomy, is_active=True).first()
    if new is None:
        raise ValueError(f"label {label_id} is not an active label of this taxonomy")
    if new.pk == score.label_id:
        raise ValueError("that is the label the image has; choose keep instead")
    return new


def label_audit_start(*, client: Client, user):
    """An admin's on-demand audit of their sector's taxonomy."""
    from training.services.label_audit import label_audit_request

    taxonomy = client.taxonomy
    if taxonomy is None:
        raise ValueError("this client has no taxonomy to audit")
    with transaction.atomic():
        audit = label_audit_request(taxonomy=taxonomy, user=user)
        record(
            user,
            AuditAction.LABEL_AUDIT_REQUESTED,
            sector=taxonomy.sector,
            summary=f"Label audit of {taxonomy.name} requested",
            detail={"audit": audit.pk},
        )
    return audit
