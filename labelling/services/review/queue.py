"""Handing queue images to reviewers.

``review_next`` gives a reviewer the images they already hold (renewing the holds) and
claims more up to the count asked for. A claim picks candidates in queue order from the
queue's head (cached per process, see cache.py) that nobody holds, locks them with
``SELECT … FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL: two reviewers
claiming at once skip each other's rows instead of waiting or colliding), then leases them
(see leases.py). SQLite has no SKIP LOCKED (its writers queue for one lock instead), and on
PostgreSQL a candidate read just before another claim committed loses the insert and is
simply not handed out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, QuerySet
from django.utils import timezone

from labelling.models import Client, Image, ImageLabel, Prediction, ReviewLease
from labelling.selectors.queue import QueueFilters, labels_of, latest_predictions, review_queue
from labelling.services.review.cache import queue_heads
from labelling.services.review.leases import lease_expiry, leases_claim, leases_renew
from labelling.services.review.suggestions import is_multi_label, suggested_labels

CLAIM_SLACK = 8  # candidates read beyond those asked for, in case some were just taken
MAX_ITEMS = 100  # per call to next: a grid page and the one after it


@dataclass
class QueueItem:
    """An image handed to a reviewer, with what the page needs to show it."""

    image: Image
    lease: ReviewLease | None
    prediction: Prediction | None
    labels: list[ImageLabel]  # what it carries now (the model's tags, for auto-tagged ones)
    suggested: list[int]  # what "accept" means: the model's label(s)


def review_next(
    *,
    client: Client,
    reviewer,
    filters: QueueFilters,
    count: int,
    exclude: Iterable[int] = (),
    defer_refresh: bool = False,
) -> list[QueueItem]:
    """The images ``reviewer`` holds in this queue, then newly claimed ones, up to ``count``:
    calling it again returns the same holds (renewed) until they are answered or released.
    ``exclude``: images not to hand out (the ones the reviewer skipped). ``defer_refresh``:
    the caller will call review_windows_refresh_due() after answering (see cache.py)."""
    count = max(1, min(int(count), MAX_ITEMS))
    exclude = set(exclude)
    now = timezone.now()
    expires = lease_expiry(now)
    queue = review_queue(client, filters)
    window = queue_heads.get(client, filters, now=now, defer=defer_refresh)
    with transaction.atomic():
        renewed = leases_renew(client=client, reviewer=reviewer, expires=expires)
        held = _held(client, queue, reviewer, exclude=exclude, count=count) if renewed else []
        claimed: list[int] = []
        tried = set(held) | exclude
        refreshed = False
        for _attempt in range(5):
            need = count - len(held) - len(claimed)
            if need <= 0:
                break
            ids = [pk for pk in window if pk not in tried][: need + CLAIM_SLACK]
            if not ids:
                if refreshed:
                    break
                window, refreshed = queue_heads.refresh(client, filters, now=now), True
                continue
            tried.update(ids)
            leases = ReviewLease.objects.filter(image=OuterRef("pk"))
            free = (
                queue.filter(pk__in=ids)
                .exclude(Exists(leases.filter(expires_at__gt=now)))
                .annotate(expired=Exists(leases))
            )
            if connection.features.has_select_for_update_skip_locked:
                # Rows another reviewer is claiming right now are skipped, not waited for.
                free = free.select_for_update(skip_locked=True, of=("self",))
            # In the window's order, which is the queue's, or cold start's where it applies.
            place = {pk: n for n, pk in enumerate(ids)}
            rows = sorted(
                free.values_list("pk", "status_changed_at", "expired"), key=lambda r: place[r[0]]
            )
            claimed += leases_claim(
                client=client,
                reviewer=reviewer,
                candidates=[(pk, changed_at) for pk, changed_at, _ in rows[:need]],
                now=now,
                expires=expires,
                expired=[pk for pk, _, expired in rows[:need] if expired],
            )
            # Whatever was not free, and whatever was just claimed (by us or by someone who
            # beat us to it), is out of the window.
            free_ids = {pk for pk, _, _ in rows[need:]}
            queue_heads.discard(client, [pk for pk in ids if pk not in free_ids])
    return queue_items(client, held + claimed, reviewer=reviewer)


def _held(
    client: Client, queue: QuerySet[Image], reviewer, *, exclude: set[int], count: int
) -> list[int]:
    """The images of ``queue`` the reviewer holds and that have not changed since."""
    mine = ReviewLease.objects.filter(client=client, reviewer=reviewer).values("image_id")
    held = queue.filter(
        pk__in=mine,
        review_lease__reviewer=reviewer,
        review_lease__image_changed_at=F("status_changed_at"),
    )
    if exclude:
        held = held.exclude(pk__in=exclude)
    return list(held.values_list("pk", flat=True)[:count])


def queue_items(client: Client, ids: list[int], *, reviewer) -> list[QueueItem]:
    """The images ``ids`` of ``client`` as the reviewer is shown them, in the order given."""
    if not ids:
        return []
    images = Image.objects.filter(client=client, pk__in=ids).select_related("review_lease")
    by_id = {image.pk: image for image in images}
    predictions = latest_predictions(ids)
    labels = labels_of(ids)
    multi_label = is_multi_label(client.taxonomy)
    items = []
    for pk in ids:
        image = by_id.get(pk)
        if image is None:
            continue
        lease = getattr(image, "review_lease", None)
        items.append(
            QueueItem(
                image=image,
                lease=lease if lease is not None and lease.reviewer_id == reviewer.pk else None,
                prediction=predictions.get(pk),
                labels=labels.get(pk, []),
                suggested=suggested_labels(
                    predictions.get(pk), labels.get(pk, []), multi_label=multi_label
                ),
            )
        )
    return items
