"""Cold start: which unlabelled images to show first, and which to show together.

Before any model, the first labels teach the first model most when they cover the whole
collection rather than its commonest look (k-center greedy: each next image is the one
farthest from everything picked so far), and a person labels fastest when a page holds
similar images that mostly share one label (cluster labelling). Pure numpy, on stored
embeddings; cosine distance, since the backbone's pooled features vary in length.
"""

from __future__ import annotations

import numpy as np


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"embeddings must be (n, dim), got shape {X.shape}")
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norms > 0, norms, 1.0)


def k_center_order(X: np.ndarray) -> np.ndarray:
    """Every row's index, in k-center greedy order: first the row nearest the mean, then
    each time the row farthest from all rows already picked."""
    U = _unit(X)
    n = len(U)
    if n == 0:
        return np.empty(0, dtype=np.int64)
    centre = U.mean(axis=0)
    first = int(np.argmax(U @ centre))
    order = [first]
    nearest = 1.0 - U @ U[first]  # each row's distance to its nearest picked row
    nearest[first] = -np.inf
    for _ in range(n - 1):
        pick = int(np.argmax(nearest))
        order.append(pick)
        nearest = np.minimum(nearest, 1.0 - U @ U[pick])
        nearest[order] = -np.inf
    return np.asarray(order, dtype=np.int64)


def similar_groups(X: np.ndarray, *, size: int) -> list[np.ndarray]:
    """The rows in groups of at most ``size`` similar ones. Centres are the first picks of
    the k-center order, two for every ``size`` rows (so that two looks do not share one
    group), each row joins its nearest centre, and a group larger than ``size`` is cut,
    nearest the centre first. Groups come in their centres' order, so the first ones cover
    the collection."""
    if size < 1:
        raise ValueError("a group holds at least one image")
    U = _unit(X)
    n = len(U)
    if n == 0:
        return []
    centres = k_center_order(U)[: min(n, 2 * -(-n // size))]
    similarity = U @ U[centres].T
    nearest = similarity.argmax(axis=1)
    groups = []
    for rank in range(len(centres)):
        members = np.flatnonzero(nearest == rank)
        members = members[np.argsort(-similarity[members, rank], kind="stable")]
        groups += [members[i : i + size] for i in range(0, len(members), size)]
    return [g for g in groups if len(g)]
