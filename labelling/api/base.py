"""Shared pieces of the API: client resolution from the URL and role checks."""

from rest_framework import permissions
from rest_framework.exceptions import PermissionDenied

from labelling.tenancy import client_for_user_or_404


class ClientScopedMixin:
    """For views under /clients/<client_slug>/: resolves request.client and
    request.membership once, before anything else runs. A client the user is not a
    member of is a 404 (never a 403 that would confirm it exists)."""

    # Roles that may write (POST/PUT/PATCH/DELETE); every member may read.
    write_roles: tuple[str, ...] = ()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        client, membership = client_for_user_or_404(request.user, kwargs["client_slug"])
        request.client = client
        request.membership = membership
        if (
            request.method not in permissions.SAFE_METHODS
            and membership.role not in self.write_roles
        ):
            raise PermissionDenied(f"Your role ({membership.role}) cannot do this.")


class IsStaffOrReadOnly(permissions.BasePermission):
    """Sectors, taxonomies and labels are shared by every client of a sector: members read
    them, site staff change them."""

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or bool(request.user.is_staff)
