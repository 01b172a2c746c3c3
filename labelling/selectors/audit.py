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
    """Who acted, as the viewer may know it (as ``tenancy.person_shown`` names people, in
    three queries for the page): no client sees another client's people, so someone outside
    the viewer's client is named by role; the sector's maintainers and staff see names."""
    events = list(events)
    actor_ids = {e.actor_id for e in events if e.actor_id is not None}
    maintainers = set(
        client.sector.maintainers.filter(pk__in=actor_ids | {user.pk}).values_list("pk", flat=True)
    )
    sees_all = user.is_staff or user.pk in maintainers
    members = set(
        Membership.objects.filter(client=client, user_id__in=actor_ids).values_list(
            "user_id", flat=True
        )
    )
    rows = []
    for event in events:
        actor = event.actor
        if actor is None:
            name = "the system"
        elif sees_all or actor.pk in members or actor.pk == user.pk:
            name = actor.get_username()
        elif actor.is_staff:
            name = "site staff"
        elif actor.pk in maintainers:
            name = "a sector maintainer"
        else:
            name = "another client's admin"
        rows.append(AuditRow(event=event, actor_name=name))
    return rows
