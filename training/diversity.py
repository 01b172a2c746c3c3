"""Cold start: which unlabelled images to show first, and which to show together.

Before any model, the first labels teach the first model most when they cover the whole
collection rather than its commonest look (k-center greedy: each next image is the one
farthest from everything picked so far), and a person labels fastest when a page holds
similar images that mostly share one label (cluster labelling). Pure numpy, on stored
embeddings; cosine distance, since the backbone's pooled features vary in length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"embeddings must be (n, dim), got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def k_center_order(X: np.ndarray, *, limit: int | None = None) -> np.ndarray:
    """Row indices in k-center greedy order: first the row nearest the mean, then each time
    the row farthest from all rows already picked. ``limit``: only that many first picks
    (each pick costs a pass over every row)."""
    # float32: each pick is a pass over every row, and a pass over thousands of
    # 3,008-value rows is bound by memory; cosine distances need no more precision.
    U = _unit(X).astype(np.float32)
    n = len(U)
    count = n if limit is None else max(0, min(int(limit), n))
    if count == 0:
        return np.empty(0, dtype=np.int64)
    centre = U.mean(axis=0)
    first = int(np.argmax(U @ centre))
    order = [first]
    nearest = 1.0 - U @ U[first]  # each row's distance to its nearest picked row
    nearest[first] = -np.inf
    for _ in range(count - 1):
        pick = int(np.argmax(nearest))
        order.append(pick)
        # Picked rows stay at -inf: min() keeps them there, only the new pick is set.
        np.minimum(nearest, 1.0 - U @ U[pick], out=nearest)
        nearest[pick] = -np.inf
    return np.asarray(order, dtype=np.int64)


def _centre_count(n: int, size: int) -> int:
    # Two centres for every ``size`` rows, so that two looks do not share one group.
    if size < 1:
        raise ValueError("a group holds at least one image")
    return min(n, 2 * -(-n // size))


def _members(similarity: np.ndarray, n_centres: int) -> list[np.ndarray]:
    # Each row joins its nearest centre; a cluster lists its rows nearest first.
    nearest = similarity.argmax(axis=1)
    clusters = []
    for rank in range(n_centres):
        members = np.flatnonzero(nearest == rank)
        clusters.append(members[np.argsort(-similarity[members, rank], kind="stable")])
    return clusters


@dataclass(frozen=True)
class Clustering:
    """Clusters with what it takes to place newcomers among them later."""

    clusters: list[np.ndarray]  # row indices, one array per centre, in the centres' order
    centres: np.ndarray  # (k, dim) float32 unit vectors of the centres
    radius: float  # the farthest any row was from its nearest centre (cosine distance)


def form_clusters(X: np.ndarray, *, size: int) -> Clustering:
    """``similar_clusters`` (empty clusters included, one per centre), with the centres and
    the radius they cover, for ``extend_clusters``."""
    centres_needed = _centre_count(len(X), size)
    U = _unit(X)
    if len(U) == 0:
        return Clustering([], np.empty((0, U.shape[1]), dtype=np.float32), 0.0)
    centres = k_center_order(U, limit=centres_needed)
    similarity = U @ U[centres].T
    radius = float(1.0 - similarity.max(axis=1).min())
    return Clustering(_members(similarity, len(centres)), U[centres].astype(np.float32), radius)


def similar_clusters(X: np.ndarray, *, size: int) -> list[np.ndarray]:
    """The rows around the first picks of the k-center order, two centres for every
    ``size`` rows (so that two looks do not share one group): each row joins its nearest
    centre, nearest first, and clusters come in their centres' order."""
    return [c for c in form_clusters(X, size=size).clusters if len(c)]


@dataclass(frozen=True)
class Extension:
    """Where newcomers go among an existing clustering's centres."""

    new_centres: np.ndarray  # newcomer rows that became centres of new looks, in pick order
    clusters: list[np.ndarray]  # per centre (the old ones, then the new), newcomer rows
    centres: np.ndarray  # every centre's unit vector, old then new


def extend_clusters(
    centres: np.ndarray, radius: float, X_new: np.ndarray, *, size: int
) -> Extension:
    """Place newcomers without forming the clusters again: a newcomer within ``radius`` of
    a centre joins the nearest; the k-center order goes on over the others (each next
    centre the newcomer farthest from every centre so far) while any is farther than the
    radius the clusters were formed to, at most two new centres for every ``size``
    newcomers. Each newcomer then joins its nearest centre, old or new, nearest first."""
    U = _unit(X_new).astype(np.float32)
    n = len(U)
    centres = np.asarray(centres, dtype=np.float32).reshape(-1, U.shape[1])
    if n == 0:
        return Extension(
            np.empty(0, dtype=np.int64), [np.empty(0, dtype=np.int64)] * len(centres), centres
        )
    nearest = 1.0 - (U @ centres.T).max(axis=1) if len(centres) else np.full(n, np.inf, np.float32)
    picks: list[int] = []
    most = _centre_count(n, size)
    while len(picks) < most:
        pick = int(np.argmax(nearest))
        if nearest[pick] <= radius:
            break
        picks.append(pick)
        np.minimum(nearest, 1.0 - U @ U[pick], out=nearest)
        nearest[pick] = -np.inf
    every = np.concatenate([centres, U[picks]]) if picks else centres
    similarity = U @ every.T
    return Extension(np.asarray(picks, dtype=np.int64), _members(similarity, len(every)), every)


def cut_into_groups(clusters: list[np.ndarray], *, size: int) -> list[np.ndarray]:
    """Each cluster in groups of at most ``size``, nearest its centre first."""
    return [c[i : i + size] for c in clusters for i in range(0, len(c), size)]


def similar_groups(X: np.ndarray, *, size: int) -> list[np.ndarray]:
    """The rows in groups of at most ``size`` similar ones (``similar_clusters`` cut to
    size). Groups come in their centres' order, so the first ones cover the collection."""
    return cut_into_groups(similar_clusters(X, size=size), size=size)


def round_robin(groups: list[np.ndarray]) -> np.ndarray:
    """The rows one at a time across ``groups``: every group's first, then every group's
    second, and so on. Over ``similar_clusters``, the first rows are the k-center picks in
    their order, and single images in this order cover the collection before a look
    repeats."""
    longest = max((len(g) for g in groups), default=0)
    rows = [g[r] for r in range(longest) for g in groups if r < len(g)]
    return np.asarray(rows, dtype=np.int64)
