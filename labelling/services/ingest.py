"""What the worker does with uploaded images: derivatives, then prediction, then people.

For each image it can claim (``Image.claim_for_processing``: a conditional update, so two
workers never process one image), it decodes the stored original once and writes the thumbnail
and the model-input image. It then calls ``predict_hook`` with the images still in
``processing``; the ones the hook leaves there go to ``needs_review``. An image whose file
cannot be read becomes ``failed`` with the reason.

No TensorFlow here: the ML core is imported inside ``predict_hook``, in the worker child, when
a model is active (see taxonomy_site.celery).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from labelling import image_validation, storage_names
from labelling.image_validation import Derivatives, ImageRejected
from labelling.models import Image, ImageStatus
from labelling.perceptual_hash import dhash
from labelling.services import duplicates, uploads
from training.models import ActiveModel

logger = logging.getLogger(__name__)

# Images the sweeper hands back to the worker per task.
SWEEP_CHUNK = 50


@dataclass
class IngestResult:
    processed: list[int] = field(default_factory=list)  # derivatives made, sent to the hook
    failed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # gone, or claimed by someone else


def images_ingest(*, image_ids: Sequence[int]) -> IngestResult:
    result = IngestResult()
    wanted = list(dict.fromkeys(int(i) for i in image_ids))
    images = {image.pk: image for image in Image.objects.filter(pk__in=wanted)}
    for image_id in wanted:
        image = images.get(image_id)
        if image is None or not image.claim_for_processing():
            result.skipped.append(image_id)
            continue
        try:
            image_derivatives_make(image=image)
        except ImageRejected as unreadable:
            image.mark_failed(unreadable.message)
            result.failed.append(image_id)
        else:
            result.processed.append(image_id)
    if result.processed:
        predict_hook(image_ids=result.processed)
        # Whatever the hook did not decide is for people to look at.
        Image.objects.filter(pk__in=result.processed).move_status(
            ImageStatus.NEEDS_REVIEW, from_statuses=[ImageStatus.PROCESSING]
        )
    return result


def predict_hook(*, image_ids: Sequence[int]) -> None:
    """The single place where the ML core plugs in embedding and prediction.

    Called by the worker with images in ``processing`` whose thumbnail and model-input image
    (``model_input_name(image)``) are stored. The ML core may move any of them to
    ``auto_tagged`` or ``needs_review`` (with their Prediction and ImageLabel rows); the ones
    it leaves in ``processing`` go to ``needs_review``. When no model is active for these images'
    taxonomies it only embeds them (``COLD_START_EMBED``), for the cold-start queue. An
    exception leaves the images in ``processing``,
    where the sweeper finds them and queues them again.
    """
    active = ActiveModel.objects.filter(
        taxonomy__sector__clients__images__pk__in=list(image_ids)
    ).exists()
    if not active:
        if settings.COLD_START_EMBED:
            from training.services.cold_start import cold_start_embed

            cold_start_embed(image_ids=image_ids)
        return
    # Imported here, not at module level, so that TensorFlow loads in the worker child only.
    from training.services.prediction import images_predict

    images_predict(image_ids=image_ids, decide=True)


def image_derivatives_make(*, image: Image) -> None:
    """Decode the stored original once; store the thumbnail and the model-input image.
    Raises ImageRejected when the file is missing or cannot be read."""
    data = _load_original(image)
    derivatives = _derive(data)
    thumbnail = _replace(storage_names.thumbnail_name(image.file.name), derivatives.thumbnail)
    _replace(storage_names.model_input_name(image.file.name), derivatives.model_input)
    image.thumbnail.name = thumbnail
    image.width, image.height = derivatives.width, derivatives.height
    if image.dhash:
        # Hashed at upload (and indexed there), where the librarian saw its near-duplicates.
        image.save(update_fields=["thumbnail", "width", "height"])
        return
    image.dhash = dhash(derivatives.thumbnail)
    with transaction.atomic():
        image.save(update_fields=["thumbnail", "width", "height", "dhash"])
        duplicates.image_hash_bands_store(images=[image])


def model_input_name(image: Image) -> str:
    """Where the ML core reads the image it embeds: RGB, upright, ≤ 512 px, no metadata."""
    return storage_names.model_input_name(image.file.name)


def stuck_images_requeue(*, older_than: timedelta | None = None) -> list[int]:
    """Queue again the images the worker should have finished with by now: stuck in
    ``processing`` (a worker died, the hook raised: they go back to ``uploaded``), or still
    in ``uploaded`` (the message was lost, or the broker was down). Returns their ids.

    Each one's ``status_changed_at`` is reset, so an image behind a long queue is sent again
    at most once per period; a repeated message is harmless (the task claims first)."""
    if older_than is None:
        older_than = timedelta(minutes=settings.INGEST_STUCK_AFTER_MINUTES)
    now = timezone.now()
    waiting = Image.objects.filter(
        status__in=[ImageStatus.PROCESSING, ImageStatus.UPLOADED],
        status_changed_at__lt=now - older_than,
    )
    with transaction.atomic():
        ids = list(waiting.order_by("status_changed_at").values_list("pk", flat=True)[:5000])
        if not ids:
            return []
        # The same condition again: an image that moved on since the read is left alone.
        # (An image still in uploaded stays there, stamped again.)
        waiting.filter(pk__in=ids).move_status(ImageStatus.UPLOADED, stay=True, now=now)
        for start in range(0, len(ids), SWEEP_CHUNK):
            chunk = ids[start : start + SWEEP_CHUNK]
            transaction.on_commit(lambda chunk=chunk: _enqueue(chunk))
    logger.warning("re-queued %d image(s) waiting since before %s", len(ids), now - older_than)
    return ids


def _enqueue(image_ids: list[int]) -> None:
    uploads.enqueue_ingest(image_ids)


def _load_original(image: Image) -> bytes:
    if not image.file.name:
        raise ImageRejected("missing_file", "The image has no stored file.")
    try:
        with default_storage.open(image.file.name, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise ImageRejected(
            "missing_file", f"The stored file could not be opened ({exc.__class__.__name__})."
        ) from None


def _derive(data: bytes) -> Derivatives:
    return image_validation.make_derivatives(
        data,
        max_pixels=settings.MAX_IMAGE_PIXELS,
        max_decoded_bytes=settings.MAX_DECODED_BYTES,
    )


def _replace(name: str, data: bytes) -> str:
    # A retried image writes its derivatives again under the same names: the model-input
    # name is derived from the original's, never looked up, so it must not drift.
    default_storage.delete(name)
    return default_storage.save(name, ContentFile(data))
