"""How the review work goes: per reviewer and per day, decisions, their pace, and how often
people agree with the model.

- decisions per hour: decisions ÷ time on task, where time on task adds up the gaps between a
  reviewer's consecutive decisions, each cut at IDLE_GAP (a longer gap is a break, not work),
  plus the time the first decision of each stretch took on screen;
- seconds per decision: the median time an image was on screen before its decision, as the
  review page measured it (API clients may send it too);
- agreement with the model: the share of decisions on predicted images that accepted the
  model's labels;
- auto-tag checks: auto-tagged images a person looked at, and how many they corrected: the
  auto-accept policy's precision as observed in use.

Undone reviews are left out of all but their own count.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from labelling.models import Client, ImageStatus, Review, ReviewDecision

IDLE_GAP = timedelta(minutes=5)
MAX_DAYS = 90


@dataclass
class Tally:
    decisions: int = 0
    accepted: int = 0
    corrected: int = 0
    rejected: int = 0
    no_label: int = 0  # none of the above: fits no label of the taxonomy
    undone: int = 0
    predicted: int = 0  # decisions on images with a prediction
    agreed: int = 0  # … that accepted the model's labels
    auto_tag_checked: int = 0
    auto_tag_corrected: int = 0
    active_seconds: float = 0.0
    on_screen: list[float] = field(default_factory=list)

    @property
    def decisions_per_hour(self) -> float | None:
        if not self.decisions or self.active_seconds <= 0:
            return None
        return self.decisions * 3600.0 / self.active_seconds

    @property
    def seconds_per_decision(self) -> float | None:
        if self.on_screen:
            return statistics.median(self.on_screen)
        if self.decisions and self.active_seconds > 0:
            return self.active_seconds / self.decisions
        return None

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.predicted if self.predicted else None

    @property
    def auto_tag_precision(self) -> float | None:
        if not self.auto_tag_checked:
            return None
        return 1 - self.auto_tag_corrected / self.auto_tag_checked

    def add(self, other: Tally) -> None:
        for name in (
            "decisions",
            "accepted",
            "corrected",
            "rejected",
            "no_label",
            "undone",
            "predicted",
            "agreed",
            "auto_tag_checked",
            "auto_tag_corrected",
            "active_seconds",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.on_screen += other.on_screen


@dataclass
class ReviewerDay:
    reviewer_id: int | None
    reviewer: str
    day: date
    tally: Tally


@dataclass
class ReviewerTotal:
    reviewer_id: int | None
    reviewer: str
    tally: Tally


@dataclass
class ReviewStats:
    since: date
    until: date  # inclusive
    days: list[ReviewerDay]  # newest day first, then by reviewer
    reviewers: list[ReviewerTotal]
    total: Tally


def review_stats(
    *, client: Client, days: int = 14, reviewer_id: int | None = None, today: date | None = None
) -> ReviewStats:
    """The last ``days`` days (today included, in the site's time zone) of reviews in
    ``client``, of one reviewer or of everyone."""
    days = max(1, min(int(days), MAX_DAYS))
    until = today or timezone.localdate()
    since = until - timedelta(days=days - 1)
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(since, time.min), zone)
    end = timezone.make_aware(datetime.combine(until + timedelta(days=1), time.min), zone)
    reviews = Review.objects.filter(image__client=client, created_at__gte=start, created_at__lt=end)
    if reviewer_id is not None:
        reviews = reviews.filter(reviewer_id=reviewer_id)
    rows = reviews.order_by("reviewer_id", "created_at", "id").values_list(
        "reviewer_id",
        "created_at",
        "decision",
        "seconds_spent",
        "prediction_id",
        "previous_status",
        "corrected_auto_tag",
        "undone_at",
    )
    per_day: dict[tuple[int | None, date], Tally] = {}
    previous: dict[int | None, datetime] = {}
    for reviewer, at, decision, seconds, prediction, before, corrected, undone in rows:
        tally = per_day.setdefault((reviewer, timezone.localtime(at, zone).date()), Tally())
        if undone is not None:
            tally.undone += 1
            continue
        tally.decisions += 1
        tally.accepted += decision == ReviewDecision.ACCEPT
        tally.corrected += decision == ReviewDecision.CORRECT
        tally.rejected += decision == ReviewDecision.REJECT
        tally.no_label += decision == ReviewDecision.NO_LABEL
        if prediction is not None:
            tally.predicted += 1
            tally.agreed += decision == ReviewDecision.ACCEPT
        if before == ImageStatus.AUTO_TAGGED:
            tally.auto_tag_checked += 1
            tally.auto_tag_corrected += bool(corrected)
        if seconds is not None:
            tally.on_screen.append(seconds)
        gap = at - previous[reviewer] if reviewer in previous else None
        if gap is not None and gap <= IDLE_GAP:
            tally.active_seconds += gap.total_seconds()
        else:  # the first decision of a stretch: count the time it was on screen
            tally.active_seconds += min(seconds or 0.0, IDLE_GAP.total_seconds())
        previous[reviewer] = at

    names = dict(
        get_user_model()
        .objects.filter(pk__in={reviewer for reviewer, _ in per_day if reviewer is not None})
        .values_list("pk", "username")
    )

    def name(reviewer: int | None) -> str:
        return names.get(reviewer, "(deleted user)") if reviewer is not None else "(deleted user)"

    day_rows = sorted(
        (ReviewerDay(r, name(r), day, tally) for (r, day), tally in per_day.items()),
        key=lambda row: (-row.day.toordinal(), row.reviewer),
    )
    totals: dict[int | None, Tally] = {}
    total = Tally()
    for row in day_rows:
        totals.setdefault(row.reviewer_id, Tally()).add(row.tally)
        total.add(row.tally)
    reviewer_rows = sorted(
        (ReviewerTotal(r, name(r), tally) for r, tally in totals.items()),
        key=lambda row: row.reviewer,
    )
    return ReviewStats(
        since=since, until=until, days=day_rows, reviewers=reviewer_rows, total=total
    )
