"""The review queue: handing images to reviewers, their decisions, undo and release.

Who holds what. ``review_next`` gives a reviewer the images they already hold (renewing the
holds) and claims more up to the count asked for. A claim picks candidates in queue order
(least certain first, or oldest first; read from the queue's head, which each process keeps
for a few seconds, see _Windows) that nobody holds, locks them with
``SELECT … FOR UPDATE SKIP LOCKED`` where the database has it (PostgreSQL: two reviewers
claiming at once skip each other's rows instead of waiting or colliding), then inserts one
ReviewLease per image with ``ON CONFLICT DO NOTHING`` and reads back which inserts were its
own. The unique lease per image is what makes it safe everywhere: SQLite has no SKIP LOCKED
(its writers queue for one lock instead), and on PostgreSQL a candidate read just before
another claim committed loses the insert and is simply not handed out.

A hold expires (``REVIEW_LEASE_SECONDS``); each call to next renews the caller's holds, and an
expired hold stays its holder's until someone else claims the image. Submitting, releasing or
undoing ends or replaces a hold.

Decisions. A submission quotes the hold it answers (its token); it is refused as a whole, with
the reason per image, when a hold is gone, has passed to someone else, or the image changed
since it was handed out (``status_changed_at``), so a stale or repeated answer never lands. A
decision on an image replaces its labels with the person's (source human: the next training
set reads them), moves it to verified (or rejected: none of these labels) and records a
Review with a snapshot of the image's previous labels, from which undo restores it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, FloatField, OuterRef, QuerySet, Subquery
from django.utils import timezone

from labelling.models import (
    Client,
    ClientLabelName,
    Image,
    ImageLabel,
    ImageStatus,
    Label,
    Prediction,
    Review,
    ReviewDecision,
    ReviewLease,
    ReviewSnapshot,
    Taxonomy,
)
from labelling.models.images import LabelSource
from training.services.retraining import retraining_after_review

DEFAULT_LEASE_SECONDS = 300
DEFAULT_WINDOW_SECONDS = 5.0  # how long a process reuses a queue's head (see _Windows)
WINDOW_SIZE = 300
CLAIM_SLACK = 8  # candidates read beyond those asked for, in case some were just taken
MAX_ITEMS = 100  # per call to next: a grid page and the one after it
MAX_DECISIONS = 200  # per submission
MAX_SECONDS_SPENT = 3600.0
# A multi-label model suggests every label at least this probable (sigmoid outputs).
MULTI_LABEL_SUGGEST_AT = 0.5

# The queue serves images the model was unsure of; auto-tagged ones can be queued too, to
# check the model's own tags (their corrections measure the auto-accept policy's precision).
QUEUE_STATUSES = (ImageStatus.NEEDS_REVIEW, ImageStatus.AUTO_TAGGED)

# An image's latest prediction is its newest model version's (versions only ever grow, and
# there is one prediction per image and version): ordering by the version walks the unique
# (image, version) index, where "most recently created" would sort each image's predictions,
# which costs a third more when a whole queue is ordered.
LATEST = ("-model_version_id",)

LEAST_CERTAIN, MOST_CERTAIN, OLDEST = "least_certain", "most_certain", "oldest"
ORDERS = {
    LEAST_CERTAIN: "Least certain first",
    MOST_CERTAIN: "Most certain first",
    OLDEST: "Oldest first",
}


def lease_seconds() -> int:
    return int(getattr(settings, "REVIEW_LEASE_SECONDS", DEFAULT_LEASE_SECONDS))


@dataclass(frozen=True)
class QueueFilters:
    status: str = ImageStatus.NEEDS_REVIEW
    label: int | None = None  # the model's top label
    batch: int | None = None
    order: str = LEAST_CERTAIN


@dataclass
class QueueItem:
    """An image handed to a reviewer, with what the page needs to show it."""

    image: Image
    lease: ReviewLease | None
    prediction: Prediction | None
    labels: list[ImageLabel]  # what it carries now (the model's tags, for auto-tagged ones)
    suggested: list[int]  # what "accept" means: the model's label(s)


@dataclass(frozen=True)
class Decision:
    image: int
    decision: str
    labels: tuple[int, ...] = ()
    lease: uuid.UUID | None = None
    seconds_spent: float | None = None


@dataclass
class UndoOutcome:
    reviews: list[Review]
    items: list[QueueItem] = field(default_factory=list)


class ReviewConflict(Exception):
    """The submission (or undo) no longer matches what the database holds; nothing was
    stored. ``conflicts`` says, per image, why."""

    def __init__(self, conflicts: list[dict], *, outcome: str = "Nothing was stored."):
        self.conflicts = conflicts
        self.code = conflicts[0]["code"] if len({c["code"] for c in conflicts}) == 1 else "mixed"
        first = conflicts[0]["message"]
        more = f" (and {len(conflicts) - 1} more)" if len(conflicts) > 1 else ""
        super().__init__(f"{first}{more} {outcome}")

    @property
    def message(self) -> str:
        return str(self)


class NothingToUndo(Exception):
    pass


UNDO_REFUSED = "Nothing was undone."


# --- The queue ---------------------------------------------------------------------------


def review_queue(client: Client, filters: QueueFilters) -> QuerySet[Image]:
    """The client's images waiting for review under ``filters``, in queue order, annotated
    with the latest prediction's ``confidence`` and ``predicted_label``."""
    latest = Prediction.objects.filter(image=OuterRef("pk")).order_by(*LATEST)
    images = Image.objects.filter(client=client, status=filters.status).annotate(
        confidence=Subquery(latest.values("top_probability")[:1], output_field=FloatField()),
        predicted_label=Subquery(latest.values("top_label")[:1]),
    )
    if filters.batch is not None:
        images = images.filter(batch_id=filters.batch)
    if filters.label is not None:
        images = images.filter(predicted_label=filters.label)
    if filters.order == OLDEST:
        return images.order_by("created_at", "id")
    # Images the model has not seen yet come after those it is unsure of: there is nothing to
    # suggest for them.
    if filters.order == MOST_CERTAIN:
        return images.order_by(F("confidence").desc(nulls_last=True), "created_at", "id")
    return images.order_by(F("confidence").asc(nulls_last=True), "created_at", "id")


