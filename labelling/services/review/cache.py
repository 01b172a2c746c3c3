"""The per-process cache of queue heads.

Ordering a queue means computing every waiting image's confidence: tens of milliseconds at
ten thousand images. Each process keeps the head of each queue (its first WINDOW_SIZE free
images, in queue order) for a few seconds; a claim then only reads and locks the few images
it takes, by primary key, and checks them again there (status, filters, live holds), so a
head that is out of date only costs a retry. Images that come back to the queue (released,
undone) are seen at once in this process, and by the others when their heads are next read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from labelling.models import Client, ImageStatus, ReviewLease
from labelling.selectors.queue import LEAST_CERTAIN, QueueFilters, review_queue
from training.services.cold_start import (
    cold_start_order,
    cold_start_pending,
    cold_start_plans_clear,
)

WINDOW_SIZE = 300


class QueueHeads:
    STALE_FOR_AT_MOST = 6  # × the window's seconds: older than that, it is read again first
    clock = staticmethod(time.monotonic)  # (a test moves it on instead of sleeping)

    def __init__(self):
        self._lock = threading.Lock()
        self._heads: dict[tuple, tuple[float, list[int]]] = {}
        self._due: dict[tuple, tuple[Client, QueueFilters]] = {}

    @staticmethod
    def seconds() -> float:
        return float(settings.REVIEW_QUEUE_WINDOW_SECONDS)

    def get(self, client: Client, filters: QueueFilters, *, now, defer: bool = False) -> list[int]:
        """The head, read again if it is older than ``seconds()``; with ``defer``, an old
        (but not too old) head is used once more and read again by refresh_due(), which
        the API calls once its answer has gone out."""
        key = (client.pk, filters)
        with self._lock:
            cached = self._heads.get(key)
        if cached is not None and cached[1]:
            age = self.clock() - cached[0]
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
        free = (
            review_queue(client, filters)
            .exclude(Exists(ReviewLease.objects.filter(image=OuterRef("pk"), expires_at__gt=now)))
            .values_list("pk", flat=True)
        )
        if _cold_start_applies(client, filters):
            # No model has seen these images, so "least certain" says nothing about them:
            # the head is the cold-start order, which is over the whole queue.
            head = cold_start_order(client=client, image_ids=list(free))[:WINDOW_SIZE]
        else:
            head = list(free[:WINDOW_SIZE])
        with self._lock:
            self._heads[(client.pk, filters)] = (self.clock(), head)
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


def _cold_start_applies(client: Client, filters: QueueFilters) -> bool:
    # The queue's own order where a reviewer chose one or asked for a model's label.
    return (
        filters.status == ImageStatus.NEEDS_REVIEW
        and filters.order == LEAST_CERTAIN
        and filters.label is None
        and cold_start_pending(client=client)
    )


queue_heads = QueueHeads()


def review_windows_clear() -> None:
    """Forget every cached queue head in this process, and the cold-start plans they may be
    ordered by (tests start from a clean slate)."""
    queue_heads.clear()
    cold_start_plans_clear()


def review_windows_refresh_due() -> None:
    """Read again the queue heads that review_next(defer_refresh=True) used past their time:
    for the API to call once its answer has gone out, so that no reviewer waits for it."""
    queue_heads.refresh_due()
