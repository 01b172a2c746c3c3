"""Candidates for a new label: images that people said fit no label of the taxonomy,
grouped by their stored embeddings so that each group can become one new label.

k-means on unit-length embeddings (cosine geometry, as elsewhere on pooled features), the
number of groups chosen by the silhouette over k = 2 … ``max_clusters``. A set whose best
silhouette stays under ``min_silhouette`` has no structure worth splitting and is one
group. scikit-learn is imported inside the function: this module is pure (no Django) and
is only run in a worker.
"""

from __future__ import annotations

import numpy as np

# Below this, the best split is hardly better than a random one (silhouettes run from -1 to
# 1; two well-separated groups score above 0.5).
MIN_SILHOUETTE = 0.1
# Enough for the silhouette to judge a split, few enough that it stays fast in a worker.
SILHOUETTE_SAMPLE = 2000


def cluster_candidates(
    X: np.ndarray,
    *,
    max_clusters: int = 8,
    min_silhouette: float = MIN_SILHOUETTE,
    seed: int = 0,
) -> tuple[list[list[int]], float | None]:
    """Row indices of ``X`` (n × dim) in groups, largest first (each group's rows in their
    order), and the silhouette of the split chosen (None when no split was tried)."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"embeddings must be (n, dim), got shape {X.shape}")
    n = len(X)
    if n == 0:
        return [], None
    if n < 4:
        return [list(range(n))], None
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    norms = np.linalg.norm(X, axis=1, keepdims=True)
    U = X / np.where(norms > 0, norms, 1.0)
    best_labels, best_score = None, None
    for k in range(2, min(max_clusters, n - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(U)
        if len(set(labels.tolist())) < 2:
            continue
        score = float(
            silhouette_score(
                U,
                labels,
                metric="cosine",
                sample_size=min(n, SILHOUETTE_SAMPLE),
                random_state=seed,
            )
        )
        if best_score is None or score > best_score:
            best_labels, best_score = labels, score
    if best_labels is None or best_score < min_silhouette:
        return [list(range(n))], best_score
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(best_labels.tolist()):
        groups.setdefault(label, []).append(index)
    ordered = sorted(groups.values(), key=lambda rows: (-len(rows), rows[0]))
    return ordered, best_score
