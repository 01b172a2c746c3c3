"""Resolve the client once per request; every query starts from it.

Another client's object is a 404, never a 403: a 403 would confirm that it exists.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from labelling.models import Client, Membership, Role, Sector

SESSION_KEY = "current_client_id"


def client_for_user_or_404(user, slug: str) -> tuple[Client, Membership]:
    membership = (
        Membership.objects.select_related("client", "client__sector")
        .filter(user=user, client__slug=slug)
        .first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise Http404("No such client.")
    return membership.client, membership


def client_for_user(
    user, slug: str, *, roles: Iterable[str] | None = None, refusal: str = "cannot do this"
) -> tuple[Client, Membership]:
    """The client named by the URL's ``slug`` for ``user``, and their membership: what every
    page and API view goes through. Not a member: 404 (as if it did not exist). A member
    whose role is not in ``roles`` (default: any): 403, saying "Your role (…) <refusal>"."""
    client, membership = client_for_user_or_404(user, slug)
    if roles is not None and membership.role not in tuple(roles):
        raise PermissionDenied(f"Your role ({membership.role}) {refusal}.")
    return client, membership


def memberships_of(user) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("client", "client__sector"))


def has_role(membership: Membership | None, *roles: str) -> bool:
    return membership is not None and membership.role in roles


# Who may do what, in one place so pages and the API agree.
CAN_UPLOAD = (Role.ADMIN, Role.LIBRARIAN)
CAN_REVIEW = (Role.ADMIN, Role.REVIEWER)
CAN_MANAGE_CLIENT = (Role.ADMIN,)
# Correcting a tag already given, outside the queue (the queue's images are the reviewers').
CAN_CORRECT = (Role.ADMIN, Role.LIBRARIAN, Role.REVIEWER)


def client_for_admin_or_staff(user, slug: str, *, refusal: str) -> Client:
    """The client named by the URL for its admins, or for site staff (who need not be
    members): the pages about the sector a client belongs to."""
    if user.is_authenticated and user.is_staff:
        client = Client.objects.select_related("sector").filter(slug=slug).first()
        if client is None:
            raise Http404("No such client.")
        return client
    client, _membership = client_for_user(user, slug, roles=CAN_MANAGE_CLIENT, refusal=refusal)
    return client


def client_for_admin_or_maintainer(user, slug: str, *, refusal: str) -> Client:
    """The client named by the URL for its admins, or for a maintainer of its sector (site
    staff, or one of the sector's listed maintainers; they need not be members): the pages
    about the sector's shared model. Anyone else: as ``client_for_user`` (404 for a stranger,
    403 for a member whose role is not admin)."""
    if user.is_authenticated:
        client = Client.objects.select_related("sector").filter(slug=slug).first()
        if client is not None and client.sector.is_maintained_by(user):
            return client
    client, _membership = client_for_user(user, slug, roles=CAN_MANAGE_CLIENT, refusal=refusal)
    return client


@dataclass(frozen=True)
class TaxonomyAccess:
    """Who may do what on a sector's taxonomy editor: its maintainers (site staff, or the
    sector's maintainer role) change the labels; a client's admins, their client's names."""

    sector: Sector
    can_edit: bool
    name_clients: list[Client]  # whose names this user may change
    member_of: frozenset[int]  # client ids the user belongs to (their images may be shown)


def taxonomy_access(user, sector_slug: str) -> TaxonomyAccess:
    """404 for a user with nothing to do with the sector (as if it did not exist); 403 for
    a member of one of its clients whose role is not admin."""
    sector = Sector.objects.filter(slug=sector_slug).first() if user.is_authenticated else None
    if sector is None:
        raise Http404("No such sector.")
    memberships = list(
        Membership.objects.filter(user=user, client__sector=sector).select_related("client")
    )
    can_edit = sector.is_maintained_by(user)
    if user.is_staff:
        name_clients = list(sector.clients.order_by("name"))
    else:
        name_clients = [m.client for m in memberships if m.role in CAN_MANAGE_CLIENT]
    if not can_edit and not name_clients:
        if memberships:
            raise PermissionDenied(
                f"Your role ({memberships[0].role}) cannot see the taxonomy editor (admins do)."
            )
        raise Http404("No such sector.")
    return TaxonomyAccess(
        sector=sector,
        can_edit=can_edit,
        name_clients=name_clients,
        member_of=frozenset(m.client_id for m in memberships),
    )


def is_sector_maintainer(user, sector) -> bool:
    """Whether ``user`` maintains ``sector``'s taxonomy and shared model (trains, promotes,
    forces and rolls back its versions): site staff, or one of the sector's maintainers."""
    return bool(getattr(user, "is_authenticated", False)) and sector.is_maintained_by(user)


def person_shown(person, *, client: Client, viewer) -> str:
    """How a page of ``client`` names the person who did something to a shared model: by
    username to a maintainer or when the person belongs to the client; else by role only, so
    that no client sees another client's people."""
    if person is None:
        return "the system"
    if is_sector_maintainer(viewer, client.sector) or person.pk == getattr(viewer, "pk", None):
        return person.username
    if Membership.objects.filter(user=person, client=client).exists():
        return person.username
    if is_sector_maintainer(person, client.sector):
        return "a sector maintainer"
    return "another client's admin"


def new_label_access(user, slug: str) -> tuple[Client, bool]:
    """The client named by the URL for the page of its images that fit no label, and
    whether ``user`` may add labels from it. The page shows the client's images, so it is
    for the client's members only (as the taxonomy editor shows images only to members):
    its admins see it; a member who maintains the sector (site staff, or one of its listed
    maintainers) sees it and adds labels, as in the taxonomy editor. Not a member: 404;
    any other role: 403."""
    client, membership = client_for_user_or_404(user, slug)
    can_create = client.sector.is_maintained_by(user)
    if membership.role not in CAN_MANAGE_CLIENT and not can_create:
        raise PermissionDenied(
            f"Your role ({membership.role}) cannot see the images that fit no label "
            "(admins and the sector's maintainers do)."
        )
    return client, can_create
