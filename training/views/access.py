"""Who may open and change the model pages: the client named by the URL, its sector's
maintainers, its admins; and the small helpers every model page shares."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from labelling.models import Client, Membership, Taxonomy
from labelling.tenancy import (
    CAN_MANAGE_CLIENT,
    SESSION_KEY,
    client_for_admin_or_maintainer,
    is_sector_maintainer,
    memberships_of,
)
from training.models import ClientModelSettings, ModelVersion
from training.selectors import affected_clients
from training.services.policy import policy_for_client


def client_scope(request: HttpRequest, client_slug: str) -> tuple[Client, Taxonomy]:
    client = client_for_admin_or_maintainer(
        request.user,
        client_slug,
        refusal="does not manage this sector's models (admins do)",
    )
    taxonomy = client.taxonomy
    if taxonomy is None:
        raise Http404(f"The {client.sector.name} sector has no taxonomy yet.")
    return client, taxonomy


def require_maintainer(request: HttpRequest, client: Client) -> None:
    """What changes the sector's shared model for every client of the sector is for its
    maintainers only (403 for a client's admin, who may ask for retraining)."""
    if not is_sector_maintainer(request.user, client.sector):
        raise PermissionDenied(
            f"Only the {client.sector.name} sector's maintainers promote and roll back its "
            "shared model and set its retraining policy; a client's admin can ask for retraining."
        )


def maintainer_scope(request: HttpRequest, client_slug: str) -> tuple[Client, Taxonomy]:
    client, taxonomy = client_scope(request, client_slug)
    require_maintainer(request, client)
    return client, taxonomy


def is_client_admin(user, client: Client) -> bool:
    return Membership.objects.filter(user=user, client=client, role__in=CAN_MANAGE_CLIENT).exists()


def client_admin_scope(request: HttpRequest, client_slug: str) -> tuple[Client, Taxonomy]:
    """What is the client's own choice (its auto-accept target, its consent) is for its
    admins: a maintainer who is not one of them sees it but does not change it (403)."""
    client, taxonomy = client_scope(request, client_slug)
    if not is_client_admin(request.user, client):
        raise PermissionDenied(
            f"{client.name}'s own target and consent are its admins' choice; "
            "a sector maintainer who is not one of them cannot change them."
        )
    return client, taxonomy


def version_or_404(taxonomy: Taxonomy, version_id) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.filter(taxonomy=taxonomy), pk=version_id)


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# What the live curves draw of each finished epoch (the run stores the whole Keras log).


def confirm_page(request: HttpRequest, client: Client, **context) -> HttpResponse:
    """The page that asks before the shared model changes for every client of the sector,
    saying who it touches; its button posts the same form again with confirm=yes."""
    return render(
        request,
        "training/confirm.html",
        {"client": client, "affected": affected_clients(client), **context},
    )


def current_client_slug(request: HttpRequest) -> str | None:
    """The client the old addresses meant: the one chosen in the switcher, else the user's
    only client. None when neither says which."""
    memberships = memberships_of(request.user)
    wanted = request.session.get(SESSION_KEY)
    chosen = next((m for m in memberships if m.client_id == wanted), None)
    if chosen is None and len(memberships) == 1:
        chosen = memberships[0]
    return chosen.client.slug if chosen is not None else None


def client_policy(version: ModelVersion, own: ClientModelSettings) -> dict:
    """The thresholds ``version`` uses for this client (its own target, if it set one)."""
    try:
        return policy_for_client(version, own if own.pk else None)
    except ValueError:
        return version.policy or {}
