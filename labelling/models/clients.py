"""Clients (organisations), their members' roles and their own words for labels."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models


class ClientQuerySet(models.QuerySet):
    def for_user(self, user):
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user).distinct()


class Client(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    sector = models.ForeignKey("labelling.Sector", on_delete=models.PROTECT, related_name="clients")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClientQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def taxonomy(self):
        """The taxonomy this client's images are tagged with: its sector's first one.
        (A sector normally has one; more are kept for drafting a new one.)"""
        return self.sector.taxonomies.order_by("created_at", "id").first()

    def role_of(self, user) -> str | None:
        membership = self.memberships.filter(user=user).only("role").first()
        return membership.role if membership else None

    def display_names(self) -> dict[int, str]:
        """label id → the name this client uses for it."""
        return dict(self.label_names.values_list("label_id", "name"))


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    LIBRARIAN = "librarian", "Librarian"
    REVIEWER = "reviewer", "Reviewer"


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["client__name"]
        constraints = [
            models.UniqueConstraint(fields=["user", "client"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} – {self.client} ({self.role})"


class ClientLabelName(models.Model):
    """A client's own words for a sector label ("Happy students" for ``smiling``)."""

    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="label_names")
    label = models.ForeignKey("labelling.Label", on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)

    class Meta:
        ordering = ["client_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["client", "label"], name="client_label_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.client}: {self.label.key} → {self.name}"

    def clean(self) -> None:
        if self.label.taxonomy.sector_id != self.client.sector_id:
            raise ValidationError({"label": "This label belongs to another sector's taxonomy."})
