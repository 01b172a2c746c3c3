"""The embedding map's layout: a library's stored embeddings laid out in two dimensions, so
that similar images sit together and a person can see, and lasso, a group of them.

PCA first (to ``PCA_DIMENSIONS``: it keeps the structure t-SNE needs and makes its
neighbour search cheap), then t-SNE. Two implementations of t-SNE are offered:
``opentsne`` (openTSNE's FFT-accelerated gradients and approximate neighbours, whose cost
grows about linearly with the number of images) is the default; ``sklearn``
(scikit-learn's Barnes-Hut t-SNE, n log n and exact neighbours) is the fallback where
openTSNE is not installed. ``bench.map`` measures both; the README has the figures.

Pure numpy/scikit-learn: no Django. The layout is scaled into [-1, 1] on both axes (the
same factor for both, so distances keep their meaning), which is what the page draws in.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_limits

PCA_DIMENSIONS = 50
METHODS = ("opentsne", "sklearn")
# Below this many images t-SNE has nothing to lay out (and its perplexity cannot fit).
MIN_POINTS = 3

Progress = Callable[[str, int, int], None]


def default_method() -> str:
    try:
        import openTSNE  # noqa: F401
    except ImportError:
        return "sklearn"
    return "opentsne"


def project_2d(
    X: np.ndarray,
    *,
    method: str | None = None,
    seed: int = 0,
    n_jobs: int = 1,
    perplexity: float = 30.0,
    progress: Progress | None = None,
) -> np.ndarray:
    """Rows of ``X`` (n, dim) as points (n, 2), float32 in [-1, 1]. ``progress(phase,
    done, total)`` hears the phases ("pca", "tsne") as they start and end."""
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 2:
        raise ValueError(f"embeddings must be (n, dim), got shape {X.shape}")
    n = len(X)
    if n < MIN_POINTS:
        raise ValueError(f"a map needs at least {MIN_POINTS} images with an embedding, got {n}")
    if not np.isfinite(X).all():
        raise ValueError("some embeddings are not finite numbers (NaN or infinity)")
    method = method or default_method()
    if method not in METHODS:
        raise ValueError(f"unknown projection method {method!r}; one of {', '.join(METHODS)}")
    report = progress or (lambda phase, done, total: None)

    report("pca", 0, 1)
    with threadpool_limits(limits=max(1, n_jobs)):
        reduced = _pca(X, seed=seed)
    report("pca", 1, 1)
    # t-SNE's perplexity must stay below the number of neighbours a point can have.
    perplexity = float(min(perplexity, max(1.0, (n - 1) / 3)))
    report("tsne", 0, 1)
    # Both t-SNEs run OpenMP loops that would start one thread per core: on a worker
    # sharing its cores, threads spinning at barriers made a 60-point layout 50 s instead
    # of 1 s. They get ``n_jobs`` threads, no more.
    with threadpool_limits(limits=max(1, n_jobs)):
        if method == "opentsne":
            layout = _opentsne(reduced, seed=seed, n_jobs=n_jobs, perplexity=perplexity)
        else:
            layout = _sklearn_tsne(reduced, seed=seed, n_jobs=n_jobs, perplexity=perplexity)
    report("tsne", 1, 1)
    return _scaled(layout)


def _pca(X: np.ndarray, *, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    dims = min(PCA_DIMENSIONS, X.shape[1], len(X))
    if dims >= X.shape[1]:
        return X - X.mean(axis=0)
    # The randomized solver: a 50k × 1280 library in seconds, not the minutes of a full SVD.
    return PCA(n_components=dims, svd_solver="randomized", random_state=seed).fit_transform(X)


def _opentsne(X: np.ndarray, *, seed: int, n_jobs: int, perplexity: float) -> np.ndarray:
    from openTSNE import TSNE

    # FFT-interpolated gradients cost about the same per point at any size; openTSNE's
    # "auto" switches to Barnes-Hut below 10,000 points, which bench.map measured at three
    # times scikit-learn's cost for 5,000. Tiny maps (tests, a new client) keep Barnes-Hut.
    gradient = "fft" if len(X) >= 1000 else "bh"
    # PCA initialisation keeps the global arrangement from run to run (and seed to seed).
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        initialization="pca",
        neighbors="auto",
        negative_gradient_method=gradient,
        n_jobs=n_jobs,
        random_state=seed,
        verbose=False,
    )
    return np.asarray(tsne.fit(X))


def _sklearn_tsne(X: np.ndarray, *, seed: int, n_jobs: int, perplexity: float) -> np.ndarray:
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        learning_rate="auto",
        method="barnes_hut",
        n_jobs=n_jobs,
        random_state=seed,
    )
    return tsne.fit_transform(X)


def _scaled(layout: np.ndarray) -> np.ndarray:
    layout = np.asarray(layout, dtype=np.float64)
    centre = (layout.max(axis=0) + layout.min(axis=0)) / 2
    half = float((layout.max(axis=0) - layout.min(axis=0)).max()) / 2
    scaled = (layout - centre) / (half if half > 0 else 1.0)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)
