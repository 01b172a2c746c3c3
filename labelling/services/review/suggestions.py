"""What "accept" means for an image: the label(s) the model proposes."""

from __future__ import annotations

from labelling.models import ImageLabel, Prediction, Taxonomy
from labelling.models.images import LabelSource

# A multi-label model suggests every label at least this probable (sigmoid outputs).
MULTI_LABEL_SUGGEST_AT = 0.5


def is_multi_label(taxonomy: Taxonomy | None) -> bool:
    return bool(taxonomy and taxonomy.is_multi_label)


def suggested_labels(
    prediction: Prediction | None, labels: list[ImageLabel], *, multi_label: bool
) -> list[int]:
    """The model's own tags where it tagged the image (an auto-tagged image), else its top
    label (multi-class) or every label it finds likely (multi-label; at least the top one)."""
    machine = [il.label_id for il in labels if il.source == LabelSource.MACHINE]
    if machine:
        return machine
    if prediction is None or prediction.top_label_id is None:
        return []
    if not prediction.top_label.is_active:
        # Retired (or split) since the model said it: people choose, nothing to accept.
        # A merged label's predictions were moved to the label kept (label_merge).
        return []
    if not multi_label:
        return [prediction.top_label_id]
    likely = [
        int(entry["label"])
        for entry in prediction.ranked
        if isinstance(entry, dict) and float(entry.get("probability", 0)) >= MULTI_LABEL_SUGGEST_AT
    ]
    return likely or [prediction.top_label_id]
