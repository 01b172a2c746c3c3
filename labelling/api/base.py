"""Shared pieces of the API: client resolution from the URL and role checks."""

from rest_framework import permissions

from labelling.models import Role
from labelling.tenancy import client_for_user


class ClientScopedMixin:
    """For views under /clients/<client_slug>/: resolves request.client and
    request.membership once, before anything else runs. A client the user is not a
    member of is a 404 (never a 403 that would confirm it exists)."""

    # Roles that may use the view at all, reads included (None: every member).
    roles: tuple[str, ...] | None = None
    # Roles that may write (POST/PUT/PATCH/DELETE), among those.
    write_roles: tuple[str, ...] = ()
    refusal = "cannot do this"  # the 403's words, after "Your role (…)"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        allowed = self.roles
        if request.method not in permissions.SAFE_METHODS:
            allowed = tuple(r for r in (allowed or Role.values) if r in self.write_roles)
        request.client, request.membership = client_for_user(
            request.user, kwargs["client_slug"], roles=allowed, refusal=self.refusal
        )


class IsStaffOrReadOnly(permissions.BasePermission):
    """Sectors, taxonomies and labels are shared by every client of a sector: members read
    them, site staff change them."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or bool(request.user.is_staff)
