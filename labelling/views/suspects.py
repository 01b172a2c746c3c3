"""The suspect-labels queue: the latest label-noise audit's most suspect labels among the
client's verified images, each with its reason; reviewers keep, relabel or exclude them."""

from __future__ import annotations

import json
from collections import Counter

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from labelling.models import Role
from labelling.selectors.labels import label_choices
from labelling.tenancy import CAN_MANAGE_CLIENT, CAN_REVIEW, client_for_user
from training.models import LabelNoiseScore
from training.selectors import open_suspects
from training.services.suspects import SuspectAlreadyDecided, label_audit_start, suspect_decide


def _reason(score: LabelNoiseScore, name) -> list[str]:
    reasons = []
    if score.self_confidence < 0.5:
        reasons.append(
            f"Models that never saw this image give its label {score.self_confidence:.0%}; "
            f"they prefer {name(score.suggested_id)} ({score.suggested_probability:.0%})."
        )
    if score.confident_learning:
        reasons.append("Confident learning flags it as a likely label error.")
    counts = Counter(score.neighbour_labels)
    others = sum(n for label, n in counts.items() if label != score.label_id)
    if others:
        shown = ", ".join(f"{name(label)} ×{n}" for label, n in counts.most_common())
        reasons.append(
            f"{others} of its {len(score.neighbour_labels)} nearest images carry another "
            f"label ({shown})."
        )
    if score.spread is not None and score.spread < 0.25:
        reasons.append(f"The model's output for it is flat (spread {score.spread:.2f}).")
    return reasons


@login_required
@require_safe
def suspects_page(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, membership = client_for_user(
        request.user, client_slug, roles=CAN_REVIEW, refusal="does not review images here"
    )
    choices = label_choices(client)
    names = {c.id: c.path for c in choices}

    def name(pk: int) -> str:
        return names.get(pk, f"label {pk}")

    audit, rows = open_suspects(client)
    slug = client.slug
    items = [
        {
            "id": row.pk,
            "image": row.image_id,
            "rank": row.rank,
            "score": round(row.score, 3),
            "label": row.label_id,
            "labelName": name(row.label_id),
            "suggested": row.suggested_id,
            "suggestedName": name(row.suggested_id),
            "reasons": _reason(row, name),
            "thumbnail": reverse("image-thumbnail", args=[slug, row.image_id]),
            "detail": reverse("image-detail", args=[slug, row.image_id]),
            "decide": reverse("suspect-decide", args=[slug, row.pk]),
        }
        for row in rows
    ]
    config = {
        "items": items,
        "labels": [{"id": c.id, "path": c.path} for c in choices if c.is_active],
        "csrfToken": get_token(request),
    }
    context = {
        "client": client,
        "audit": audit,
        "config": config,
        "count": len(items),
        "is_admin": membership.role == Role.ADMIN,
    }
    return render(request, "labelling/suspects.html", context)


@login_required
@require_POST
def suspect_decide_view(request: HttpRequest, client_slug: str, score_id: int) -> JsonResponse:
    client, _ = client_for_user(
        request.user, client_slug, roles=CAN_REVIEW, refusal="does not review images here"
    )
    try:
        body = json.loads(request.body or b"{}")
        decision = str(body.get("decision", ""))
        label = body.get("label")
        label = int(label) if label not in (None, "") else None
    except (ValueError, TypeError, AttributeError):
        return JsonResponse({"detail": "Send JSON: {decision, label}."}, status=400)
    try:
        score = suspect_decide(
            client=client, user=request.user, score_id=score_id, decision=decision, label_id=label
        )
    except LabelNoiseScore.DoesNotExist:
        raise Http404("No such suspect.") from None
    except SuspectAlreadyDecided as exc:
        return JsonResponse({"detail": str(exc)}, status=409)
    except ValueError as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse({"id": score.pk, "decision": score.decision})


@login_required
@require_POST
def audit_start(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, _ = client_for_user(
        request.user, client_slug, roles=CAN_MANAGE_CLIENT, refusal="cannot start an audit"
    )
    try:
        audit = label_audit_start(client=client, user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"The label audit is {audit.get_status_display().lower()}.")
    return redirect("suspects", client.slug)
