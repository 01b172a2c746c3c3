"""The embedding map: a 2-D layout of a client's images, computed on the training queue
from their stored embeddings (``training.projection``) and stored as a file beside a row.

Single flight per client (a database constraint): asking again while one is queued or
running returns that one. A new map is asked for on the map page and after a training run
activates a version whose embeddings differ from the ones a client's map was laid out on.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from labelling.models import Client, Image, ImageStatus
from training.backbones import embedding_key, get_spec
from training.embedding_store import embeddings_ensure, from_bytes
from training.models import (
    ACTIVE_RUN_STATUSES,
    EmbeddingMap,
    ImageEmbedding,
    MapPhase,
    ModelVersion,
    RunStatus,
)
from training.selectors import active_version
from training.tasks import compute_embedding_map

logger = logging.getLogger(__name__)

# Images past ingestion: they have pixels a backbone has read (or can read).
MAPPED_STATUSES = (
    ImageStatus.AUTO_TAGGED,
    ImageStatus.NEEDS_REVIEW,
    ImageStatus.VERIFIED,
    ImageStatus.REJECTED,
    ImageStatus.NO_LABEL,
)
FILE_FORMAT = "taxonomy-map/1"
EMBED_CHUNK = 500  # images embedded per step (and per progress report) when some lack one


class MapUnavailable(Exception):
    """The stored layout cannot be read (gone, or not what the row says)."""


@dataclass(frozen=True)
class Layout:
    image_ids: np.ndarray  # int64 (n,)
    xy: np.ndarray  # float32 (n, 2), in [-1, 1]


def map_embedding_kind(client: Client) -> tuple[str, str, ModelVersion | None]:
    """(backbone, kind of embedding, version) the client's map is laid out on: the active
    version's own, else what the first model will train on (the cold-start embeddings)."""
    taxonomy = client.taxonomy
    version = active_version(taxonomy) if taxonomy is not None else None
    if version is not None:
        return version.backbone, version.embedding, version
    backbone = settings.DEFAULT_BACKBONE
    return backbone, get_spec(backbone).default_embedding, None


def embedding_map_request(*, client: Client, user=None, reason: str = "") -> EmbeddingMap:
    """Queue a map; while one is queued or running for the client, that one is returned
    (its layout will be as fresh as a second one's)."""
    try:
        with transaction.atomic():
            emap = EmbeddingMap.objects.create(
                client=client, requested_by=user, reason=reason[:200]
            )
    except IntegrityError:
        return EmbeddingMap.objects.get(client=client, status__in=ACTIVE_RUN_STATUSES)
    transaction.on_commit(lambda: compute_embedding_map.delay(emap.pk))
    return emap


def embedding_maps_after_training(*, model_version: ModelVersion) -> list[EmbeddingMap]:
    """After a run: recompute the maps of the sector's clients that have one laid out on
    other embeddings than the version now serving (a client that never opened its map is
    not given one: a layout of 50,000 images costs minutes of a worker)."""
    taxonomy = model_version.taxonomy
    serving = active_version(taxonomy)
    if serving is None:
        return []
    key = embedding_key(serving.backbone, serving.embedding)
    requested = []
    for client in Client.objects.filter(sector_id=taxonomy.sector_id):
        latest = (
            EmbeddingMap.objects.filter(client=client, status=RunStatus.SUCCEEDED)
            .only("embedding_key")
            .first()
        )
        if latest is not None and latest.embedding_key != key:
            requested.append(
                embedding_map_request(
                    client=client,
                    reason=f"model v{serving.number} reads other embeddings",
                )
            )
    return requested


def embedding_map_sweep_stale(*, stale_after: timedelta) -> int:
    """Fail maps whose worker died (no heartbeat for ``stale_after``), so that single
    flight lets the next one start."""
    cutoff = timezone.now() - stale_after
    return EmbeddingMap.objects.filter(status=RunStatus.RUNNING, heartbeat_at__lt=cutoff).update(
        status=RunStatus.FAILED,
        finished_at=timezone.now(),
        message="The worker stopped while laying out this map; it can be asked for again.",
    )


