"""Holds on queue images (ReviewLease): claiming, renewing, ending them.

The unique lease per image is what makes claims safe on every database: an insert that
meets a live lease of someone else's is dropped (``ON CONFLICT DO NOTHING``), and only the
rows carrying the claimer's own tokens are theirs. A hold expires (``REVIEW_LEASE_SECONDS``)
but stays its holder's until someone else claims the image.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from labelling.models import Client, ReviewLease
from labelling.services.review.cache import queue_heads


def lease_seconds() -> int:
    return settings.REVIEW_LEASE_SECONDS


def lease_expiry(now: datetime) -> datetime:
    return now + timedelta(seconds=lease_seconds())


def leases_renew(*, client: Client, reviewer, expires: datetime) -> int:
    """Push back the expiry of every hold ``reviewer`` has in ``client``; how many."""
    return ReviewLease.objects.filter(client=client, reviewer=reviewer).update(expires_at=expires)


def leases_claim(
    *, client: Client, reviewer, candidates, now, expires, expired: Iterable[int] | None = None
) -> list[int]:
    """Lease ``candidates`` ([(image id, status_changed_at)]) to ``reviewer``; returns the ids
    it got, in the order given. ``expired``: the candidates known to have an expired hold to
    take over (default: any)."""
    ids = [pk for pk, _ in candidates]
    takeover = ids if expired is None else [pk for pk in ids if pk in set(expired)]
    if takeover:
        ReviewLease.objects.filter(image_id__in=takeover, expires_at__lte=now).delete()
    leases = [
        ReviewLease(
            image_id=pk,
            client=client,
            reviewer=reviewer,
            token=uuid.uuid4(),
            image_changed_at=changed_at,
            claimed_at=now,
            expires_at=expires,
        )
        for pk, changed_at in candidates
    ]
    ReviewLease.objects.bulk_create(leases, ignore_conflicts=True)
    got = set(
        ReviewLease.objects.filter(token__in=[lease.token for lease in leases]).values_list(
            "image_id", flat=True
        )
    )
    return [pk for pk in ids if pk in got]


def leases_end(*, image_ids: Sequence[int], user, tokens: Sequence[uuid.UUID] | None) -> bool:
    """End the holds on decided images. With ``tokens`` (the queue), each must still be the
    one the decision quotes, held by ``user`` (a takeover since gave the image a new token):
    False when one was not. Without, a person's decision outside the queue wins and whoever
    held an image loses the hold."""
    if tokens is None:
        ReviewLease.objects.filter(image_id__in=image_ids).delete()
        return True
    mine = ReviewLease.objects.filter(reviewer=user, token__in=tokens, image_id__in=image_ids)
    deleted, _ = mine.delete()
    return deleted == len(image_ids)


def leases_hold_again(*, client: Client, reviewer, image_ids: Sequence[int], now) -> None:
    """Give ``reviewer`` fresh holds on images that came back to the queue (undone)."""
    expires = lease_expiry(now)
    ReviewLease.objects.bulk_create(
        [
            ReviewLease(
                image_id=pk,
                client=client,
                reviewer=reviewer,
                image_changed_at=now,
                claimed_at=now,
                expires_at=expires,
            )
            for pk in image_ids
        ]
    )


def review_release(*, client: Client, reviewer, tokens: Sequence[uuid.UUID] | None = None) -> int:
    """End the reviewer's holds in this client (all, or those named): the images go back to
    the queue at once instead of when the holds expire."""
    leases = ReviewLease.objects.filter(client=client, reviewer=reviewer)
    if tokens is not None:
        leases = leases.filter(token__in=list(tokens))
    deleted, _ = leases.delete()
    if deleted:
        queue_heads.forget(client)  # they are back in the queue, near its head
    return deleted


def review_leases_sweep(*, now=None) -> int:
    """Delete expired holds (a periodic task may call it; claims ignore them anyway)."""
    deleted, _ = ReviewLease.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
