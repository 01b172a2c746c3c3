"""A new active version looks at what waits.

Whenever the pointer moves (a training promotion, an activation, a rollback), every image of
the taxonomy that no person has decided is predicted by the version now serving: images the
model never saw (they arrived before any model) and images predicted by another version.
The work goes in small batches on the ingest queue, each batch queueing the next, so new
uploads wait behind one batch at most. Each image passes the auto-accept policy again: an
image waiting for review may become auto-tagged, and a machine tag that the new version
contradicts goes back to review with the overturned label kept on the new prediction for the
reviewer to see. A tag the new version agrees with stays, even where its own thresholds do
not reach so far: it was accepted by a version whose held-out precision reached the target,
and a second model finding the same label makes it no less likely to be right (a version
whose thresholds are out of reach, on a set still too small to certify them, would
otherwise send every machine tag back to be looked at again). Where the new version accepts,
or finds likely, a different set of labels (multi-label: one more), a person decides. Verified and
rejected images are never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from labelling.models import Image, ImageLabel, ImageStatus, Prediction, Taxonomy
from labelling.models.images import LabelSource
from training.models import ActiveModel, ModelVersion
from training.multi_label import LIKELY_AT
from training.selectors import active_version
from training.services.policy import auto_accepted_labels, is_multi_label_version
from training.services.prediction import images_predict
from training.tasks import backfill

logger = logging.getLogger(__name__)

# Images no person has decided; uploaded and processing ones are the ingest's (it predicts
# them with whatever version is active when it gets to them).
UNDECIDED = (ImageStatus.NEEDS_REVIEW, ImageStatus.AUTO_TAGGED)


@dataclass
class BackfillStep:
    predicted: list[int] = field(default_factory=list)
    auto_tagged: list[int] = field(default_factory=list)  # waiting → auto-tagged
    sent_back: list[int] = field(default_factory=list)  # auto-tagged → review
    last_id: int = 0  # the next batch starts after this image id
    remaining: int = 0  # undecided images after it still without a prediction of the version


@dataclass
class BackfillProgress:
    model_version: ModelVersion | None
    done: int  # undecided images that the active version has predicted
    total: int  # undecided images

    @property
    def finished(self) -> bool:
        return self.done >= self.total


def undecided_images(taxonomy: Taxonomy):
    """The taxonomy's images that wait for a person or carry only a machine tag."""
    return Image.objects.filter(client__sector_id=taxonomy.sector_id, status__in=UNDECIDED).exclude(
        # Another taxonomy of the sector (a draft) does not serve its clients.
        client__sector__taxonomies__created_at__lt=taxonomy.created_at
    )


def _pending(version: ModelVersion):
    predicted = Prediction.objects.filter(model_version=version).values("image_id")
    return undecided_images(version.taxonomy).exclude(pk__in=predicted)


def backfill_start(*, model_version: ModelVersion) -> None:
    """Queue the first batch once the pointer move is committed."""

    def send() -> None:
        try:
            backfill.delay(model_version.pk)
        except Exception:  # the pointer moved; the sweeper starts the backfill again
            logger.exception("could not queue the backfill of %s", model_version)

    transaction.on_commit(send)


def backfill_step(
    *, model_version: ModelVersion, after: int = 0, batch_size: int | None = None
) -> BackfillStep:
    """Predict one batch of the undecided images (ids above ``after``) that
    ``model_version`` has not seen and decide them again. Does nothing once the version no
    longer serves (the next one has its own backfill). The id cursor lets the chain move
    past an image the model cannot read instead of asking for it forever."""
    step = BackfillStep(last_id=after)
    if active_version(model_version.taxonomy) != model_version:
        return step
    batch_size = batch_size or settings.BACKFILL_BATCH_SIZE
    pending = _pending(model_version).filter(pk__gt=after).order_by("pk")
    ids = list(pending.values_list("pk", flat=True)[:batch_size])
    if ids:
        step.last_id = ids[-1]
        outcome = images_predict(image_ids=ids, decide=False, model_version=model_version)
        step.predicted = outcome.predicted
        # Only what this step predicted: an image predicted by the version before (through
        # ingestion or a prediction job) was decided by it then.
        for prediction in Prediction.objects.filter(
            model_version=model_version, image_id__in=outcome.predicted
        ).select_related("image"):
            _redecide(prediction, step)
    step.remaining = _pending(model_version).filter(pk__gt=step.last_id).count()
    return step


