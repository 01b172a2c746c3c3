"""Cold start: before a taxonomy has any model, the review queue offers its unlabelled
images in groups of similar ones, the groups' first images spread over the whole collection
(``training.diversity``), so that a person labels a page at a time and the first model,
which trains once every label has a few verified images, learns from varied examples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from django.conf import settings

from labelling.models import Client, Image, ImageStatus
from training.backbones import embedding_key, get_spec
from training.diversity import similar_groups
from training.embedding_store import embeddings_ensure, stored_embeddings
from training.models import ImageEmbedding
from training.selectors import active_version


def _kind() -> tuple[str, str]:
    # What the first model will train on, so that the work is not done twice.
    backbone = settings.DEFAULT_BACKBONE
    return backbone, get_spec(backbone).default_embedding


def cold_start_embed(*, image_ids: Sequence[int]) -> None:
    """Embed (and store) images that arrive before any model (in the ingest worker)."""
    backbone, embedding = _kind()
    embeddings_ensure(list(Image.objects.filter(pk__in=list(image_ids))), backbone, embedding)


def _waiting(client: Client):
    return Image.objects.filter(
        client=client, status=ImageStatus.NEEDS_REVIEW, predictions__isnull=True
    )


def cold_start_pending(*, client: Client) -> bool:
    """Whether cold_start_groups would offer anything, without forming the groups (the
    review page asks on every load)."""
    taxonomy = client.taxonomy
    if taxonomy is None or active_version(taxonomy) is not None:
        return False
    backbone, embedding = _kind()
    return ImageEmbedding.objects.filter(
        image__in=_waiting(client), key=embedding_key(backbone, embedding)
    ).exists()


def cold_start_groups(*, client: Client, size: int) -> list[list[int]]:
    """The client's images waiting for a person that no model has seen, with a stored
    embedding, as groups of at most ``size`` similar ones in the order to show them. Empty
    once the taxonomy has an active model (its predictions order the queue then)."""
    taxonomy = client.taxonomy
    if taxonomy is None or active_version(taxonomy) is not None:
        return []
    waiting = list(_waiting(client).order_by("pk").values_list("pk", flat=True))
    backbone, embedding = _kind()
    vectors = stored_embeddings(waiting, backbone, embedding)
    ids = [pk for pk in waiting if pk in vectors]
    if not ids:
        return []
    X = np.stack([vectors[pk] for pk in ids])
    return [[ids[i] for i in group] for group in similar_groups(X, size=size)]
