"""Cold start: before a taxonomy has any model, the review queue offers its unlabelled
images in groups of similar ones, the groups' first images spread over the whole collection
(``training.diversity``), so that a person labels a page at a time and the first model,
which trains once every label has a few verified images, learns from varied examples."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from labelling.models import Client, Image, ImageStatus
from training.backbones import embedding_key, get_spec
from training.diversity import cut_into_groups, round_robin, similar_clusters
from training.embedding_store import embeddings_ensure, stored_embeddings
from training.models import ImageEmbedding
from training.selectors import active_version


def _kind() -> tuple[str, str]:
    # What the first model will train on, so that the work is not done twice.
    backbone = settings.DEFAULT_BACKBONE
    return backbone, get_spec(backbone).default_embedding


def cold_start_embed(*, image_ids: Sequence[int]) -> None:
    """Embed (and store) images that arrive before any model (in the ingest worker)."""
    backbone, embedding = _kind()
    embeddings_ensure(list(Image.objects.filter(pk__in=list(image_ids))), backbone, embedding)


def _waiting(client: Client):
    return Image.objects.filter(
        client=client, status=ImageStatus.NEEDS_REVIEW, predictions__isnull=True
    )


def cold_start_pending(*, client: Client) -> bool:
    """Whether cold_start_groups would offer anything, without forming the groups (the
    review page asks on every load)."""
    taxonomy = client.taxonomy
    if taxonomy is None or active_version(taxonomy) is not None:
        return False
    backbone, embedding = _kind()
    return ImageEmbedding.objects.filter(
        image__in=_waiting(client), key=embedding_key(backbone, embedding)
    ).exists()


def cold_start_groups(*, client: Client, size: int) -> list[list[int]]:
    """The client's images waiting for a person that no model has seen, with a stored
    embedding, as groups of at most ``size`` similar ones in the order to show them. Empty
    once the taxonomy has an active model (its predictions order the queue then)."""
    plan = _plan(client, size)
    return [] if plan is None else plan.groups


def cold_start_order(*, client: Client, image_ids: Sequence[int]) -> list[int]:
    """``image_ids`` (a queue, in its order) with the images cold start knows about put in
    its diverse order, in the places they held: before any model, single mode then shows
    one image of every look (the k-center picks that head the groups) before a second of
    any. Unchanged once the taxonomy has a model, or for images without an embedding."""
    ids = list(image_ids)
    plan = _plan(client, SINGLE_ORDER_GROUP_SIZE)
    if plan is None:
        return ids
    given = set(ids)
    diverse = iter([pk for pk in plan.order if pk in given])
    planned = given & set(plan.order)
    return [next(diverse) if pk in planned else pk for pk in ids]


# Single mode's order is the round robin over the clusters grid mode's pages would have.
SINGLE_ORDER_GROUP_SIZE = 24


@dataclass(frozen=True)
class _Plan:
    ids: frozenset[int]  # the waiting images it was formed over
    groups: list[list[int]]
    order: list[int]

    def without(self, gone: set[int], waiting: list[int]) -> _Plan:
        groups = [[pk for pk in g if pk not in gone] for g in self.groups]
        return _Plan(
            ids=frozenset(waiting),
            groups=[g for g in groups if g],
            order=[pk for pk in self.order if pk not in gone],
        )


# Forming the groups reads every waiting image's embedding and runs the k-center order
# over them: seconds with thousands waiting, and the review page asks every few seconds
# (each ask renews a reviewer's holds). So each process keeps the last plan per client and
# size, and reuses it while no new image has come to wait: images that left (labelled,
# predicted) are only dropped from it, so the groups a reviewer sees do not reshuffle.
_plans: dict[tuple, _Plan] = {}
_plans_lock = threading.Lock()


def cold_start_plans_clear() -> None:
    """Forget this process's plans (ids repeat across tests)."""
    with _plans_lock:
        _plans.clear()


def _plan(client: Client, size: int) -> _Plan | None:
    taxonomy = client.taxonomy
    if taxonomy is None or active_version(taxonomy) is not None:
        return None
    backbone, embedding = _kind()
    key_name = embedding_key(backbone, embedding)
    waiting = list(
        _waiting(client)
        .filter(embeddings__key=key_name)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not waiting:
        return None
    key = (client.pk, client.created_at, taxonomy.pk, key_name, size)
    with _plans_lock:
        cached = _plans.get(key)
    now = set(waiting)
    if cached is not None and now <= cached.ids:
        plan = cached if now == cached.ids else cached.without(cached.ids - now, waiting)
    else:
        vectors = stored_embeddings(waiting, backbone, embedding)
        ids = [pk for pk in waiting if pk in vectors]
        X = np.stack([vectors[pk] for pk in ids])
        clusters = similar_clusters(X, size=size)
        plan = _Plan(
            ids=frozenset(ids),
            groups=[[ids[i] for i in g] for g in cut_into_groups(clusters, size=size)],
            order=[ids[i] for i in round_robin(clusters)],
        )
    with _plans_lock:
        _plans[key] = plan
    return plan
