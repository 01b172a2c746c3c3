"""Label-noise audit: which verified labels look wrong?

Signals, each computed on stored embeddings and the verified labels:

(a) self-confidence: the probability an out-of-sample model gives the verified label
    (a low one means the label sits far from where the model puts such images);
(b) neighbour disagreement: the share of the k nearest neighbours in embedding space (cosine)
    that carry another label;
(c) confident learning: cleanlab's ``find_label_issues`` on k-fold out-of-sample
    probabilities;
(d) the method's own signal, when the caller passes the trained model's output: the spread
    of that softmax (a flat output means the model cannot place the image).

The probabilities for (a) and (c) come from models trained on the other folds (logistic
regressions by default; the product passes its own head, ``training.noise_heads``), so no
image is judged by a model that has seen its own (possibly wrong) label. (a), (b) and (c)
vote; images with at least ``min_votes`` votes are the suspects to send to a review queue,
ranked by the combined score. The spread does not look at the label at all, so it cannot
tell a wrong label from a hard image: it enters the combined score at half weight and casts
no vote.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.rank import get_label_quality_scores
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors


@dataclass(frozen=True)
class Suspect:
    index: int  # row in the audited arrays
    label: int  # the verified label
    suggested: int  # the label the out-of-sample model prefers
    self_confidence: float  # (a): out-of-sample probability of the verified label
    neighbour_disagreement: float  # (b): share of the k neighbours with another label
    confident_learning: bool  # (c): cleanlab flags it
    votes: int  # how many of the three signals call it wrong
    score: float  # 0..1, higher is more suspect: the combined score
    spread: float | None = None  # (d): the trained model's softmax spread, 0 flat .. 1 one-hot


@dataclass
class NoiseAudit:
    suspects: list[Suspect]  # votes ≥ min_votes, most suspect first
    ranking: np.ndarray  # every row, most suspect first
    score: np.ndarray
    self_confidence: np.ndarray
    neighbour_disagreement: np.ndarray
    confident_learning: np.ndarray  # bool
    out_of_sample_proba: np.ndarray  # (n, n_classes)
    neighbours: np.ndarray  # (n, k) row indices of each row's nearest neighbours
    spread: np.ndarray | None = None  # (d), when the trained model's output was given
    quality: np.ndarray | None = None  # cleanlab's label quality (normalized margin), 0..1

    def signal_scores(self) -> dict[str, np.ndarray]:
        """Each signal as a score where higher is more suspect, for ranking by one alone."""
        scores = {
            "self_confidence": 1 - self.self_confidence,
            "neighbours": self.neighbour_disagreement,
            # cleanlab's flag first, its quality score within the flagged and the others
            "confident_learning": self.confident_learning + (1 - self.quality) / 2,
        }
        if self.spread is not None:
            scores["spread"] = 1 - self.spread
        scores["combined"] = self.score
        return scores


# fit(X_train, y_train, n_classes, seed) → a function X → probabilities (n, n_classes)
FoldFitter = Callable[[np.ndarray, np.ndarray, int, int], Callable[[np.ndarray], np.ndarray]]
SPREAD_WEIGHT = 0.5


def _normalise(X: np.ndarray) -> np.ndarray:
    # Unit length, so that the logistic regressions see the same geometry as cosine k-NN.
    return X / np.linalg.norm(X, axis=1, keepdims=True).clip(min=1e-12)


def softmax_spread(proba) -> np.ndarray:
    """Standard deviation of each probability row, scaled so a one-hot row has 1 and a flat
    one 0 (the method's "softmax spread")."""
    proba = np.asarray(proba, dtype=np.float64)
    n_classes = proba.shape[1]
    one_hot = np.zeros(n_classes)
    one_hot[0] = 1.0
    return (proba.std(axis=1) / one_hot.std()).clip(0.0, 1.0)


def logistic_fitter(C: float = 1.0) -> FoldFitter:
    def fit(X, y, n_classes, seed):
        model = LogisticRegression(C=C, max_iter=1000).fit(X, y)

        def predict(X_held):
            proba = np.zeros((len(X_held), n_classes))
            proba[:, model.classes_] = model.predict_proba(X_held)
            return proba

        return predict

    return fit


def out_of_sample_proba(
    X,
    codes,
    *,
    n_classes: int,
    n_folds: int = 5,
    seed: int = 0,
    C: float = 1.0,
    fit: FoldFitter | None = None,
    known: np.ndarray | None = None,
) -> np.ndarray:
    """k-fold probabilities: each row predicted by a model that never saw it.

    ``known`` (n, n_classes), NaN in the rows still to compute: probabilities a caller
    already has from models that never saw those rows (the out-of-fold scores a training
    run chose its thresholds on). They are used as they are, and a fold is trained only
    when one of its held-out rows is missing; with nothing known, every fold is."""
    fit = fit or logistic_fitter(C)
    X, codes = np.asarray(X, dtype=np.float64), np.asarray(codes)
    proba = np.zeros((len(X), n_classes))
    missing = np.ones(len(X), dtype=bool)
    if known is not None:
        known = np.asarray(known, dtype=np.float64)
        if known.shape != proba.shape:
            raise ValueError(f"known probabilities {known.shape} for {proba.shape} rows")
        missing = np.isnan(known).any(axis=1)
        proba[~missing] = known[~missing]
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # Classes smaller than n_folds are expected in a growing library; they simply miss
        # some folds.
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        splits = list(folds.split(X, codes))
    for train, held_out in splits:
        # The same folds whatever is known, so a row gets the same model either way.
        held_out = held_out[missing[held_out]]
        if len(held_out) == 0:
            continue
        present = np.unique(codes[train])
        if len(present) == 1:
            proba[np.ix_(held_out, present)] = 1.0
            continue
        # Codes remapped to the classes present, so the fitter never sees an empty class.
        local = np.searchsorted(present, codes[train])
        predict = fit(X[train], local, len(present), seed)
        proba[np.ix_(held_out, present)] = predict(X[held_out])
    # A class absent from a fold's training part got probability 0; cleanlab wants strictly
    # positive rows summing to 1.
    proba = proba + 1e-6
    return proba / proba.sum(axis=1, keepdims=True)


def neighbour_disagreement(X, codes, *, k: int = 10) -> np.ndarray:
    """Share of each row's k nearest neighbours (cosine, itself excluded) with another label."""
    codes = np.asarray(codes)
    others = nearest_neighbours(X, k=k)
    if others.shape[1] == 0:
        return np.zeros(len(codes))
    return (codes[others] != codes[:, None]).mean(axis=1)


def nearest_neighbours(X, *, k: int = 10) -> np.ndarray:
    """Each row's k nearest neighbours (cosine), itself excluded: (n, k) row indices."""
    X = np.asarray(X, dtype=np.float64)
    k = min(k, len(X) - 1)
    if k < 1:
        return np.zeros((len(X), 0), dtype=np.int64)
    index = NearestNeighbors(n_neighbors=k + 1, metric="cosine", algorithm="brute").fit(X)
    _, neighbours = index.kneighbors(X)
    is_self = neighbours == np.arange(len(X))[:, None]
    # Usually the row itself comes first, but an exact duplicate may come before it; when it
    # is not among the k + 1 at all, the farthest neighbour is dropped instead.
    order = np.argsort(is_self, axis=1, kind="stable")
    return np.take_along_axis(neighbours, order, axis=1)[:, :k]


def audit_label_noise(
    embeddings,
    labels,
    *,
    n_classes: int | None = None,
    k: int = 10,
    n_folds: int = 5,
    min_votes: int = 2,
    seed: int = 0,
    model_proba=None,
    fit: FoldFitter | None = None,
    known_proba=None,
) -> NoiseAudit:
    """Rank verified labels by how suspect they look; ``labels`` are class indices.

    ``model_proba`` (n, n_classes): the trained model's output for each row, for the spread
    signal; ``fit``: how each fold's model is trained (logistic regression by default);
    ``known_proba`` (n, n_classes), NaN where unknown: out-of-sample probabilities the
    caller already has, so that only the folds holding the other rows are trained."""
    X = _normalise(np.asarray(embeddings, dtype=np.float64))
    labels = np.asarray(labels).astype(np.int64)
    if X.ndim != 2 or len(X) != len(labels):
        raise ValueError(f"embeddings {X.shape} and labels {labels.shape} do not match")
    n_classes = n_classes or int(labels.max()) + 1
    # Work on the classes actually present: cleanlab and the regressions want no empty class.
    present, codes = np.unique(labels, return_inverse=True)
    n = len(labels)
    if len(present) < 2 or n < n_folds:
        raise ValueError("a noise audit needs at least two classes and one row per fold")

    known = None
    if known_proba is not None:
        known_proba = np.asarray(known_proba, dtype=np.float64)
        if known_proba.shape != (n, n_classes):
            raise ValueError(f"known_proba is {known_proba.shape}, not {(n, n_classes)}")
        # Over the classes present, rescaled to sum to one (a class with no verified image
        # may have had some probability); a row stays unknown when any of it is.
        known = known_proba[:, present]
        known = known / known.sum(axis=1, keepdims=True).clip(min=1e-12)
    proba_present = out_of_sample_proba(
        X, codes, n_classes=len(present), n_folds=n_folds, seed=seed, fit=fit, known=known
    )
    self_confidence = proba_present[np.arange(n), codes]
    neighbours = nearest_neighbours(X, k=k)
    disagreement = (
        (codes[neighbours] != codes[:, None]).mean(axis=1) if neighbours.shape[1] else np.zeros(n)
    )
    flagged = find_label_issues(codes, proba_present, filter_by="prune_by_noise_rate", n_jobs=1)
    # cleanlab's own score (lower = worse); normalized margin separates "another class is
    # clearly preferred" from "the model is merely unsure".
    quality = get_label_quality_scores(codes, proba_present, method="normalized_margin")

    votes = (
        (proba_present.argmax(axis=1) != codes).astype(int)
        + (disagreement > 0.5).astype(int)
        + flagged.astype(int)
    )
    score = (1 - self_confidence) + disagreement + (1 - quality)
    spread = None
    if model_proba is not None:
        model_proba = np.asarray(model_proba, dtype=np.float64)
        if model_proba.shape[0] != n:
            raise ValueError(f"model_proba has {model_proba.shape[0]} rows for {n} labels")
        spread = softmax_spread(model_proba)
        score = (score + SPREAD_WEIGHT * (1 - spread)) / (3 + SPREAD_WEIGHT)
    else:
        score = score / 3
    ranking = np.argsort(-score, kind="stable")
    suggested = present[proba_present.argmax(axis=1)]

    proba = np.zeros((n, n_classes))
    proba[:, present] = proba_present
    suspects = [
        Suspect(
            index=int(i),
            label=int(labels[i]),
            suggested=int(suggested[i]),
            self_confidence=float(self_confidence[i]),
            neighbour_disagreement=float(disagreement[i]),
            confident_learning=bool(flagged[i]),
            votes=int(votes[i]),
            score=float(score[i]),
            spread=None if spread is None else float(spread[i]),
        )
        for i in ranking
        if votes[i] >= min_votes
    ]
    return NoiseAudit(
        suspects=suspects,
        ranking=ranking,
        score=score,
        self_confidence=self_confidence,
        neighbour_disagreement=disagreement,
        confident_learning=flagged,
        out_of_sample_proba=proba,
        neighbours=neighbours,
        spread=spread,
        quality=quality,
    )
