"""The training pipeline: split, fit, calibrate, measure.

What a training run of the product does between reading its images and storing a version,
and what the comparison benchmark does between drawing its images and printing figures:
both call these functions, so a benchmark measures the product's own training. Pure: arrays
and index arrays in, a trained model and plain numbers out; no Django, no rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.splits import split_indices

HEAD = "head"
FINETUNE = "finetune"
MODES = (HEAD, FINETUNE)

# The non-test images are split 7:1 into training and validation: with a fifth held out
# for testing, the method's 70/10/20.
VALIDATION_SHARE_OF_REST = 0.125


def split_train_val(
    targets: np.ndarray, *, val_fraction: float, multi_label: bool = False, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation indices into ``targets``, stratified by label (a multi-label
    row by its first positive label)."""
    targets = np.asarray(targets)
    strata = targets.argmax(axis=1) if multi_label else targets
    split = split_indices(strata, fractions=(1 - val_fraction, val_fraction, 0.0), seed=seed)
    return split.train, split.val


def split_with_gold(
    targets: np.ndarray, gold_test: np.ndarray, *, multi_label: bool = False, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train / validation / test indices: the test images are the ones ``gold_test`` (a
    boolean per image) marks; the rest is split 7:1, stratified by label."""
    gold_test = np.asarray(gold_test, dtype=bool)
    test = np.flatnonzero(gold_test).astype(np.int64)
    rest = np.flatnonzero(~gold_test).astype(np.int64)
    train, val = split_train_val(
        np.asarray(targets)[rest],
        val_fraction=VALIDATION_SHARE_OF_REST,
        multi_label=multi_label,
        seed=seed,
    )
    return rest[train], rest[val], test


def fit(
    mode: str,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    *,
    n_classes: int,
    multi_label: bool = False,
    backbone: str | None = None,
    input_size: int | None = None,
    weights=None,
    from_scratch: bool = False,
    max_epochs: int | None = None,
    seed: int = 0,
    views: int = 1,
    progress=None,
):
    """Train under the method's schedule: a head on embeddings (mode ``head``), or the
    backbone ``backbone`` fine-tuned with a new head on uint8 pixels (mode ``finetune``).
    ``max_epochs`` None keeps the trainer's own cap; ``views``: how many views of an image
    each embedding row holds (``training.backbones.embedding_views`` of its kind). Returns
    the trainer's TrainedModel."""
    limit = {} if max_epochs is None else {"max_epochs": max_epochs}
    common = {"n_classes": n_classes, "multi_label": multi_label, "seed": seed}
    if mode == HEAD:
        from training.head_training import train_head

        return train_head(
            X_train, y_train, X_val, y_val, views=views, progress=progress, **common, **limit
        )
    if mode == FINETUNE:
        if backbone is None:
            raise ValueError("fine-tuning needs the name of the backbone to fine-tune")
        from training.finetune import finetune

        return finetune(
            backbone=backbone,
            X_train=X_train,
            y_train=y_train,
            X_val=X_val,
            y_val=y_val,
            input_size=input_size,
            weights=weights,
            from_scratch=from_scratch,
            progress=progress,
            **common,
            **limit,
        )
    raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")


@dataclass
class Measurement:
    """A trained model calibrated on the validation images and measured on the test ones."""

    temperature: float
    val_proba: np.ndarray  # calibrated
    test_proba: np.ndarray  # calibrated
    test_top1: np.ndarray  # class index of each test image's top answer
    metrics: dict  # training.evaluation.evaluate on the test images, and the temperature


def measure(
    logits_model,
    X_val: np.ndarray,
    y_val: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    class_names: list[str],
    multi_label: bool = False,
) -> Measurement:
    """Fit the temperature on the validation images, then measure on the test images:
    the test images take part in no choice."""
    from training.calibration import apply_temperature, fit_temperature
    from training.evaluation import evaluate
    from training.inference import run_model

    val_logits = np.asarray(run_model(logits_model, X_val))
    temperature = float(fit_temperature(val_logits, y_val, multi_label=multi_label))
    test_logits = np.asarray(run_model(logits_model, X_test))
    val_proba = apply_temperature(val_logits, temperature, multi_label=multi_label)
    test_proba = apply_temperature(test_logits, temperature, multi_label=multi_label)
    metrics = evaluate(y_test, test_proba, class_names=class_names, multi_label=multi_label)
    metrics["temperature"] = temperature
    return Measurement(
        temperature=temperature,
        val_proba=val_proba,
        test_proba=test_proba,
        test_top1=test_logits.argmax(axis=1),
        metrics=metrics,
    )


# Folds of the out-of-sample probabilities that auto-accept thresholds are chosen on.
OUT_OF_FOLD_FOLDS = 5


def out_of_fold_proba(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    multi_label: bool = False,
    folds: int = OUT_OF_FOLD_FOLDS,
    max_epochs: int | None = None,
    seed: int = 0,
    views: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities of every image from a head that did not train on it.

    The images are cut into ``folds`` stratified folds; for each, a head is trained on the
    others by the product's own procedure (a 7:1 validation split for the schedule, the
    temperature fitted on that split) and predicts the fold. So each probability is what a
    model trained like the served one says about an image it has never seen, and thresholds
    can be chosen on all the images instead of a small validation slice. Returns the
    probabilities and the indices of the images that got one (a class too small to spread
    over the folds may leave a few out)."""
    from training.calibration import apply_temperature, fit_temperature
    from training.inference import run_model

    X = np.asarray(X)
    y = np.asarray(y)
    strata = y.argmax(axis=1) if multi_label else y
    fold_of = np.full(len(y), -1, dtype=np.int64)
    rng = np.random.default_rng(seed)
    for label in np.unique(strata):
        members = rng.permutation(np.flatnonzero(strata == label))
        fold_of[members] = np.arange(len(members)) % folds
    proba = np.zeros((len(y), n_classes), dtype=np.float64)
    done = np.zeros(len(y), dtype=bool)
    for k in range(folds):
        held = np.flatnonzero(fold_of == k)
        rest = np.flatnonzero(fold_of != k)
        if len(held) == 0:
            continue
        train, val = split_train_val(
            y[rest], val_fraction=VALIDATION_SHARE_OF_REST, multi_label=multi_label, seed=seed
        )
        if len(val) == 0 or len(np.unique(strata[rest[train]])) < 2:
            continue
        trained = fit(
            HEAD,
            X[rest[train]],
            y[rest[train]],
            X[rest[val]],
            y[rest[val]],
            n_classes=n_classes,
            multi_label=multi_label,
            max_epochs=max_epochs,
            seed=seed,
            views=views,
        )
        logits = trained.logits_model
        temperature = fit_temperature(
            np.asarray(run_model(logits, X[rest[val]])), y[rest[val]], multi_label=multi_label
        )
        proba[held] = apply_temperature(
            np.asarray(run_model(logits, X[held])), temperature, multi_label=multi_label
        )
        done[held] = True
    kept = np.flatnonzero(done)
    return proba[kept], kept