def _redecide(prediction: Prediction, step: BackfillStep) -> None:
    image = prediction.image
    version = prediction.model_version
    # The labels the new version tags on its own: one (multi-class) or several.
    accepted = auto_accepted_labels(version, prediction.ranked or [], client_id=image.client_id)
    accepted_ids = [int(entry["label"]) for entry in accepted]
    with transaction.atomic():
        # Conditional on what was read: a person deciding meanwhile wins.
        unchanged = Image.objects.filter(
            pk=image.pk, status=image.status, status_changed_at=image.status_changed_at
        )
        now = timezone.now()
        if image.status == ImageStatus.NEEDS_REVIEW:
            if accepted and unchanged.update(status=ImageStatus.AUTO_TAGGED, status_changed_at=now):
                for entry in accepted:
                    ImageLabel.objects.update_or_create(
                        image=image,
                        label_id=entry["label"],
                        defaults={
                            "source": LabelSource.MACHINE,
                            "probability": entry["probability"],
                        },
                    )
                step.auto_tagged.append(image.pk)
            return
        machine = list(
            ImageLabel.objects.filter(image=image, source=LabelSource.MACHINE).order_by(
                "-probability", "label_id"
            )
        )
        tagged = [il.label_id for il in machine]
        if accepted and set(tagged) == set(accepted_ids):
            for il in machine:
                probability = next(e["probability"] for e in accepted if e["label"] == il.label_id)
                ImageLabel.objects.filter(pk=il.pk).update(probability=probability)
            return
        # The machine tags the new version contradicts: ones it no longer finds likely.
        likely = _likely_labels(prediction, multi_label=is_multi_label_version(version))
        contradicted = [label for label in tagged if label not in likely]
        if not accepted and likely == set(tagged):
            # It finds likely exactly what is tagged, without certifying it itself: the tag
            # stands (multi-label: a label it finds likely and untagged means a person looks).
            return
        if not unchanged.update(status=ImageStatus.NEEDS_REVIEW, status_changed_at=now):
            return
        ImageLabel.objects.filter(image=image, source=LabelSource.MACHINE).delete()
        if contradicted:
            prediction.overturned_label_id = contradicted[0]
            prediction.save(update_fields=["overturned_label"])
        step.sent_back.append(image.pk)


def _likely_labels(prediction: Prediction, *, multi_label: bool) -> set[int]:
    if not multi_label:
        return {prediction.top_label_id}
    return {
        int(entry["label"])
        for entry in prediction.ranked or []
        if float(entry["probability"]) >= LIKELY_AT
    }


def backfill_progress(*, taxonomy: Taxonomy) -> BackfillProgress:
    version = active_version(taxonomy)
    undecided = undecided_images(taxonomy)
    total = undecided.count()
    if version is None:
        return BackfillProgress(model_version=None, done=0, total=total)
    done = undecided.filter(predictions__model_version=version).count()
    return BackfillProgress(model_version=version, done=done, total=total)


def backfills_resume() -> list[int]:
    """Queue again the backfill of every active version that still has images to see (a
    lost message, a worker killed between batches). Returns the version ids queued."""

    queued = []
    for pointer in ActiveModel.objects.select_related("model_version", "taxonomy"):
        if _pending(pointer.model_version).exists():
            backfill.delay(pointer.model_version_id)
            queued.append(pointer.model_version_id)
    return queued
