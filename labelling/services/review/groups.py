"""Cluster labelling at cold start: before the taxonomy has a model, grid mode offers a
reviewer a group of similar waiting images (``training.services.cold_start``), held for
them like any grid page, and one label for the ones they kept.

A group the reviewer already holds part of (the page was reloaded) comes first, else the
first group with images nobody else holds; only a group's free images are claimed, so two
reviewers never get the same image. Labelling a group
needs the reviewer's hold on each image sent; the deselected ones stay waiting and their
holds end, so another group (or someone else) can take them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from labelling.models import Client, Image, ImageStatus, Review, ReviewLease
from labelling.services.review.conflicts import ReviewConflict
from labelling.services.review.decisions import MAX_DECISIONS, images_label_group
from labelling.services.review.leases import lease_expiry, leases_claim, leases_renew
from labelling.services.review.queue import QueueItem, queue_items
from training.services.cold_start import cold_start_groups


def review_group_next(
    *, client: Client, reviewer, size: int, exclude: Iterable[int] = ()
) -> list[QueueItem]:
    """The next group of similar unpredicted images for ``reviewer``, held for them (at
    most ``size``; ``exclude``: images they set aside). Empty once the taxonomy has a model
    or when every group is held by others."""
    exclude = set(exclude)
    groups = [
        [pk for pk in group if pk not in exclude]
        for group in cold_start_groups(client=client, size=size)
    ]
    groups = [group for group in groups if group]
    if not groups:
        return []
    now = timezone.now()
    expires = lease_expiry(now)
    with transaction.atomic():
        leases_renew(client=client, reviewer=reviewer, expires=expires)
        mine = set(
            ReviewLease.objects.filter(client=client, reviewer=reviewer).values_list(
                "image_id", flat=True
            )
        )
        # A group the reviewer already holds part of comes first (a reload, a second tab).
        groups.sort(key=lambda group: not any(pk in mine for pk in group))
        for group in groups:
            held = [pk for pk in group if pk in mine]
            taken = set(
                ReviewLease.objects.filter(image_id__in=group, expires_at__gt=now).values_list(
                    "image_id", flat=True
                )
            )
            free = dict(
                Image.objects.filter(
                    client=client,
                    pk__in=[pk for pk in group if pk not in taken],
                    status=ImageStatus.NEEDS_REVIEW,
                ).values_list("pk", "status_changed_at")
            )
            candidates = [(pk, free[pk]) for pk in group if pk in free]
            got = set(held)
            if candidates:
                got.update(
                    leases_claim(
                        client=client,
                        reviewer=reviewer,
                        candidates=candidates,
                        now=now,
                        expires=expires,
                    )
                )
            if got:
                return queue_items(client, [pk for pk in group if pk in got], reviewer=reviewer)
    return []


def review_group_label(
    *, client: Client, reviewer, image_ids: Sequence[int], label: int, released: Sequence[int] = ()
) -> list[Review]:
    """Give ``label`` to the group's kept images (all or none) and end the holds on the
    ``released`` (deselected) ones, which stay waiting. Every image must be the client's,
    waiting for review and held by ``reviewer``."""
    ids = list(image_ids)
    if not ids:
        raise ValidationError("Select at least one image to label.")
    if len(ids) > MAX_DECISIONS:
        raise ValidationError(f"At most {MAX_DECISIONS} images at a time.")
    if len(set(ids)) != len(ids):
        raise ValidationError("An image appears twice in one group.")
    images = {
        image.pk: image
        for image in Image.objects.filter(client=client, pk__in=ids).select_related("review_lease")
    }
    missing = [pk for pk in ids if pk not in images]
    if missing:
        raise ValidationError(f"No image {missing[0]} in this client.")
    waiting_not = [pk for pk in ids if images[pk].status != ImageStatus.NEEDS_REVIEW]
    if waiting_not:
        raise ValidationError(f"Image {waiting_not[0]} no longer waits for review.")
    conflicts = []
    for pk in ids:
        lease = getattr(images[pk], "review_lease", None)
        if lease is None or lease.reviewer_id != reviewer.pk:
            conflicts.append(
                {
                    "image": pk,
                    "code": "no_lease",
                    "message": f"Image {pk} is not held for you; fetch the group again.",
                }
            )
    if conflicts:
        raise ReviewConflict(conflicts)
    reviews = images_label_group(client=client, user=reviewer, image_ids=ids, label=label)
    if released:
        ReviewLease.objects.filter(
            client=client, reviewer=reviewer, image_id__in=[pk for pk in released if pk not in ids]
        ).delete()
    return reviews
