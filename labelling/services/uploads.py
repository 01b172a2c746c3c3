"""Upload batches and the files put into them.

A file is checked (labelling.image_validation), hashed, stored under a server-made name and
recorded as an Image in ``uploaded``; the ingest task is queued after the commit. A file
refused on the way never becomes a row: its reason goes on the batch (UploadBatch.rejections),
and so does a duplicate, which points at the image already in the library.

The perceptual hash is computed here too, from the decode that validation does anyway, and
stored with its index rows: a stored file whose picture is nearly one already in the client's
library (re-encoded, resized, lightly edited) is stored, and its outcome names those images
(``looks_like``), so the librarian hears it while still on the upload page.

Everything slow (reading, decoding, hashing, writing files) happens before the one short
transaction that inserts the rows, so concurrent uploads into one batch queue only for that.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from labelling import image_validation, storage_names
from labelling.image_validation import ImageInfo, ImageRejected
from labelling.models import Client, Image, ImageStatus, UploadBatch
from labelling.selectors.duplicates import near_duplicates_of
from labelling.services.duplicates import image_hash_bands_store
from labelling.tasks import ingest_images

logger = logging.getLogger(__name__)

# One or a few files per request: a browser sends one, a script a handful. Large batches are
# many requests, never one giant body.
MAX_FILES_PER_REQUEST = settings.DATA_UPLOAD_MAX_NUMBER_FILES

STORED, DUPLICATE, REJECTED = "stored", "duplicate", "rejected"


class IncomingFile(Protocol):
    """What Django's UploadedFile and ContentFile both are."""

    name: str | None
    size: int

    def read(self, size: int = -1) -> bytes: ...


@dataclass
class FileOutcome:
    name: str  # the client's name, sanitised
    status: str  # STORED, DUPLICATE or REJECTED
    image: Image | None = None  # the stored image, or the one this file duplicates
    code: str = ""
    message: str = ""
    # Stored files only: (image id, bits apart) of the client's images it looks like.
    looks_like: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class _Candidate:
    index: int
    name: str
    data: bytes
    info: ImageInfo
    sha256: str
    stored_name: str = ""
    outcome: FileOutcome | None = field(default=None, repr=False)


def batch_create(*, client: Client, user, name: str = "") -> UploadBatch:
    name = name.strip()[:200] or f"Upload {timezone.localtime():%Y-%m-%d %H:%M}"
    return UploadBatch.objects.create(client=client, created_by=user, name=name)


def batch_files_upload(
    *, batch: UploadBatch, user, files: Sequence[IncomingFile]
) -> list[FileOutcome]:
    """Check, store and record ``files`` in ``batch``; one outcome per file, in order."""
    if len(files) > MAX_FILES_PER_REQUEST:
        raise ValueError(f"at most {MAX_FILES_PER_REQUEST} files per call")
    outcomes: list[FileOutcome | None] = [None] * len(files)
    candidates: list[_Candidate] = []
    for index, incoming in enumerate(files):
        raw_name = incoming.name or ""
        try:
            candidates.append(_check(index, raw_name, incoming))
        except ImageRejected as rejected:
            outcomes[index] = FileOutcome(
                name=_display_name(raw_name),
                status=REJECTED,
                code=rejected.code,
                message=rejected.message,
            )

    existing = _existing_by_hash(batch.client, [c.sha256 for c in candidates])
    first_of_hash: dict[str, _Candidate] = {}
    to_store: list[_Candidate] = []
    repeats: list[_Candidate] = []  # the same bytes twice in one request
    for candidate in candidates:
        if candidate.sha256 in existing:
            outcomes[candidate.index] = _duplicate(candidate.name, existing[candidate.sha256])
        elif candidate.sha256 in first_of_hash:
            repeats.append(candidate)
        else:
            first_of_hash[candidate.sha256] = candidate
            to_store.append(candidate)

    written: list[str] = []
    try:
        for candidate in to_store:
            candidate.stored_name = _store(
                storage_names.original_name(
                    client_id=batch.client_id, extension=candidate.info.extension
                ),
                candidate.data,
            )
            written.append(candidate.stored_name)
        orphans = _record(
            batch=batch,
            user=user,
            stored=to_store,
            repeats=repeats,
            first_of_hash=first_of_hash,
            outcomes=outcomes,
        )
    except BaseException:
        _delete_quietly(written)
        raise
    _delete_quietly(orphans)
    _name_near_duplicates(batch.client_id, outcomes)
    return outcomes  # type: ignore[return-value]


