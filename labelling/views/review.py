"""The review pages: the queue (single and grid mode; the page drives the review API) and
the reviewers' statistics."""

from __future__ import annotations

from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_safe

from labelling.api.review import top_n
from labelling.models import Client, ImageStatus, Membership, Role
from labelling.selectors.labels import label_choices, labels_waiting
from labelling.selectors.queue import LEAST_CERTAIN, ORDERS
from labelling.services import review as review_service
from labelling.services.review_stats import MAX_DAYS, review_stats
from labelling.tenancy import CAN_REVIEW, client_for_user
from training.services.cold_start import cold_start_pending

SINGLE, GRID = "single", "grid"
BUFFER = 5  # images held and loaded ahead of the one on screen
GRID_PAGE = 24
# The keys that choose a label or suggestion, in order: the number row, 0 for the tenth, as
# one labels by hand. A taxonomy of up to this many labels is offered whole, by key, where
# nothing is suggested (an image no model has seen); a larger one through the search.
CHOICE_KEYS = "1234567890"
# Grid mode: the tiles of a page the reviewer deselected come back as a page of the model's
# next guess for them (a "second look") when at least this many share it; fewer are decided
# one by one, where that guess is offered first.
SECOND_LOOK_MIN = 2


class QueueForm(forms.Form):
    mode = forms.ChoiceField(
        required=False, choices=[(SINGLE, "One by one"), (GRID, "Grid of one class")]
    )
    status = forms.ChoiceField(
        required=False,
        label="Images",
        choices=[
            (ImageStatus.NEEDS_REVIEW, "The model was unsure"),
            (ImageStatus.AUTO_TAGGED, "Check the model's own tags"),
        ],
    )
    label = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Class")
    batch = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    order = forms.ChoiceField(required=False, choices=list(ORDERS.items()))

    def __init__(self, *args, client: Client, labels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["label"].choices = [("", "Any class")] + [
            (choice.id, choice.path) for choice in labels if choice.is_active
        ]
        self.fields["batch"].choices = [("", "Any batch")] + [
            (batch.pk, str(batch)) for batch in client.batches.order_by("-created_at")[:100]
        ]


def _reviewer_or_403(request: HttpRequest, client_slug: str) -> tuple[Client, Membership]:
    return client_for_user(
        request.user, client_slug, roles=CAN_REVIEW, refusal="does not review images here"
    )


@login_required
def my_review(request: HttpRequest) -> HttpResponse:
    """/review/ → the current client's queue."""
    if request.client is None:
        return redirect("home")
    # Its filters go along (/review/?batch=3 stays batch 3).
    url = reverse("review-queue", args=[request.client.slug])
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url)


@login_required
@require_safe
def review_queue(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, membership = _reviewer_or_403(request, client_slug)
    labels = label_choices(client)
    form = QueueForm(request.GET or None, client=client, labels=labels)
    params = form.cleaned_data if form.is_bound and form.is_valid() else {}
    mode = params.get("mode") or SINGLE
    status = params.get("status") or ImageStatus.NEEDS_REVIEW
    batch = params.get("batch")
    queue_labels = labels_waiting(client, status=status, batch=batch, choices=labels)
    waiting = queue_labels.waiting
    label = params.get("label")
    if mode == GRID and label is None:
        # A grid shows one class: the one with the most images waiting.
        predicted = {pk: n for pk, n in waiting.items() if pk is not None}
        label = max(predicted, key=lambda pk: (predicted[pk], -pk)) if predicted else None
    named = {choice.id: choice for choice in labels}
    taxonomy = client.taxonomy
    # Cold start (no model yet, so no class to show): grid mode offers groups of similar
    # waiting images to label at once, when there are any.
    groups = (
        mode == GRID
        and label is None
        and status == ImageStatus.NEEDS_REVIEW
        and cold_start_pending(client=client)
    )
    slug = client.slug
    config = {
        "mode": mode,
        "filters": {
            "status": status,
            "label": label,
            "batch": batch,
            "order": params.get("order") or LEAST_CERTAIN,
        },
        "multiLabel": bool(taxonomy and taxonomy.is_multi_label),
        "labels": [
            {"id": c.id, "key": c.key, "name": c.name, "path": c.path}
            for c in labels
            if c.is_active
        ],
        "buffer": BUFFER,
        "gridPage": GRID_PAGE,
        "choiceKeys": CHOICE_KEYS,
        "secondLookMin": SECOND_LOOK_MIN,
        "groups": groups,
        "topN": top_n(),
        "leaseSeconds": review_service.lease_seconds(),
        "csrfToken": get_token(request),
        "urls": {
            name: reverse(f"api-review-{name}", args=[slug])
            for name in ("next", "decisions", "undo", "release", "group", "group-label")
        },
    }
    context = {
        "client": client,
        "form": form,
        "mode": mode,
        "config": config,
        "waiting": waiting.get(label, 0) if label is not None else queue_labels.total,
        "grid_label": named.get(label) if mode == GRID else None,
        "grid_choices": sorted(
            ((choice, n) for choice, n in queue_labels.shown() if n), key=lambda row: -row[1]
        ),
        "groups": groups,
        # A small taxonomy's labels with the key of each (cold start's group page).
        "keyed_labels": (
            list(zip(CHOICE_KEYS, config["labels"], strict=False))
            if len(config["labels"]) <= len(CHOICE_KEYS)
            else []
        ),
        "is_admin": membership.role == Role.ADMIN,
        # What still waits once this view is done: other classes, images the model has not
        # seen; the page says "well done" only when both are none.
        "elsewhere": queue_labels.elsewhere(label) if mode == GRID else 0,
        "not_predicted": queue_labels.not_predicted,
        # The filters a link to another mode or class keeps, so the batch stays the batch.
        "keep": urlencode(
            {k: v for k, v in config["filters"].items() if k != "label" and v is not None}
        ),
    }
    return render(request, "labelling/review_queue.html", context)


class StatsForm(forms.Form):
    days = forms.IntegerField(required=False, min_value=1, max_value=MAX_DAYS)


@login_required
@require_safe
def review_statistics(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, membership = _reviewer_or_403(request, client_slug)
    form = StatsForm(request.GET or None)
    days = (form.cleaned_data.get("days") if form.is_bound and form.is_valid() else None) or 14
    is_admin = membership.role == Role.ADMIN
    stats = review_stats(
        client=client, days=days, reviewer_id=None if is_admin else request.user.pk
    )
    context = {"client": client, "stats": stats, "days": days, "is_admin": is_admin}
    return render(request, "labelling/review_stats.html", context)
