"""What happened to a client's images, in counts: per status (the model's own tags and the
rejections included) and per upload batch ("97 tagged, 103 to review")."""

from __future__ import annotations

from django.db.models import Count

from labelling.models import Client, Image, ImageStatus, UploadBatch

S = ImageStatus


def _by_status(rows) -> dict[str, int]:
    counts = {status: 0 for status in S.values}
    for status, n in rows:
        counts[status] = n
    return counts


def image_counts(client: Client) -> dict[str, int]:
    """The client's images per status, in one query, with ``total`` and ``in_progress``
    (uploaded or being processed)."""
    rows = (
        Image.objects.for_client(client)
        .order_by()
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    counts = _by_status(rows)
    counts["total"] = sum(counts[s] for s in S.values)
    counts["in_progress"] = counts[S.UPLOADED] + counts[S.PROCESSING]
    return counts


def batch_summary_text(counts: dict[str, int]) -> str:
    """ "97 tagged, 103 to review": tagged is what carries labels now (by the model or a
    person), then what waits for people, and what was rejected, failed or is still being
    processed; a part that is zero is left out (all zero: "no images")."""
    tagged = counts[S.AUTO_TAGGED] + counts[S.VERIFIED]
    parts = []
    if tagged:
        by_model = counts[S.AUTO_TAGGED]
        detail = f" ({by_model} by the model)" if by_model and by_model != tagged else ""
        parts.append(f"{tagged} tagged{detail}")
    for key, words in (
        (S.NEEDS_REVIEW, "to review"),
        (S.REJECTED, "rejected"),
        (S.NO_LABEL, "fit no label"),
        (S.FAILED, "failed"),
    ):
        if counts[key]:
            parts.append(f"{counts[key]} {words}")
    pending = counts[S.UPLOADED] + counts[S.PROCESSING]
    if pending:
        parts.append(f"{pending} still processing")
    return ", ".join(parts) or "no images"


def batch_summaries(client: Client, *, limit: int = 5) -> list[dict]:
    """The client's latest batches, newest first, each with its counts per status and the
    sentence that sums them up; two queries whatever ``limit`` is."""
    batches = list(
        UploadBatch.objects.filter(client=client)
        .select_related("created_by")
        .order_by("-created_at", "-id")[:limit]
    )
    rows = (
        Image.objects.filter(batch__in=batches)
        .order_by()
        .values_list("batch_id", "status")
        .annotate(n=Count("id"))
    )
    per_batch: dict[int, list] = {}
    for batch_id, status, n in rows:
        per_batch.setdefault(batch_id, []).append((status, n))
    summaries = []
    for batch in batches:
        counts = _by_status(per_batch.get(batch.pk, []))
        summaries.append({"batch": batch, "counts": counts, "text": batch_summary_text(counts)})
    return summaries
