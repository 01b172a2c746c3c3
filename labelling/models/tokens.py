"""API tokens: each belongs to one user, has a name, expires, and can be revoked. Only a
SHA-256 digest of the key is stored; the key itself is shown once, when it is made."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

# What a key starts with, so that a leaked one is recognisable (secret scanners, logs).
KEY_PREFIX = "tx_"
# Characters of the key kept in clear, to tell one's tokens apart on the tokens page.
SHOWN_CHARS = 8


def token_digest(key: str) -> str:
    # Keys are 256 random bits, so a fast hash is enough: no dictionary to try them from.
    return hashlib.sha256(key.encode()).hexdigest()


def new_token_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True)
    shown = models.CharField(max_length=SHOWN_CHARS + len(KEY_PREFIX))
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.shown}…)"

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