def _name_near_duplicates(client_id: int, outcomes: list[FileOutcome | None]) -> None:
    """After the commit, so that files of one request (or of parallel ones) that look alike
    name each other: one indexed query for the request."""
    stored = {
        o.image.pk: o
        for o in outcomes
        if o is not None and o.status == STORED and o.image is not None and o.image.dhash
    }
    if not stored:
        return
    found = near_duplicates_of(client_id, {pk: o.image.dhash for pk, o in stored.items()})
    for pk, outcome in stored.items():
        outcome.looks_like = found.get(pk, [])


def batch_counts(*, batch: UploadBatch) -> dict:
    """What a script polls: images of the batch per status, and refusals per reason."""
    by_status = dict(
        batch.images.order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    counts = {status: by_status.get(status, 0) for status in ImageStatus.values}
    counts["total"] = sum(by_status.values())
    refusals = Counter(entry.get("code", "") for entry in batch.rejections)
    return {
        "images": counts,
        "refused": {"total": sum(refusals.values()), "by_code": dict(sorted(refusals.items()))},
        # Nothing left for the worker to do: every stored image has left uploaded/processing.
        "done": counts[ImageStatus.UPLOADED] + counts[ImageStatus.PROCESSING] == 0,
    }


def enqueue_ingest(image_ids: list[int]) -> None:
    """Hand images to the worker. Called after the commit, so the worker finds the rows.

    A broker that cannot take the message must not turn a stored upload into an error (the
    browser would send the file again and be told it is a duplicate): the images stay in
    ``uploaded`` and the sweeper queues them later."""
    try:
        ingest_images.delay(image_ids)
    except Exception:
        logger.exception("could not queue images %s for ingest; the sweeper will", image_ids)


def _check(index: int, raw_name: str, incoming: IncomingFile) -> _Candidate:
    unsafe = storage_names.unsafe_name(raw_name)
    if unsafe is not None:
        raise ImageRejected(
            "unsafe_name",
            f"The file name “{_printable(unsafe)}” points outside its folder; it was refused. "
            "Rename the file and upload it again.",
        )
    max_bytes = settings.MAX_UPLOAD_BYTES
    size = getattr(incoming, "size", None)
    if size is not None and size > max_bytes:
        # Checked before reading, so a huge file is not pulled into memory.
        raise ImageRejected(
            "file_too_large",
            f"The file is {size / 1048576:.1f} MB; the limit is {max_bytes / 1048576:.1f} MB.",
        )
    data = _read(incoming)
    info = image_validation.inspect_image(
        data,
        max_pixels=settings.MAX_IMAGE_PIXELS,
        max_bytes=max_bytes,
        max_decoded_bytes=settings.MAX_DECODED_BYTES,
    )
    return _Candidate(
        index=index,
        name=storage_names.sanitise_original_name(raw_name),
        data=data,
        info=info,
        sha256=_sha256(data),
    )


def _read(incoming: IncomingFile) -> bytes:
    if hasattr(incoming, "seek"):
        incoming.seek(0)
    return incoming.read()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _store(name: str, data: bytes) -> str:
    return default_storage.save(name, ContentFile(data))


def _existing_by_hash(client: Client, hashes: list[str]) -> dict[str, Image]:
    if not hashes:
        return {}
    return {
        image.sha256: image
        for image in Image.objects.for_client(client)
        .filter(sha256__in=set(hashes))
        .only("id", "sha256", "original_name", "status", "client_id")
    }


def _record(
    *,
    batch: UploadBatch,
    user,
    stored: list[_Candidate],
    repeats: list[_Candidate],
    first_of_hash: dict[str, _Candidate],
    outcomes: list[FileOutcome | None],
) -> list[str]:
    """Insert the rows and note the refusals, in one transaction. Returns the stored files
    that lost a race to an identical upload (their rows were not inserted)."""
    orphans: list[str] = []
    uploader = user if getattr(user, "is_authenticated", False) else None
    with transaction.atomic():
        images = [_new_image(batch, uploader, candidate) for candidate in stored]
        try:
            # One INSERT for the request; a clash with a concurrent identical upload (rare)
            # falls back to one savepoint per row to find which.
            if images:
                with transaction.atomic():
                    Image.objects.bulk_create(images)
        except IntegrityError:
            images = [_insert_or_none(image) for image in images]
        image_hash_bands_store(images=[image for image in images if image is not None], new=True)
        created: list[int] = []
        for candidate, image in zip(stored, images, strict=True):
            if image is None:
                # Someone stored the same bytes for this client since we looked.
                orphans.append(candidate.stored_name)
                existing = (
                    Image.objects.for_client(batch.client_id)
                    .filter(sha256=candidate.sha256)
                    .first()
                )
                candidate.outcome = _duplicate(candidate.name, existing)
            else:
                created.append(image.pk)
                candidate.outcome = FileOutcome(name=candidate.name, status=STORED, image=image)
            outcomes[candidate.index] = candidate.outcome
        for repeat in repeats:
            first = first_of_hash[repeat.sha256].outcome
            outcomes[repeat.index] = _duplicate(repeat.name, first.image if first else None)

        refusals = [o for o in outcomes if o is not None and o.status != STORED]
        if refusals:
            _note_refusals(batch, refusals)
        if created:
            transaction.on_commit(lambda: enqueue_ingest(created))
    return orphans


def _new_image(batch: UploadBatch, uploader, candidate: _Candidate) -> Image:
    return Image(
        client_id=batch.client_id,
        batch=batch,
        file=candidate.stored_name,
        original_name=candidate.name,
        sha256=candidate.sha256,
        format=candidate.info.format,
        width=candidate.info.width,
        height=candidate.info.height,
        size_bytes=len(candidate.data),
        dhash=candidate.info.dhash,
        uploaded_by=uploader,
        status=ImageStatus.UPLOADED,
    )


def _insert_or_none(image: Image) -> Image | None:
    image.pk = None
    try:
        with transaction.atomic():
            image.save(force_insert=True)
    except IntegrityError:
        return None
    return image


def _note_refusals(batch: UploadBatch, refusals: list[FileOutcome]) -> None:
    # The row is locked (PostgreSQL) or the write lock is held (SQLite in IMMEDIATE mode),
    # so refusals from parallel requests into one batch are all kept.
    locked = UploadBatch.objects.select_for_update().only("id", "rejections").get(pk=batch.pk)
    locked.rejections = [*locked.rejections, *(_entry(o) for o in refusals)]
    locked.save(update_fields=["rejections"])
    batch.rejections = locked.rejections


def _entry(outcome: FileOutcome) -> dict:
    entry = {
        "name": outcome.name,
        "code": outcome.code,
        "message": outcome.message,
        "at": timezone.now().isoformat(timespec="seconds"),
    }
    if outcome.status == DUPLICATE and outcome.image is not None:
        entry["image"] = outcome.image.pk
    return entry


def _duplicate(name: str, image: Image | None) -> FileOutcome:
    described = f" as image {image.pk} (“{image.original_name}”)" if image is not None else ""
    return FileOutcome(
        name=name,
        status=DUPLICATE,
        image=image,
        code="duplicate",
        message=f"This file is already in the library{described}; it was not stored again.",
    )


def _display_name(raw_name: str) -> str:
    unsafe = storage_names.unsafe_name(raw_name)
    return (
        _printable(unsafe) if unsafe is not None else storage_names.sanitise_original_name(raw_name)
    )


def _printable(name: str) -> str:
    return "".join(ch if ch.isprintable() else "?" for ch in name)[:200]


def _delete_quietly(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except Exception:  # a leftover file is harmless; a masked error is not
            logger.exception("could not delete %s after a failed upload", name)
