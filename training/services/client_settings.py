"""A client's own decisions about its sector's shared model: its auto-accept target (the
thresholds for it come from the serving version's calibration, so only this client's
decisions move) and whether its verified images train the model."""

from __future__ import annotations

from django.db import transaction

from labelling.models import AuditAction, Client
from labelling.services import audit
from training.models import ClientModelSettings
from training.selectors import active_version
from training.services.policy import policy_for_client


def client_settings_of(client: Client) -> ClientModelSettings:
    """The client's settings; an unsaved default (the version's thresholds, consenting)
    when it never chose."""
    found = ClientModelSettings.objects.filter(client=client).first()
    return found or ClientModelSettings(client=client)


def client_target_set(*, client: Client, target: float, user=None) -> dict | None:
    """Set ``client``'s own auto-accept target and choose its thresholds from the active
    version's kept held-out probabilities (no retraining); other clients of the sector keep
    theirs. Returns the client's policy with the active version (None when nothing is
    active). Raises ValueError, nothing saved, for a target outside 0.5–1.0 or an active
    version without held-out data."""
    if not 0.5 <= target <= 1.0:
        raise ValueError("the target precision must be between 50% and 100%")
    with transaction.atomic():
        settings, _ = ClientModelSettings.objects.select_for_update().get_or_create(client=client)
        before = settings.auto_accept_target
        settings.auto_accept_target = target
        settings.policy = {}
        settings.updated_by = user
        version = active_version(client.taxonomy) if client.taxonomy else None
        policy = policy_for_client(version, settings) if version else None
        settings.save(update_fields=["auto_accept_target", "policy", "updated_by", "updated_at"])
        if before != target:
            was = f" (was {before:.0%})" if before is not None else ""
            audit.record(
                user,
                AuditAction.AUTO_ACCEPT_TARGET_CHANGED,
                client=client,
                summary=f"{client.name}'s auto-accept target set to {target:.0%}{was}.",
                detail={"target": target, "before": before},
            )
    return policy


def client_consent_set(*, client: Client, trains_sector_model: bool, user=None) -> None:
    """Whether ``client``'s verified images train its sector's model from the next run on
    (versions already trained keep what they learned)."""
    with transaction.atomic():
        settings, _ = ClientModelSettings.objects.select_for_update().get_or_create(client=client)
        before = settings.trains_sector_model
        settings.trains_sector_model = trains_sector_model
        settings.updated_by = user
        settings.save(update_fields=["trains_sector_model", "updated_by", "updated_at"])
        if before != trains_sector_model:
            does = "train" if trains_sector_model else "no longer train"
            audit.record(
                user,
                AuditAction.TRAINING_CONSENT_CHANGED,
                client=client,
                summary=f"{client.name}'s verified images {does} the sector's model.",
                detail={"trains_sector_model": trains_sector_model},
            )
