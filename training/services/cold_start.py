"""Cold start: before a taxonomy has any model, the review queue offers its unlabelled
images in groups of similar ones, the groups' first images spread over the whole collection
(``training.diversity``), so that a person labels a page at a time and the first model,
which trains once every label has a few verified images, learns from varied examples."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from labelling.models import Client, Image, ImageStatus
from training.backbones import embedding_key, get_spec
from training.diversity import cut_into_groups, extend_clusters, form_clusters, round_robin
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
    ids: frozenset[int]  # the waiting images it covers
    groups: list[list[int]]
    order: list[int]
    centres: np.ndarray  # its clusters' centres (unit vectors), to place newcomers by
    radius: float  # how far from its centre any image it was formed over lay
    formed_over: int  # how many images it was formed over (not merely placed)

    def without(self, gone: set[int]) -> _Plan:
        groups = [[pk for pk in g if pk not in gone] for g in self.groups]
        return dataclasses.replace(
            self,
            ids=self.ids - gone,
            groups=[g for g in groups if g],
            order=[pk for pk in self.order if pk not in gone],
        )

    def with_newcomers(self, ids: list[int], X: np.ndarray, *, size: int) -> _Plan:
        """Newcomers placed among the plan's looks without forming it again: the groups a
        reviewer may be working stay as they are. A newcomer of a look the plan has joins
        new groups after the plan's; newcomers of a new look (farther from every centre
        than the plan's radius) make groups of their own, first, and their first images
        lead single mode's order, as the k-center order would have put them."""
        placed = extend_clusters(self.centres, self.radius, X, size=size)
        old = len(self.centres)
        clusters = [[ids[i] for i in c] for c in placed.clusters]
        new_looks = [c for c in clusters[old:] if c]
        known = [c for c in clusters[:old] if c]
        groups = [list(g) for g in cut_into_groups(new_looks + known, size=size)]
        n_new_groups = sum(-(-len(c) // size) for c in new_looks)
        leaders = [c[0] for c in new_looks]
        led = set(leaders)
        rest = [int(pk) for pk in round_robin(new_looks + known) if pk not in led]
        return dataclasses.replace(
            self,
            ids=self.ids | set(ids),
            groups=groups[:n_new_groups] + self.groups + groups[n_new_groups:],
            order=leaders + self.order + rest,
            centres=placed.centres,
        )


# Forming the groups reads every waiting image's embedding and runs the k-center order
# over them: seconds with thousands waiting, and the review page asks every few seconds
# (each ask renews a reviewer's holds). So each process keeps the last plan per client and
# size, and reuses it: images that left (labelled, predicted) are only dropped from it, and
# newcomers are placed among its centres (_Plan.with_newcomers), so the groups a reviewer
# sees do not reshuffle and an upload during a review session costs a pass over the
# newcomers, not over everything waiting.
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
    if cached is not None:
        gone = cached.ids - now
        plan = cached.without(gone) if gone else cached
        newcomers = [pk for pk in waiting if pk not in cached.ids]
        # Newcomers join the kept plan (a batch arriving while people review) until it holds
        # twice the images it was formed over; beyond that its centres speak for too small
        # a part of the collection, and it is formed anew.
        if newcomers and len(plan.ids) + len(newcomers) <= 2 * plan.formed_over:
            vectors = stored_embeddings(newcomers, backbone, embedding)
            ids = [pk for pk in newcomers if pk in vectors]
            if ids:
                X = np.stack([vectors[pk] for pk in ids])
                plan = plan.with_newcomers(ids, X, size=size)
        elif newcomers:
            plan = None
    else:
        plan = None
    if plan is None:
        vectors = stored_embeddings(waiting, backbone, embedding)
        ids = [pk for pk in waiting if pk in vectors]
        X = np.stack([vectors[pk] for pk in ids])
        formed = form_clusters(X, size=size)
        clusters = [c for c in formed.clusters if len(c)]
        plan = _Plan(
            ids=frozenset(ids),
            groups=[[ids[i] for i in g] for g in cut_into_groups(clusters, size=size)],
            order=[ids[i] for i in round_robin(clusters)],
            centres=formed.centres,
            radius=formed.radius,
            formed_over=len(ids),
        )
    with _plans_lock:
        _plans[key] = plan
    return plan
