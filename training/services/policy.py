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
    test = heldout.get("test")
    if test and multi_label and len(test["y"]):
        from training.multi_label import auto_tag_figures

        # An image is tagged alone when every likely label reaches its threshold; its
        # tags are counted one by one for the precision.
        policy["test"] = auto_tag_figures(
            np.asarray(test["proba"], dtype=np.float64), np.asarray(test["y"]), chosen.values
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


def _client_thresholds(model_version: ModelVersion, client_id) -> dict | None:
    settings = (
        ClientModelSettings.objects.filter(client_id=client_id).first() if client_id else None
    )
    try:
        policy = policy_for_client(model_version, settings)
    except ValueError:
        return None  # no held-out data to meet the client's target with: people decide
    return policy.get("thresholds") or {}


def is_multi_label_version(model_version: ModelVersion) -> bool:
    return (model_version.metrics or {}).get("kind") == "multi_label"


def auto_accepts(
    model_version: ModelVersion, top_label: int, top_probability: float, *, client_id=None
) -> bool:
    """Auto-tag when the calibrated top-1 probability reaches the threshold that gave its
    class the client's target precision on held-out images; else a person decides."""
    thresholds = _client_thresholds(model_version, client_id)
    threshold = (thresholds or {}).get(str(top_label))
    return threshold is not None and top_probability >= float(threshold)


def auto_accepted_labels(
    model_version: ModelVersion, ranked: list[dict], *, client_id=None
) -> list[dict]:
    """The ranked entries ({label, probability}) the model tags an image with on its own,
    highest first; [] when a person decides. Multi-class: the top label when it reaches its
    threshold. Multi-label: every label that reaches its own, provided every label the model
    finds likely does (training.multi_label)."""
    if not ranked:
        return []
    if not is_multi_label_version(model_version):
        top = ranked[0]
        accepted = auto_accepts(
            model_version, top["label"], top["probability"], client_id=client_id
        )
        return [top] if accepted else []
    thresholds = _client_thresholds(model_version, client_id)
    if not thresholds:
        return []
    # A label the model did not rank is less probable than every ranked one: leaving it
    # out changes nothing unless the ranking is all likely labels, then people decide.
    row = [float(entry["probability"]) for entry in ranked]
    # A label without a threshold never reached the target: never accepted.
    cuts = [float(thresholds.get(str(entry["label"]), np.inf)) for entry in ranked]
    if len(ranked) < len(model_version.class_labels) and row[-1] >= LIKELY_AT:
        return []
    return [ranked[i] for i in accepted_labels(row, cuts)]