def review_queue_labels(client: Client, *, status: str, batch: int | None = None) -> dict:
    """How many images wait per label the model put them in (``None``: not predicted)."""
    images = review_queue(client, QueueFilters(status=status, batch=batch)).order_by()
    rows = images.values("predicted_label").annotate(n=Count("pk")).order_by()
    return {row["predicted_label"]: row["n"] for row in rows}


def review_next(
    *,
    client: Client,
    reviewer,
    filters: QueueFilters,
    count: int,
    exclude: Iterable[int] = (),
    defer_refresh: bool = False,
) -> list[QueueItem]:
    """The images ``reviewer`` holds in this queue, then newly claimed ones, up to ``count``:
    calling it again returns the same holds (renewed) until they are answered or released.
    ``exclude``: images not to hand out (the ones the reviewer skipped). ``defer_refresh``:
    the caller will call review_windows_refresh_due() after answering (see _Windows)."""
    count = max(1, min(int(count), MAX_ITEMS))
    exclude = set(exclude)
    now = timezone.now()
    expires = now + timedelta(seconds=lease_seconds())
    queue = review_queue(client, filters)
    window = _windows.get(client, filters, now=now, defer=defer_refresh)
    with transaction.atomic():
        renewed = ReviewLease.objects.filter(client=client, reviewer=reviewer).update(
            expires_at=expires
        )
        held = _held(client, queue, reviewer, exclude=exclude, count=count) if renewed else []
        claimed: list[int] = []
        tried = set(held) | exclude
        refreshed = False
        for _attempt in range(5):
            need = count - len(held) - len(claimed)
            if need <= 0:
                break
            ids = [pk for pk in window if pk not in tried][: need + CLAIM_SLACK]
            if not ids:
                if refreshed:
                    break
                window, refreshed = _windows.refresh(client, filters, now=now), True
                continue
            tried.update(ids)
            leases = ReviewLease.objects.filter(image=OuterRef("pk"))
            free = (
                queue.filter(pk__in=ids)
                .exclude(Exists(leases.filter(expires_at__gt=now)))
                .annotate(expired=Exists(leases))
            )
            if connection.features.has_select_for_update_skip_locked:
                # Rows another reviewer is claiming right now are skipped, not waited for.
                free = free.select_for_update(skip_locked=True, of=("self",))
            rows = list(free.values_list("pk", "status_changed_at", "expired"))
            claimed += _claim(
                client,
                reviewer,
                [(pk, changed_at) for pk, changed_at, _ in rows[:need]],
                now=now,
                expires=expires,
                expired=[pk for pk, _, expired in rows[:need] if expired],
            )
            # Whatever was not free, and whatever was just claimed (by us or by someone who
            # beat us to it), is out of the window.
            free_ids = {pk for pk, _, _ in rows[need:]}
            _windows.discard(client, [pk for pk in ids if pk not in free_ids])
    return _items(client, held + claimed, reviewer=reviewer)


