"""The retraining policy: every verified label makes the next model.

A taxonomy retrains by itself after ``after_verified`` new verified images since the run
the policy last started (or once the verified set has grown by half, when that is fewer),
and on a schedule (beat) when anything new was verified. Before any model exists, the first
one trains as soon as every label has a few verified images. Single flight comes from
training_request (one queued or running run per taxonomy); the promotion gate stays, since
the new version activates only when it is not worse on gold.
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from labelling.models import AuditAction, Client, ImageLabel, ImageStatus, Taxonomy
from labelling.models.images import LabelSource
from labelling.services import audit
from training.models import RetrainingPolicy, TrainingRun
from training.selectors import active_version
from training.services.training import TrainingAlreadyRunning, training_request

logger = logging.getLogger(__name__)

# Early on, a model gains most from each new label: the policy also fires once the verified
# set has grown by this share since the last run, and by at least EARLY_MIN_NEW images
# (13 → 23 → 35 → 53 → 80 ...), until that is more than its ``after_verified``.
EARLY_GROWTH = 0.5
EARLY_MIN_NEW = 10


def new_labels_needed(policy: RetrainingPolicy) -> int:
    """How many new verified images start the next run: the policy's N, or fewer while the
    verified set is small."""
    grown = max(EARLY_MIN_NEW, math.ceil(EARLY_GROWTH * policy.verified_at_last_run))
    return min(policy.after_verified, grown)


def retraining_policy_get(*, taxonomy: Taxonomy) -> RetrainingPolicy:
    policy, _ = RetrainingPolicy.objects.get_or_create(
        taxonomy=taxonomy, defaults={"after_verified": settings.RETRAIN_AFTER_VERIFIED}
    )
    return policy


def retraining_policy_of(taxonomy: Taxonomy) -> RetrainingPolicy:
    """The taxonomy's policy, or (unsaved) the default one it gets at its first check."""
    return RetrainingPolicy.objects.filter(taxonomy=taxonomy).select_related(
        "last_run"
    ).first() or RetrainingPolicy(taxonomy=taxonomy, after_verified=settings.RETRAIN_AFTER_VERIFIED)


def _verified_labels(taxonomy: Taxonomy):
    return ImageLabel.objects.filter(
        image__client__sector_id=taxonomy.sector_id,
        image__status=ImageStatus.VERIFIED,
        label__taxonomy=taxonomy,
        label__is_active=True,
        source__in=[LabelSource.HUMAN, LabelSource.IMPORT],
    )


def verified_count(taxonomy: Taxonomy) -> int:
    return _verified_labels(taxonomy).values("image_id").distinct().count()


def _every_label_has_a_few(taxonomy: Taxonomy) -> bool:
    per_label = dict(
        _verified_labels(taxonomy)
        .values("label_id")
        .annotate(n=Count("image_id", distinct=True))
        .values_list("label_id", "n")
    )
    labels = list(taxonomy.labels.filter(is_active=True).values_list("pk", flat=True))
    needed = settings.FIRST_MODEL_MIN_PER_LABEL
    return len(labels) >= 2 and all(per_label.get(pk, 0) >= needed for pk in labels)


def _reason(policy: RetrainingPolicy, count: int, *, scheduled: bool, now) -> str | None:
    taxonomy = policy.taxonomy
    if active_version(taxonomy) is None:
        if not _every_label_has_a_few(taxonomy):
            return None
        return (
            f"first model: every label has at least {settings.FIRST_MODEL_MIN_PER_LABEL} "
            "verified images"
        )
    new = count - policy.verified_at_last_run
    needed = new_labels_needed(policy)
    if policy.after_verified and new >= needed:
        early = "" if needed == policy.after_verified else ", fewer while the set is small"
        return f"{new} images verified since the last run (policy: {policy.after_verified}{early})"
    due = policy.last_fired_at is None or now - policy.last_fired_at >= timedelta(
        hours=policy.every_hours
    )
    if scheduled and policy.every_hours and due and new > 0:
        return f"schedule: every {policy.every_hours} h, and {new} images verified since"
    return None


def retraining_policy_check(
    *, taxonomy: Taxonomy, scheduled: bool = False, now=None
) -> TrainingRun | None:
    """Start a training run when the policy says so; returns it, or None. A run already
    queued or running means no new one (it is not recorded as a firing, so the next check
    after it finishes decides again)."""
    now = now or timezone.now()
    retraining_policy_get(taxonomy=taxonomy)
    with transaction.atomic():
        policy = (
            RetrainingPolicy.objects.select_for_update()
            .select_related("taxonomy")
            .get(taxonomy=taxonomy)
        )
        if not policy.enabled:
            return None
        count = verified_count(taxonomy)
        reason = _reason(policy, count, scheduled=scheduled, now=now)
        if reason is None:
            return None
        try:
            run = training_request(taxonomy=taxonomy)
        except TrainingAlreadyRunning:
            return None
        policy.verified_at_last_run = count
        policy.last_fired_at = now
        policy.last_reason = reason[:300]
        policy.last_run = run
        policy.save(
            update_fields=[
                "verified_at_last_run",
                "last_fired_at",
                "last_reason",
                "last_run",
                "updated_at",
            ]
        )
    logger.info("retraining %s: %s", taxonomy, reason)
    return run


def retraining_after_review(*, client: Client) -> None:
    """The review services call this after people's decisions are stored. A failure here
    must never lose a review, so it is logged, and beat's check catches up."""
    try:
        taxonomy = client.taxonomy
        if taxonomy is not None:
            retraining_policy_check(taxonomy=taxonomy)
    except Exception:
        logger.exception("retraining policy check of %s failed", client)


def retraining_policies_check(*, now=None) -> list[int]:
    """Beat's pass over every taxonomy; returns the ids of the runs it started."""
    started = []
    for taxonomy in Taxonomy.objects.all():
        run = retraining_policy_check(taxonomy=taxonomy, scheduled=True, now=now)
        if run is not None:
            started.append(run.pk)
    return started


POLICY_FIELDS = ("enabled", "after_verified", "every_hours")


def retraining_policy_set(
    *,
    taxonomy: Taxonomy,
    enabled: bool,
    after_verified: int,
    every_hours: int,
    user=None,
) -> RetrainingPolicy:
    with transaction.atomic():
        policy = retraining_policy_get(taxonomy=taxonomy)
        before = (policy.enabled, policy.after_verified, policy.every_hours)
        policy.enabled = enabled
        policy.after_verified = after_verified
        policy.every_hours = every_hours
        policy.save(update_fields=["enabled", "after_verified", "every_hours", "updated_at"])
        if before != (enabled, after_verified, every_hours):
            state = (
                f"after {after_verified} verified or every {every_hours} h" if enabled else "off"
            )
            audit.record(
                user,
                AuditAction.RETRAINING_POLICY_CHANGED,
                sector=taxonomy.sector,
                summary=f"Retraining of {taxonomy.name}: {state}.",
                detail={
                    "enabled": enabled,
                    "after_verified": after_verified,
                    "every_hours": every_hours,
                    "before": dict(zip(POLICY_FIELDS, before, strict=True)),
                },
            )
    return policy
