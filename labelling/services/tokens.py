"""Making, using and revoking API tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labelling.models.tokens import SHOWN_CHARS, ApiToken, new_token_key, token_digest

# How often a token's "last used" is written: once a minute is enough to show, and saves a
# write on every API request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass
class NewToken:
    token: ApiToken
    key: str  # shown to its owner once; only its digest is stored


def token_create(*, user, name: str, expires_in_days: int | None = None) -> NewToken:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": ["Name the token (what will use it)."]})
    if len(name) > 100:
        raise ValidationError({"name": ["At most 100 characters."]})
    days = settings.API_TOKEN_DAYS if expires_in_days is None else expires_in_days
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise ValidationError(
            {"expires_in_days": [f"Between 1 and {settings.API_TOKEN_MAX_DAYS} days."]}
        )
    key = new_token_key()
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        digest=token_digest(key),
        shown=key[: len("tx_") + SHOWN_CHARS],
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return NewToken(token=token, key=key)


def token_authenticate(*, key: str) -> ApiToken | None:
    """The usable token with this key (its user loaded), or None; notes when it was used."""
    token = (
        ApiToken.objects.usable()
        .select_related("user")
        .filter(digest=token_digest(key), user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


@transaction.atomic
def token_revoke(*, user, token_id: int) -> ApiToken:
    """Revokes one of the user's own tokens; another user's token is not found."""
    token = ApiToken.objects.select_for_update().get(user=user, pk=token_id)
    token.revoke()
    return token
