"""The label-noise audit's k-fold models, trained as the product trains its heads.

Each fold's head is ``train_head`` on that fold's training part, split 7:1 again so that the
method's schedule has its validation images; its probabilities on the held-out fold are
what confident learning reads.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import train_test_split

from training.defaults import MAX_EPOCHS
from training.head_training import train_head
from training.noise import FoldFitter


def head_fitter(*, max_epochs: int | None = None, views: int = 1) -> FoldFitter:
    """``max_epochs``: None for the product's cap (a benchmark's test sets a smaller one)."""
    cap = MAX_EPOCHS["head"] if max_epochs is None else max_epochs

    def fit(X, y, n_classes, seed):
        X = np.asarray(X, dtype=np.float32)
        counts = np.bincount(y, minlength=n_classes)
        # Stratified when every class can give a validation image; a class of one cannot.
        stratify = y if counts.min() >= 2 else None
        X_train, X_val, y_train, y_val = train_test_split(
            X, y, test_size=1 / 8, random_state=seed, stratify=stratify
        )
        head = train_head(
            X_train,
            y_train,
            X_val,
            y_val,
            n_classes=n_classes,
            max_epochs=cap,
            seed=seed,
            views=views,
        )

        def predict(X_held):
            return np.asarray(
                head.model.predict(np.asarray(X_held, dtype=np.float32), verbose=0),
                dtype=np.float64,
            )

        return predict

    return fit


# The product's audit settings, shared by the training-queue task and the noise benchmark.
NEIGHBOURS = 10
FOLDS = 5


def audit_with_product_heads(
    embeddings,
    labels,
    *,
    n_classes: int,
    model_proba=None,
    known_proba=None,
    seed=0,
    views: int = 1,
    max_epochs: int | None = None,
):
    """The audit as the product runs it: k-fold product heads, 10 neighbours, 5 folds.
    ``known_proba``: out-of-sample probabilities already at hand (NaN rows where not); only
    the folds holding the other rows train a head. ``views``: how many views of an image
    each embedding row holds (its kind's). ``max_epochs``: each fold head's cap (None:
    the product's own)."""
    from training.noise import audit_label_noise

    return audit_label_noise(
        embeddings,
        labels,
        n_classes=n_classes,
        k=NEIGHBOURS,
        n_folds=FOLDS,
        seed=seed,
        model_proba=model_proba,
        known_proba=known_proba,
        fit=head_fitter(max_epochs=max_epochs, views=views),
    )