def _held(
    client: Client, queue: QuerySet[Image], reviewer, *, exclude: set[int], count: int
) -> list[int]:
    """The images of ``queue`` the reviewer holds and that have not changed since."""
    mine = ReviewLease.objects.filter(client=client, reviewer=reviewer).values("image_id")
    held = queue.filter(
        pk__in=mine,
        review_lease__reviewer=reviewer,
        review_lease__image_changed_at=F("status_changed_at"),
    )
    if exclude:
        held = held.exclude(pk__in=exclude)
    return list(held.values_list("pk", flat=True)[:count])


class _Windows:
    """The head of each queue (its first WINDOW_SIZE free images, in queue order), kept per
    process for a few seconds.

    Ordering a queue means computing every waiting image's confidence: tens of milliseconds at
    ten thousand images. The window pays that once per few seconds; a claim then only reads
    and locks the few images it takes, by primary key, and checks them again there (status,
    filters, live holds), so a window that is out of date only costs a retry. Images that come
    back to the queue (released, undone) are seen at once in this process, and by the others
    when their windows are next read again."""

    STALE_FOR_AT_MOST = 6  # × the window's seconds: older than that, it is read again first

    def __init__(self):
        self._lock = threading.Lock()
        self._heads: dict[tuple, tuple[float, list[int]]] = {}
        self._due: dict[tuple, tuple[Client, QueueFilters]] = {}

    @staticmethod
    def seconds() -> float:
        return float(getattr(settings, "REVIEW_QUEUE_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS))

    def get(self, client: Client, filters: QueueFilters, *, now, defer: bool = False) -> list[int]:
        """The head, read again if it is older than ``seconds()``; with ``defer``, an old
        (but not too old) head is used once more and read again by refresh_due(), which
        the API calls once its answer has gone out."""
        key = (client.pk, filters)
        with self._lock:
            cached = self._heads.get(key)
        if cached is not None and cached[1]:
            age = time.monotonic() - cached[0]
            if age < self.seconds():
                return cached[1]
            if defer and age < self.seconds() * self.STALE_FOR_AT_MOST:
                with self._lock:
                    self._due[key] = (client, filters)
                return cached[1]
        return self.refresh(client, filters, now=now)

    def refresh_due(self) -> None:
        with self._lock:
            due, self._due = list(self._due.values()), {}
        for client, filters in due:
            self.refresh(client, filters, now=timezone.now())

    def refresh(self, client: Client, filters: QueueFilters, *, now) -> list[int]:
        head = list(
            review_queue(client, filters)
            .exclude(Exists(ReviewLease.objects.filter(image=OuterRef("pk"), expires_at__gt=now)))
            .values_list("pk", flat=True)[:WINDOW_SIZE]
        )
        with self._lock:
            self._heads[(client.pk, filters)] = (time.monotonic(), head)
        return head

    def discard(self, client: Client, ids: Iterable[int]) -> None:
        gone = set(ids)
        with self._lock:
            for key, (at, head) in list(self._heads.items()):
                if key[0] == client.pk:
                    self._heads[key] = (at, [pk for pk in head if pk not in gone])

    def forget(self, client: Client) -> None:
        with self._lock:
            for key in [key for key in self._heads if key[0] == client.pk]:
                del self._heads[key]

    def clear(self) -> None:
        with self._lock:
            self._heads.clear()
            self._due.clear()


_windows = _Windows()


def review_windows_clear() -> None:
    """Forget every cached queue head in this process (tests start from a clean slate)."""
    _windows.clear()


def review_windows_refresh_due() -> None:
    """Read again the queue heads that review_next(defer_refresh=True) used past their time:
    for the API to call once its answer has gone out, so that no reviewer waits for it."""
    _windows.refresh_due()


def _claim(
    client: Client, reviewer, candidates, *, now, expires, expired: Iterable[int] | None = None
) -> list[int]:
    """Lease ``candidates`` ([(image id, status_changed_at)]) to ``reviewer``; returns the ids
    it got, in the order given. The unique lease per image decides: an insert that meets a
    live lease of someone else's is dropped, and only the rows with our tokens are ours.
    ``expired``: the candidates known to have an expired hold to take over (default: any)."""
    ids = [pk for pk, _ in candidates]
    takeover = ids if expired is None else [pk for pk in ids if pk in set(expired)]
    if takeover:
        ReviewLease.objects.filter(image_id__in=takeover, expires_at__lte=now).delete()
    leases = [
        ReviewLease(
            image_id=pk,
            client=client,
            reviewer=reviewer,
            token=uuid.uuid4(),
            image_changed_at=changed_at,
            claimed_at=now,
            expires_at=expires,
        )
        for pk, changed_at in candidates
    ]
    ReviewLease.objects.bulk_create(leases, ignore_conflicts=True)
    got = set(
        ReviewLease.objects.filter(token__in=[lease.token for lease in leases]).values_list(
            "image_id", flat=True
        )
    )
    return [pk for pk in ids if pk in got]


def review_release(*, client: Client, reviewer, tokens: Sequence[uuid.UUID] | None = None) -> int:
    """End the reviewer's holds in this client (all, or those named): the images go back to
    the queue at once instead of when the holds expire."""
    leases = ReviewLease.objects.filter(client=client, reviewer=reviewer)
    if tokens is not None:
        leases = leases.filter(token__in=list(tokens))
    deleted, _ = leases.delete()
    if deleted:
        _windows.forget(client)  # they are back in the queue, near its head
    return deleted


def review_leases_sweep(*, now=None) -> int:
    """Delete expired holds (a periodic task may call it; claims ignore them anyway)."""
    deleted, _ = ReviewLease.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted


def _items(client: Client, ids: list[int], *, reviewer) -> list[QueueItem]:
    if not ids:
        return []
    images = Image.objects.filter(client=client, pk__in=ids).select_related("review_lease")
    by_id = {image.pk: image for image in images}
    predictions = latest_predictions(ids)
    labels = _labels_of(ids)
    multi_label = _is_multi_label(client.taxonomy)
    items = []
    for pk in ids:
        image = by_id.get(pk)
        if image is None:
            continue
        lease = getattr(image, "review_lease", None)
        items.append(
            QueueItem(
                image=image,
                lease=lease if lease is not None and lease.reviewer_id == reviewer.pk else None,
                prediction=predictions.get(pk),
                labels=labels.get(pk, []),
                suggested=suggested_labels(
                    predictions.get(pk), labels.get(pk, []), multi_label=multi_label
                ),
            )
        )
    return items


def latest_predictions(image_ids: Iterable[int]) -> dict[int, Prediction]:
    latest: dict[int, Prediction] = {}
    rows = Prediction.objects.filter(image_id__in=list(image_ids)).order_by("image_id", *LATEST)
    for prediction in rows:
        latest.setdefault(prediction.image_id, prediction)
    return latest


def _labels_of(image_ids: Iterable[int]) -> dict[int, list[ImageLabel]]:
    by_image: dict[int, list[ImageLabel]] = {}
    for image_label in ImageLabel.objects.filter(image_id__in=list(image_ids)).order_by(
        "image_id", F("probability").desc(nulls_first=True), "label_id"
    ):
        by_image.setdefault(image_label.image_id, []).append(image_label)
    return by_image


def suggested_labels(
    prediction: Prediction | None, labels: list[ImageLabel], *, multi_label: bool
) -> list[int]:
    """What accepting means for an image: the model's own tags where it tagged it (an
    auto-tagged image), else its top label (multi-class) or every label it finds likely
    (multi-label; at least the top one)."""
    machine = [il.label_id for il in labels if il.source == LabelSource.MACHINE]
    if machine:
        return machine
    if prediction is None or prediction.top_label_id is None:
        return []
    if not multi_label:
        return [prediction.top_label_id]
    likely = [
        int(entry["label"])
        for entry in prediction.ranked
        if isinstance(entry, dict) and float(entry.get("probability", 0)) >= MULTI_LABEL_SUGGEST_AT
    ]
    return likely or [prediction.top_label_id]


def _is_multi_label(taxonomy: Taxonomy | None) -> bool:
    return bool(taxonomy and taxonomy.is_multi_label)


# --- Decisions ---------------------------------------------------------------------------


def review_submit(*, client: Client, reviewer, decisions: Sequence[Decision]) -> list[Review]:
    """Store the decisions on images the reviewer holds, all or none: any stale or repeated
    one raises ReviewConflict and nothing is stored. Returns the reviews, in order."""
    return _decide(client=client, user=reviewer, decisions=decisions, with_leases=True)


def image_correct(*, client: Client, user, decision: Decision) -> Review:
    """A person's decision on one image outside the queue (a librarian correcting a model's
    tag from the library). Whoever holds the image in the queue loses the hold."""
    return _decide(client=client, user=user, decisions=[decision], with_leases=False)[0]


class _Moved(Exception):
    """Inside the write: a hold or an image was no longer what the reads before it saw."""


def _decide(*, client: Client, user, decisions: Sequence[Decision], with_leases: bool):
    """Everything is read and checked first, outside any transaction; the transaction then
    only writes, and each of its writes is conditional on what was read (the hold's token,
    the image's status and status_changed_at), so a change in between rolls it all back.
    On SQLite this keeps the one write lock for as short as possible."""
    if not decisions:
        raise ValidationError("No decisions were sent.")
    if len(decisions) > MAX_DECISIONS:
        raise ValidationError(f"At most {MAX_DECISIONS} decisions at a time.")
    ids = [d.image for d in decisions]
    if len(set(ids)) != len(ids):
        raise ValidationError("An image appears twice in one submission.")
    taxonomy = client.taxonomy
    _check_label_ids(taxonomy, {label for d in decisions for label in d.labels})
    multi_label = _is_multi_label(taxonomy)

    images = {
        image.pk: image
        for image in Image.objects.filter(client=client, pk__in=ids).select_related("review_lease")
    }
    missing = [pk for pk in ids if pk not in images]
    if missing:
        raise ValidationError(f"No image {missing[0]} in this client.")
    conflicts = _conflicts(images, decisions, user, with_leases=with_leases)
    if conflicts:
        raise ReviewConflict(conflicts)
    predictions = latest_predictions(ids)
    current = _labels_of(ids)
    now = timezone.now()
    reviews, snapshots, new_labels = [], [], []
    for d in decisions:
        image = images[d.image]
        prediction = predictions.get(image.pk)
        labels_now = current.get(image.pk, [])
        kind, label_ids = _normalise(
            d,
            suggested_labels(prediction, labels_now, multi_label=multi_label),
            multi_label=multi_label,
        )
        new_status = ImageStatus.VERIFIED if label_ids else ImageStatus.REJECTED
        if new_status != image.status and not image.can_transition_to(new_status):
            raise ValidationError(f"Image {image.pk} cannot go from {image.status} there.")
        machine = {il.label_id for il in labels_now if il.source == LabelSource.MACHINE}
        review = Review(
            image=image,
            reviewer=user,
            decision=kind,
            prediction=prediction,
            corrected_auto_tag=image.status == ImageStatus.AUTO_TAGGED
            and set(label_ids) != machine,
            previous_status=image.status,
            seconds_spent=_seconds(d.seconds_spent),
        )
        review.label_ids = label_ids
        reviews.append(review)
        snapshots.append(
            ReviewSnapshot(
                previous_labels=[
                    {"label": il.label_id, "source": il.source, "probability": il.probability}
                    for il in labels_now
                ],
                previous_changed_at=image.status_changed_at,
                result_status=new_status,
                result_changed_at=now,
            )
        )
        new_labels += [
            ImageLabel(image_id=image.pk, label_id=label, source=LabelSource.HUMAN)
            for label in label_ids
        ]

    try:
        with transaction.atomic():
            # Images first, in id order: a claim that is taking over one of these holds has
            # locked its image (SKIP LOCKED) before the hold, so the same order here means
            # that the two wait for each other at most, never deadlock.
            for review, snapshot in sorted(
                zip(reviews, snapshots, strict=True), key=lambda pair: pair[0].image_id
            ):
                image = images[review.image_id]
                moved = Image.objects.filter(
                    pk=image.pk, status=image.status, status_changed_at=image.status_changed_at
                ).update(status=snapshot.result_status, status_changed_at=now, failure_reason="")
                if not moved:
                    raise _Moved
            _take_leases(images, decisions, user, with_leases=with_leases)
            if current:
                ImageLabel.objects.filter(image_id__in=list(current)).delete()
            ImageLabel.objects.bulk_create(new_labels)
            Review.objects.bulk_create(reviews)
            Review.labels.through.objects.bulk_create(
                [
                    Review.labels.through(review_id=review.pk, label_id=label)
                    for review in reviews
                    for label in review.label_ids
                ]
            )
            submission = uuid.uuid4()
            for review, snapshot in zip(reviews, snapshots, strict=True):
                snapshot.review, snapshot.submission = review, submission
            ReviewSnapshot.objects.bulk_create(snapshots)
    except _Moved:
        # Read again to say what happened; nothing was written.
        fresh = Image.objects.filter(pk__in=ids).select_related("review_lease").in_bulk()
        conflicts = _conflicts(fresh, decisions, user, with_leases=with_leases) or [
            _changed(fresh[pk]) for pk in ids
        ]
        raise ReviewConflict(conflicts) from None
    for review in reviews:
        image = images[review.image_id]
        image.status, image.status_changed_at = review.snapshot.result_status, now
    retraining_after_review(client=client)
    return reviews


def _conflicts(images: dict[int, Image], decisions, user, *, with_leases: bool) -> list[dict]:
    if with_leases:
        return [
            conflict
            for d in decisions
            if (
                conflict := _stale(
                    images[d.image], getattr(images[d.image], "review_lease", None), user, d.lease
                )
            )
        ]
    decidable = (*QUEUE_STATUSES, ImageStatus.VERIFIED, ImageStatus.REJECTED)
    return [
        {
            "image": d.image,
            "code": "changed",
            "message": f"Image {d.image} is {images[d.image].get_status_display().lower()}: "
            "it cannot be decided now.",
        }
        for d in decisions
        if images[d.image].status not in decidable
    ]


def _take_leases(images: dict[int, Image], decisions, user, *, with_leases: bool) -> None:
    """End the holds on the decided images. In the queue, each must still be the one the
    decision quotes (a takeover since gave the image a new token): else _Moved."""
    ids = [d.image for d in decisions]
    if not with_leases:
        # Outside the queue a person's decision wins: whoever held the image loses the hold.
        ReviewLease.objects.filter(image_id__in=ids).delete()
        return
    tokens = [d.lease for d in decisions]
    mine = ReviewLease.objects.filter(reviewer=user, token__in=tokens, image_id__in=ids)
    deleted, _ = mine.delete()
    if deleted != len(decisions):
        raise _Moved


def _stale(image: Image, lease: ReviewLease | None, user, token) -> dict | None:
    """Why ``user`` may not answer ``image`` under the hold ``token``, or None."""
    mine = lease is not None and lease.reviewer_id == user.pk
    if mine and token is not None and lease.token == token:
        if image.status_changed_at != lease.image_changed_at or image.status not in QUEUE_STATUSES:
            return _changed(image)
        return None
    if image.status not in QUEUE_STATUSES:
        last = (
            Review.objects.filter(image=image, undone_at__isnull=True)
            .select_related("reviewer")
            .order_by("-created_at", "-id")
            .first()
        )
        if last is not None and last.reviewer_id == user.pk:
            return {
                "image": image.pk,
                "code": "duplicate",
                "message": f"You already decided image {image.pk} "
                f"({last.get_decision_display().lower()}); undo it to change your answer.",
            }
        who = last.reviewer.get_username() if last and last.reviewer else "someone else"
        return {
            "image": image.pk,
            "code": "decided",
            "message": f"Image {image.pk} was decided by {who} in the meantime.",
        }
    if lease is not None and not mine:
        return {
            "image": image.pk,
            "code": "taken",
            "message": f"Your hold on image {image.pk} ended and another reviewer has it now.",
        }
    if token is None:
        return {
            "image": image.pk,
            "code": "no_lease",
            "message": f"Image {image.pk} is not held by you: ask for it with next, and send "
            "the lease it comes with.",
        }
    return {
        "image": image.pk,
        "code": "stale",
        "message": f"Your hold on image {image.pk} was released or replaced: ask for it again.",
    }


def _changed(image: Image) -> dict:
    return {
        "image": image.pk,
        "code": "changed",
        "message": f"Image {image.pk} changed since it was handed to you "
        f"(it is {image.get_status_display().lower()} now).",
    }


def _normalise(d: Decision, suggested: list[int], *, multi_label: bool) -> tuple[str, list[int]]:
    """(decision, label ids) to store. Choosing exactly the model's labels is accepting them."""
    labels = list(dict.fromkeys(d.labels))
    if d.decision == ReviewDecision.REJECT:
        if labels:
            raise ValidationError(f"Image {d.image}: reject means none of the labels; send none.")
        return ReviewDecision.REJECT, []
    if d.decision == ReviewDecision.ACCEPT:
        if not suggested:
            raise ValidationError(
                f"Image {d.image} has no suggestion to accept: choose its labels "
                "(decision correct)."
            )
        if labels and set(labels) != set(suggested):
            raise ValidationError(
                f"Image {d.image}: accept takes the model's labels; send decision correct "
                "to choose others."
            )
        return ReviewDecision.ACCEPT, suggested
    if d.decision != ReviewDecision.CORRECT:
        raise ValidationError(f"Unknown decision {d.decision!r}.")
    if not labels:
        raise ValidationError(f"Image {d.image}: a correction needs the right label.")
    if not multi_label and len(labels) != 1:
        raise ValidationError(f"Image {d.image}: this taxonomy gives one label per image.")
    if suggested and set(labels) == set(suggested):
        return ReviewDecision.ACCEPT, labels
    return ReviewDecision.CORRECT, labels


def _check_label_ids(taxonomy: Taxonomy | None, label_ids: set[int]) -> None:
    if not label_ids:
        return
    known = set(
        Label.objects.active()
        .filter(taxonomy=taxonomy, pk__in=label_ids)
        .values_list("pk", flat=True)
    )
    unknown = sorted(label_ids - known)
    if unknown:
        raise ValidationError(f"Label {unknown[0]} is not an active label of this taxonomy.")


def _seconds(value: float | None) -> float | None:
    if value is None:
        return None
    return min(max(float(value), 0.0), MAX_SECONDS_SPENT)


# --- Undo --------------------------------------------------------------------------------


def review_undo(*, client: Client, reviewer, review_id: int | None = None) -> UndoOutcome:
    """Take back one review, or by default the reviewer's last submission (a grid page is
    one): each image gets its previous status and labels back, the reviews are marked undone,
    and the images the queue serves are held by the reviewer again, to be decided anew.
    Refused as a whole (ReviewConflict) when an image has changed since."""
    mine = ReviewSnapshot.objects.filter(
        review__image__client=client, review__reviewer=reviewer
    ).select_related("review")
    with transaction.atomic():
        if review_id is not None:
            snapshots = list(mine.filter(review_id=review_id))
            if not snapshots:
                raise NothingToUndo(f"You made no review {review_id} here that can be undone.")
            if snapshots[0].review.undone_at is not None:
                raise ReviewConflict(
                    [
                        {
                            "image": snapshots[0].review.image_id,
                            "code": "undone",
                            "message": f"Review {review_id} was undone already.",
                        }
                    ],
                    outcome=UNDO_REFUSED,
                )
        else:
            last = (
                mine.filter(review__undone_at__isnull=True)
                .order_by("-review__created_at", "-review_id")
                .first()
            )
            if last is None:
                raise NothingToUndo("Nothing to undo.")
            snapshots = list(
                mine.filter(submission=last.submission, review__undone_at__isnull=True)
            )
        ids = [s.review.image_id for s in snapshots]
        images = Image.objects.filter(client=client, pk__in=ids).in_bulk()
        conflicts = [
            {
                "image": s.review.image_id,
                "code": "changed",
                "message": f"Image {s.review.image_id} changed after your decision (it is "
                f"{images[s.review.image_id].get_status_display().lower()} now): "
                "it cannot be undone.",
            }
            for s in snapshots
            if images[s.review.image_id].status != s.result_status
            or images[s.review.image_id].status_changed_at != s.result_changed_at
        ]
        if conflicts:
            raise ReviewConflict(conflicts, outcome=UNDO_REFUSED)
        now = timezone.now()
        # In id order, as submissions do: two writers over the same images cannot deadlock.
        for s in sorted(snapshots, key=lambda snapshot: snapshot.review.image_id):
            moved = Image.objects.filter(
                pk=s.review.image_id, status=s.result_status, status_changed_at=s.result_changed_at
            ).update(status=s.review.previous_status, status_changed_at=now)
            if not moved:
                raise ReviewConflict([_changed(images[s.review.image_id])], outcome=UNDO_REFUSED)
        ImageLabel.objects.filter(image_id__in=ids).delete()
        ImageLabel.objects.bulk_create(
            [
                ImageLabel(
                    image_id=s.review.image_id,
                    label_id=row["label"],
                    source=row["source"],
                    probability=row["probability"],
                )
                for s in snapshots
                for row in s.previous_labels
            ]
        )
        Review.objects.filter(pk__in=[s.review_id for s in snapshots]).update(undone_at=now)
        back_in_queue = [
            s.review.image_id for s in snapshots if s.review.previous_status in QUEUE_STATUSES
        ]
        ReviewLease.objects.filter(image_id__in=ids).delete()
        expires = now + timedelta(seconds=lease_seconds())
        ReviewLease.objects.bulk_create(
            [
                ReviewLease(
                    image_id=pk,
                    client=client,
                    reviewer=reviewer,
                    image_changed_at=now,
                    claimed_at=now,
                    expires_at=expires,
                )
                for pk in back_in_queue
            ]
        )
        reviews = [s.review for s in snapshots]
        for review in reviews:
            review.undone_at = now
    return UndoOutcome(reviews=reviews, items=_items(client, back_in_queue, reviewer=reviewer))


# --- Labels as the reviewer sees them ---------------------------------------------------


@dataclass(frozen=True)
class LabelChoice:
    id: int
    key: str
    name: str  # the client's name for it, else the label's
    path: str  # its ancestors' names and its own, "People › Smiling"
    is_active: bool


def label_names(client: Client, label_ids: Iterable[int]) -> dict[int, str]:
    """label id → the client's name for it, else the label's, for the labels named."""
    own = ClientLabelName.objects.filter(client=client, label=OuterRef("pk")).values("name")
    rows = (
        Label.objects.filter(pk__in=set(label_ids))
        .annotate(own=Subquery(own[:1]))
        .values_list("pk", "name", "own")
    )
    return {pk: own or name for pk, name, own in rows}


def label_choices(client: Client) -> list[LabelChoice]:
    """Every label of the client's taxonomy (retired ones too: old predictions name them),
    named as the client names them, sorted by path."""
    taxonomy = client.taxonomy
    if taxonomy is None:
        return []
    names = client.display_names()
    labels = {
        label.pk: label
        for label in Label.objects.filter(taxonomy=taxonomy).only(
            "pk", "key", "name", "parent_id", "is_active"
        )
    }

    def named(pk: int) -> str:
        return names.get(pk, labels[pk].name)

    def path(pk: int) -> str:
        chain, seen, node = [], set(), labels.get(pk)
        while node is not None and node.pk not in seen:
            seen.add(node.pk)
            chain.append(named(node.pk))
            node = labels.get(node.parent_id) if node.parent_id else None
        return " › ".join(reversed(chain))

    choices = [
        LabelChoice(pk, label.key, named(pk), path(pk), label.is_active)
        for pk, label in labels.items()
    ]
    return sorted(choices, key=lambda choice: choice.path.lower())
