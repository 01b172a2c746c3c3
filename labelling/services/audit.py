"""Writing the audit log. ``record`` is called by the services that make the changes, inside
their transaction where they have one, so an event exists exactly when its change does."""

from __future__ import annotations

from typing import Any

from labelling.models import AuditAction, AuditEvent, Client, Sector

SUMMARY_MAX = AuditEvent._meta.get_field("summary").max_length


def record(
    actor,
    action: AuditAction | str,
    *,
    sector: Sector | None = None,
    client: Client | None = None,
    summary: str,
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """One audit event. ``actor`` is the user who acted, or None for beat and workers. An
    event about a client also concerns its sector (which is filled in from it)."""
    if action not in AuditAction.values:
        raise ValueError(f"unknown audit action {action!r}")
    if sector is None and client is None:
        raise ValueError("an audit event concerns a sector or a client")
    if client is not None and sector is None:
        sector_id = client.sector_id
    else:
        sector_id = sector.pk if sector is not None else None
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    summary = summary.strip()
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 1] + "…"
    return AuditEvent.objects.create(
        actor=actor,
        action=action,
        sector_id=sector_id,
        client=client,
        summary=summary,
        detail=detail or {},
    )
