"""Reads of the audit log, as the people it concerns may see it."""

from __future__ import annotations

from dataclasses import dataclass

from labelling.models import AuditEvent, Client, Membership


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor_name: str


def audit_events_for(*, user, client: Client, action: str | None = None):
    """The events ``user`` may see from ``client``'s audit page, newest first: the client's
    own and its sector's; site staff see every event."""
    events = AuditEvent.objects.visible_to(user=user, client=client).select_related(
        "actor", "client", "sector"
    )
    if action:
        events = events.filter(action=action)
    return events


def audit_rows(*, user, client: Client, events) -> list[AuditRow]:
    """Who acted, as the viewer may know it: no client sees another client's people, so a
    sector event done by someone outside the viewer's client names no one (staff see all)."""
    events = list(events)
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    known = (
        actor_ids
        if user.is_staff
        else set(
            Membership.objects.filter(client=client, user_id__in=actor_ids).values_list(
                "user_id", flat=True
            )
        )
    )
    rows = []
    for event in events:
        if event.actor_id is None:
            name = "the system"
        elif event.actor_id in known or event.actor_id == user.pk:
            name = event.actor.get_username()
        elif event.actor.is_staff:
            name = "site staff"
        else:
            name = "a sector maintainer or another client's admin"
        rows.append(AuditRow(event=event, actor_name=name))
    return rows
