"""The auto-accept policy of a model version: which predictions the model may keep on its
own, and what that buys (coverage) at what measured precision."""

from __future__ import annotations

import numpy as np

from training.models import ClientModelSettings, ModelVersion
from training.multi_label import LIKELY_AT, accepted_labels

MIN_SUPPORT = 5  # held-out items a class needs at a threshold before its precision counts


def threshold_source(heldout: dict) -> str:
    """Which held-out probabilities thresholds are chosen on: the out-of-fold ones over every
    verified non-gold image where training kept them, else the validation split's."""
    return "out_of_fold" if heldout.get("out_of_fold", {}).get("y") else "val"


def policy_compute(
    heldout: dict, class_labels: list[int], *, target: float, multi_label: bool
) -> dict:
    """Thresholds for ``target`` precision, and what they buy on the gold test images
    (coverage, precision with its Wilson 95% interval).

    Each class's threshold is the lowest whose held-out precision has a Wilson 95% lower
    bound at the target, not merely a point estimate there: a precision measured on a few
    dozen images is mostly luck, so few held-out images auto-accept less (or nothing)
    instead of wrongly. The held-out images are the out-of-fold ones where training kept
    them (every verified image outside the gold set, each scored by a head that did not
    train on it), else the validation split."""
    # scipy and sklearn (~120 MB): loaded where a policy is computed, not by every web process.
    from training.calibration import auto_accept, per_class_thresholds
    from training.evaluation import wilson_interval

    source = threshold_source(heldout)
    chosen = per_class_thresholds(
        np.asarray(heldout[source]["proba"], dtype=np.float64),
        np.asarray(heldout[source]["y"]),
        target_precision=target,
        min_support=MIN_SUPPORT,
        multi_label=multi_label,
        lower_bound=True,
    )
    policy = {
        "target_precision": target,
        "chosen_on": source,
        "thresholds": {
            str(label_id): c.threshold
            for label_id, c in zip(class_labels, chosen.per_class, strict=True)
            if c.reachable
        },
        "validation": chosen.as_dict(),
    }
    absent = None
    if multi_label:
        from training.multi_label import absence_thresholds

        # Each label may also be called absent, at the same target: an image whose labels
        # are all decided one way or the other is tagged alone.
        absent = absence_thresholds(
            np.asarray(heldout[source]["proba"], dtype=np.float64),
            np.asarray(heldout[source]["y"]),
            target_precision=target,
            min_support=MIN_SUPPORT,
        )
        policy["absent_thresholds"] = {
            str(label_id): float(value)
            for label_id, value in zip(class_labels, absent, strict=True)
            if value >= 0
        }
    test = heldout.get("test")
    if test and multi_label and len(test["y"]):
        from training.multi_label import auto_tag_figures

        policy["test"] = auto_tag_figures(
            np.asarray(test["proba"], dtype=np.float64),
            np.asarray(test["y"]),
            chosen.values,
            absent,
        )
    elif test and not multi_label and len(test["y"]):
        proba = np.asarray(test["proba"], dtype=np.float64)
        y = np.asarray(test["y"], dtype=np.int64)
        accepted = auto_accept(proba, chosen.values)
        correct = int((accepted & (proba.argmax(axis=1) == y)).sum())
        n_accepted = int(accepted.sum())
        low, high = wilson_interval(correct, n_accepted) if n_accepted else (0.0, 1.0)
        policy["test"] = {
            "n": int(len(y)),
            "auto_accepted": n_accepted,
            "coverage": n_accepted / len(y),
            "precision": correct / n_accepted if n_accepted else None,
            "precision_ci95": [low, high],
        }
    return policy


def policy_set_target(*, model_version: ModelVersion, target: float) -> dict:
    """Re-choose a version's thresholds for a new target precision, from the held-out
    probabilities kept at training time: no retraining needed."""
    if not 0.5 <= target <= 1.0:
        raise ValueError("the target precision must be between 0.5 and 1.0")
    if not model_version.heldout:
        raise ValueError(f"{model_version} kept no held-out probabilities; retrain it")
    policy = policy_compute(
        model_version.heldout,
        model_version.class_labels,
        target=target,
        multi_label=bool(model_version.metrics.get("kind") == "multi_label"),
    )
    model_version.policy = policy
    model_version.save(update_fields=["policy"])
    return policy