def embedding_map_execute(*, map_id: int) -> EmbeddingMap | None:
    """Lay out a queued map to the end. A failure is stored on the row, in words."""
    now = timezone.now()
    claimed = EmbeddingMap.objects.filter(pk=map_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None  # gone, or another worker has it
    emap = EmbeddingMap.objects.select_related("client", "client__sector").get(pk=map_id)
    try:
        name, sha256 = _compute(emap)
    except Exception as exc:
        if not isinstance(exc, ValueError):
            logger.exception("embedding map %s failed", emap.pk)
        message = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
        EmbeddingMap.objects.filter(pk=emap.pk).update(
            status=RunStatus.FAILED, message=message[:2000], finished_at=timezone.now()
        )
        emap.refresh_from_db()
        return emap
    emap.status = RunStatus.SUCCEEDED
    emap.file, emap.file_sha256 = name, sha256
    emap.phase = ""
    emap.finished_at = timezone.now()
    emap.save(
        update_fields=[
            "status",
            "file",
            "file_sha256",
            "phase",
            "finished_at",
            "n_points",
            "method",
            "embedding_key",
            "model_version",
        ]
    )
    embedding_maps_prune(keep=emap)
    return emap


def _phase(emap: EmbeddingMap, phase: str, done: int = 0, total: int = 0) -> None:
    emap.phase, emap.phase_done, emap.phase_total = phase, done, total
    emap.heartbeat_at = timezone.now()
    emap.save(update_fields=["phase", "phase_done", "phase_total", "heartbeat_at"])


def _compute(emap: EmbeddingMap) -> tuple[str, str]:
    from training.projection import default_method, project_2d

    client = emap.client
    backbone, embedding, version = map_embedding_kind(client)
    emap.embedding_key = embedding_key(backbone, embedding)
    emap.model_version = version
    images = list(
        Image.objects.filter(client=client, status__in=MAPPED_STATUSES)
        .order_by("pk")
        .only("pk", "file", "client_id")
    )
    if not images:
        raise ValueError(f"{client.name} has no ingested images to lay out yet.")
    # The stored ones by a join on the client (not an IN list of 50,000 ids); the missing
    # ones are embedded now, a chunk at a time.
    vectors = {
        image_id: from_bytes(vector, dim)
        for image_id, vector, dim in ImageEmbedding.objects.filter(
            image__client=client, image__status__in=MAPPED_STATUSES, key=emap.embedding_key
        )
        .values_list("image_id", "vector", "dim")
        .iterator(chunk_size=2000)
    }
    missing = [image for image in images if image.pk not in vectors]
    _phase(emap, MapPhase.EMBEDDING, len(images) - len(missing), len(images))
    for start in range(0, len(missing), EMBED_CHUNK):
        chunk = missing[start : start + EMBED_CHUNK]
        vectors.update(embeddings_ensure(chunk, backbone, embedding).vectors)
        done = len(images) - len(missing) + start + len(chunk)
        _phase(emap, MapPhase.EMBEDDING, done, len(images))
    ids = np.asarray([image.pk for image in images if image.pk in vectors], np.int64)
    if len(ids) == 0:
        raise ValueError(f"None of {client.name}'s images could be embedded for the map.")
    X = np.stack([vectors[int(pk)] for pk in ids])

    method = settings.EMBEDDING_MAP_METHOD or default_method()
    phases = {"pca": MapPhase.PCA, "tsne": MapPhase.TSNE}
    xy = project_2d(
        X,
        method=method,
        n_jobs=settings.EMBEDDING_MAP_JOBS,
        progress=lambda phase, done, total: _phase(emap, phases[phase], done, total),
    )
    emap.method, emap.n_points = method, len(ids)
    _phase(emap, MapPhase.STORING)
    data = layout_bytes(Layout(image_ids=ids, xy=xy))
    # A new name every time: a stored layout is never overwritten, and the row points at
    # it only once the whole file is there, so a reader never sees half of one.
    name = f"maps/{client.pk}/{emap.pk}-{uuid.uuid4().hex[:12]}.npz"
    stored = default_storage.save(name, ContentFile(data))
    return stored, hashlib.sha256(data).hexdigest()


def layout_bytes(layout: Layout) -> bytes:
    buffer = io.BytesIO()
    np.savez(
        buffer,
        format=np.asarray(FILE_FORMAT),
        image_ids=np.asarray(layout.image_ids, dtype=np.int64),
        xy=np.asarray(layout.xy, dtype=np.float32),
    )
    return buffer.getvalue()


def layout_read(emap: EmbeddingMap) -> Layout:
    """The stored layout of a succeeded map, checked against the row's checksum."""
    try:
        with default_storage.open(emap.file, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, OSError) as exc:
        raise MapUnavailable("The stored map is gone; lay it out again.") from exc
    if hashlib.sha256(data).hexdigest() != emap.file_sha256:
        raise MapUnavailable("The stored map does not match its checksum; lay it out again.")
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        if str(npz["format"]) != FILE_FORMAT:
            raise MapUnavailable(f"The stored map is in an unknown format ({npz['format']}).")
        return Layout(image_ids=npz["image_ids"], xy=npz["xy"])


def embedding_maps_prune(*, keep: EmbeddingMap) -> int:
    """Drop the client's older maps and their files: the new one supersedes them."""
    older = EmbeddingMap.objects.filter(client_id=keep.client_id, created_at__lte=keep.created_at)
    older = older.exclude(pk=keep.pk).exclude(status__in=ACTIVE_RUN_STATUSES)
    names = [name for name in older.values_list("file", flat=True) if name]
    deleted, _ = older.delete()
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:  # a file already gone is what we wanted
            logger.warning("could not delete old map file %s", name)
    return deleted


# Coordinates travel as integers 0..QUANT (a 50,000-point map in about a megabyte of JSON);
# the page maps them back into [-1, 1]. One step is 1/32767 of the map's width.
QUANT = 65534


def map_points(*, client: Client, emap: EmbeddingMap) -> dict:
    """What the map page draws, in one compact answer: the stored layout's points that are
    still the client's images, each with its current status and label as small integer
    codes into the ``statuses`` and ``labels`` lists."""
    from labelling.models import ImageLabel
    from labelling.models.images import LabelSource
    from labelling.selectors.labels import label_choices

    layout = layout_read(emap)
    status_of = dict(Image.objects.filter(client=client).values_list("pk", "status"))
    keep = np.isin(layout.image_ids, np.fromiter(status_of, np.int64, len(status_of)))
    ids = layout.image_ids[keep]
    xy = layout.xy[keep]
    on_map = set(ids.tolist())

    # One label per point: a person's first, else the most probable machine tag.
    label_of: dict[int, tuple[int, float]] = {}
    rows = ImageLabel.objects.filter(image__client=client).values_list(
        "image_id", "label_id", "source", "probability"
    )
    for image_id, label_id, source, probability in rows.iterator(chunk_size=5000):
        rank = 2.0 if source == LabelSource.HUMAN else float(probability or 0.0)
        if image_id not in label_of or rank > label_of[image_id][1]:
            label_of[image_id] = (label_id, rank)

    choices = {c.id: c for c in label_choices(client)}
    counts: dict[int, int] = {}
    for pk in ids.tolist():
        if pk in label_of:
            counts[label_of[pk][0]] = counts.get(label_of[pk][0], 0) + 1
    # Commonest first, so that the palette's most distinct colours go to the largest groups.
    order = sorted(counts, key=lambda label_id: (-counts[label_id], label_id))
    code = {label_id: i for i, label_id in enumerate(order)}
    statuses = [(value, name) for value, name in ImageStatus.choices]
    status_code = {value: i for i, (value, _name) in enumerate(statuses)}

    quantised = np.rint((xy.astype(np.float64) + 1.0) / 2.0 * QUANT).astype(np.int64)
    return {
        "map": {
            "id": emap.pk,
            "finishedAt": emap.finished_at.isoformat() if emap.finished_at else None,
            "method": emap.method,
            "embedding": emap.embedding_key,
        },
        "count": len(ids),
        "quant": QUANT,
        "ids": ids.tolist(),
        "x": quantised[:, 0].tolist(),
        "y": quantised[:, 1].tolist(),
        "label": [code[label_of[pk][0]] if pk in label_of else -1 for pk in ids.tolist()],
        "status": [status_code[status_of[pk]] for pk in ids.tolist()],
        "labels": [
            {
                "id": label_id,
                "name": choices[label_id].path if label_id in choices else f"label {label_id}",
                "count": counts[label_id],
            }
            for label_id in order
        ],
        "statuses": [{"key": value, "name": str(name)} for value, name in statuses],
        "unlabelled": int(len(ids) - sum(counts.values())),
        # Ingested since the layout: a new layout would place them.
        "notOnMap": sum(
            1 for pk, status in status_of.items() if status in MAPPED_STATUSES and pk not in on_map
        ),
    }
