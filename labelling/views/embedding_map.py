"""The embedding map: a client's images laid out by similarity (WebGL, one point each),
coloured by label or status; lasso a group and label it in one action.

Same access as the library: any member sees the map; those who may correct a tag outside
the queue (admins, librarians, reviewers) lasso-label, undo and ask for a new layout.
"""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from labelling.selectors.labels import label_choices
from labelling.services import review as review_service
from labelling.tenancy import CAN_CORRECT, client_for_user
from training.models import EmbeddingMap, MapPhase
from training.selectors import current_embedding_map, latest_embedding_map
from training.services.embedding_map import MapUnavailable, embedding_map_request, map_points

REFUSAL = "cannot label images here"


def _state(emap: EmbeddingMap | None) -> dict | None:
    if emap is None:
        return None
    return {
        "id": emap.pk,
        "status": emap.status,
        "statusName": emap.get_status_display(),
        "phase": emap.phase,
        "phaseName": MapPhase(emap.phase).label if emap.phase in MapPhase.values else "",
        "done": emap.phase_done,
        "total": emap.phase_total,
        "message": emap.message,
        "points": emap.n_points,
        "finishedAt": emap.finished_at.isoformat() if emap.finished_at else None,
    }


@login_required
@require_safe
def map_page(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, membership = client_for_user(request.user, client_slug)
    slug = client.slug
    can_label = membership.role in CAN_CORRECT
    config = {
        "points": reverse("map-points", args=[slug]),
        "state": reverse("map-state", args=[slug]),
        "compute": reverse("map-compute", args=[slug]),
        "label": reverse("map-label", args=[slug]),
        "undo": reverse("map-undo", args=[slug]),
        # The page fills in each image's id.
        "thumbnail": reverse("image-thumbnail", args=[slug, 0]).replace("/0/", "/{id}/"),
        "detail": reverse("image-detail", args=[slug, 0]).replace("/0/", "/{id}/"),
        "labels": [{"id": c.id, "path": c.path} for c in label_choices(client) if c.is_active],
        "canLabel": can_label,
        "latest": _state(latest_embedding_map(client)),
        "csrfToken": get_token(request),
    }
    return render(
        request,
        "labelling/embedding_map.html",
        {"client": client, "config": config, "can_label": can_label},
    )


@login_required
@require_safe
def map_points_view(request: HttpRequest, client_slug: str) -> JsonResponse:
    client, _ = client_for_user(request.user, client_slug)
    emap = current_embedding_map(client)
    if emap is None:
        return JsonResponse({"detail": "No map has been laid out yet."}, status=404)
    try:
        points = map_points(client=client, emap=emap)
    except MapUnavailable as exc:
        return JsonResponse({"detail": str(exc)}, status=409)
    return JsonResponse(points)


@login_required
@require_safe
def map_state_view(request: HttpRequest, client_slug: str) -> JsonResponse:
    client, _ = client_for_user(request.user, client_slug)
    return JsonResponse({"latest": _state(latest_embedding_map(client))})


@login_required
@require_POST
def map_compute_view(request: HttpRequest, client_slug: str) -> JsonResponse:
    client, _ = client_for_user(
        request.user, client_slug, roles=CAN_CORRECT, refusal="cannot ask for a new map"
    )
    emap = embedding_map_request(client=client, user=request.user, reason="asked for on the map")
    return JsonResponse({"latest": _state(emap)}, status=202)


@login_required
@require_POST
def map_label_view(request: HttpRequest, client_slug: str) -> JsonResponse:
    client, _ = client_for_user(request.user, client_slug, roles=CAN_CORRECT, refusal=REFUSAL)
    try:
        body = json.loads(request.body or b"{}")
        images = [int(pk) for pk in body["images"]]
        label = int(body["label"])
    except (ValueError, TypeError, KeyError, AttributeError):
        return JsonResponse(
            {"detail": "Send JSON: {images: [image ids], label: label id}."}, status=400
        )
    try:
        outcome = review_service.images_label_lasso(
            client=client, user=request.user, image_ids=images, label=label
        )
    except ValidationError as exc:
        return JsonResponse({"detail": " ".join(exc.messages)}, status=400)
    except review_service.ReviewConflict as exc:
        return JsonResponse({"detail": exc.message, "conflicts": exc.conflicts[:20]}, status=409)
    return JsonResponse(
        {
            "labelled": [review.image_id for review in outcome.reviews],
            "label": label,
            "skipped": outcome.skipped,
        }
    )


@login_required
@require_POST
def map_undo_view(request: HttpRequest, client_slug: str) -> JsonResponse:
    """Take back the person's last decision (a lasso is one), as the review page's undo."""
    client, _ = client_for_user(request.user, client_slug, roles=CAN_CORRECT, refusal=REFUSAL)
    try:
        outcome = review_service.review_undo(client=client, reviewer=request.user)
    except review_service.NothingToUndo as exc:
        return JsonResponse({"detail": str(exc)}, status=409)
    except review_service.ReviewConflict as exc:
        return JsonResponse({"detail": exc.message, "conflicts": exc.conflicts[:20]}, status=409)
    return JsonResponse({"undone": [review.image_id for review in outcome.reviews]})
