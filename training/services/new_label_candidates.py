"""Candidates for new labels: a client's images that fit no label of the taxonomy, grouped
by their stored embeddings (``training.new_label_clusters``) in a worker, and read back by
the page that offers each group as a new label.

The grouping is stored per client. Images labelled since it ran drop out of its groups (the
rest of each group is still a group); a page that finds images it does not cover (said to
fit no label since) lists them as not grouped yet and asks for another grouping
(``no_label_grouping_request``), at most once per ``REQUEST_AGAIN_AFTER`` while the worker
has not answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from labelling.models import Client
from labelling.selectors.no_label import no_label_image_ids
from training.embedding_store import from_bytes
from training.models import ImageEmbedding, NoLabelGrouping
from training.tasks import group_no_label

REQUEST_AGAIN_AFTER = timedelta(minutes=5)


@dataclass
class Candidates:
    groups: list[list[int]] = field(default_factory=list)  # largest first
    without_embedding: list[int] = field(default_factory=list)
    not_grouped_yet: list[int] = field(default_factory=list)  # decided since the grouping
    total: int = 0
    computed_at: object = None
    up_to_date: bool = True


def no_label_candidates(*, client: Client) -> Candidates:
    """What the page shows: the stored groups, restricted to the images that still fit no
    label. Asks for a new grouping when the stored one is missing or out of date."""
    ids = no_label_image_ids(client)
    current = set(ids)
    grouping = NoLabelGrouping.objects.filter(client=client).first()
    stored_groups = grouping.groups if grouping is not None else []
    groups = [[pk for pk in group if pk in current] for group in stored_groups]
    groups = sorted((g for g in groups if g), key=lambda g: -len(g))
    seen = {pk for group in groups for pk in group}
    apart = set(grouping.apart) if grouping is not None else set()
    without_embedding = [pk for pk in ids if pk not in seen and pk in apart]
    not_grouped_yet = [pk for pk in ids if pk not in seen and pk not in apart]
    if not_grouped_yet:
        no_label_grouping_request(client=client)
    return Candidates(
        groups=groups,
        without_embedding=without_embedding,
        not_grouped_yet=not_grouped_yet,
        total=len(ids),
        computed_at=grouping.computed_at if grouping is not None else None,
        up_to_date=not not_grouped_yet,
    )


def no_label_grouping_request(*, client: Client) -> bool:
    """Queue a grouping of the client's no-label images unless one was asked for a short
    while ago and has not run yet. True when one was queued."""
    now = timezone.now()
    grouping, _ = NoLabelGrouping.objects.get_or_create(client=client)
    # One conditional update decides between two pages asking at once.
    claimed = (
        NoLabelGrouping.objects.filter(pk=grouping.pk)
        .filter(
            Q(requested_at__isnull=True)
            | Q(requested_at__lt=now - REQUEST_AGAIN_AFTER)
            | Q(computed_at__gte=F("requested_at"))
        )
        .update(requested_at=now)
    )
    if claimed:
        transaction.on_commit(lambda: group_no_label.delay(client.pk))
    return bool(claimed)


def no_label_grouping_compute(*, client: Client) -> NoLabelGrouping:
    """Group the client's images that fit no label by their stored embeddings (in the
    worker). The embeddings are of the kind most of them have; the others are kept apart."""
    from training.new_label_clusters import cluster_candidates

    ids = no_label_image_ids(client)
    key = (
        ImageEmbedding.objects.filter(image_id__in=ids)
        .values("key")
        .annotate(n=Count("id"))
        .order_by("-n", "key")
        .values_list("key", flat=True)
        .first()
    ) or ""
    vectors = {
        image_id: from_bytes(vector, dim)
        for image_id, vector, dim in ImageEmbedding.objects.filter(image_id__in=ids, key=key)
        .values_list("image_id", "vector", "dim")
        .iterator()
    }
    embedded = [pk for pk in ids if pk in vectors]
    groups, silhouette = [], None
    if embedded:
        rows, silhouette = cluster_candidates(np.stack([vectors[pk] for pk in embedded]))
        groups = [[embedded[i] for i in group] for group in rows]
    grouping, _ = NoLabelGrouping.objects.get_or_create(client=client)
    grouping.embedding_key = key
    grouping.groups = groups
    grouping.apart = [pk for pk in ids if pk not in vectors]
    grouping.silhouette = silhouette
    grouping.computed_at = timezone.now()
    grouping.save(
        update_fields=[
            "embedding_key",
            "groups",
            "apart",
            "silhouette",
            "computed_at",
        ]
    )
    return grouping