def policy_for_client(model_version: ModelVersion, settings: ClientModelSettings | None) -> dict:
    """The thresholds ``model_version`` uses for one client: its own (trained for the
    taxonomy's target) unless the client chose a target, then chosen for that target from
    the version's held-out probabilities and kept on the client's settings until another
    version serves."""
    if settings is None or settings.auto_accept_target is None:
        return model_version.policy or {}
    target = settings.auto_accept_target
    kept = settings.policy or {}
    if kept.get("model_version") == model_version.pk and kept.get("target_precision") == target:
        return kept
    if not model_version.heldout:
        raise ValueError(f"{model_version} kept no held-out probabilities; retrain it")
    policy = policy_compute(
        model_version.heldout,
        model_version.class_labels,
        target=target,
        multi_label=bool((model_version.metrics or {}).get("kind") == "multi_label"),
    )
    policy["model_version"] = model_version.pk
    settings.policy = policy
    if settings.pk:
        ClientModelSettings.objects.filter(pk=settings.pk).update(policy=policy)
    return policy


def _client_policy(model_version: ModelVersion, client_id) -> dict | None:
    settings = (
        ClientModelSettings.objects.filter(client_id=client_id).first() if client_id else None
    )
    try:
        return policy_for_client(model_version, settings)
    except ValueError:
        return None  # no held-out data to meet the client's target with: people decide


def is_multi_label_version(model_version: ModelVersion) -> bool:
    return (model_version.metrics or {}).get("kind") == "multi_label"


def auto_accepts(
    model_version: ModelVersion, top_label: int, top_probability: float, *, client_id=None
) -> bool:
    """Auto-tag when the calibrated top-1 probability reaches the threshold that gave its
    class the client's target precision on held-out images; else a person decides."""
    policy = _client_policy(model_version, client_id) or {}
    threshold = (policy.get("thresholds") or {}).get(str(top_label))
    return threshold is not None and top_probability >= float(threshold)


def auto_accepted_labels(
    model_version: ModelVersion, ranked: list[dict], *, client_id=None
) -> list[dict]:
    """The ranked entries ({label, probability}) the model tags an image with on its own,
    highest first; [] when a person decides. Multi-class: the top label when it reaches its
    threshold. Multi-label: every label that reaches its own, provided every other label is
    under its threshold of absence (training.multi_label)."""
    if not ranked:
        return []
    if not is_multi_label_version(model_version):
        top = ranked[0]
        accepted = auto_accepts(
            model_version, top["label"], top["probability"], client_id=client_id
        )
        return [top] if accepted else []
    policy = _client_policy(model_version, client_id) or {}
    thresholds = policy.get("thresholds") or {}
    if not thresholds:
        return []
    row = [float(entry["probability"]) for entry in ranked]
    # A label without a threshold never reached the target: never present (or absent).
    cuts = [float(thresholds.get(str(entry["label"]), np.inf)) for entry in ranked]
    # Versions chosen before absence thresholds: a label under LIKELY_AT is absent.
    below = policy.get("absent_thresholds")
    absent = None
    if below is not None:
        absent = [float(below.get(str(entry["label"]), -np.inf)) for entry in ranked]
    ranked_ids = {int(entry["label"]) for entry in ranked}
    unranked = [label for label in model_version.class_labels if label not in ranked_ids]
    if unranked:
        # Each label left out of the ranking is at most as probable as the last ranked one.
        last = row[-1]
        if below is None:
            decided = last < LIKELY_AT
        else:
            decided = all(last <= float(below.get(str(label), -np.inf)) for label in unranked)
        if not decided:
            return []
    return [ranked[i] for i in accepted_labels(row, cuts, absent)]
