"""The models page of a client (its sector's versions, the latest run and its live
progress), starting a training run, and the old /models/... addresses."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import escape_uri_path
from django.views.decorators.http import require_POST, require_safe

from labelling.tenancy import (
    is_sector_maintainer,
    person_shown,
)
from labelling.throttling import throttle_post
from training import presentation
from training.forms import (
    ConsentForm,
    RetrainingPolicyForm,
    TrainForm,
)
from training.models import (
    ACTIVE_RUN_STATUSES,
    ModelActivation,
    ModelMode,
    ModelVersion,
    TrainingRun,
)
from training.selectors import active_version, affected_clients, consenting_clients, rollback_target
from training.services.backfill import backfill_progress
from training.services.client_settings import (
    client_settings_of,
)
from training.services.dataset import NotEnoughData
from training.services.evaluation import against_reference
from training.services.retraining import retraining_policy_of
from training.services.training import TrainingAlreadyRunning, training_request
from training.views.access import (
    client_policy,
    client_scope,
    current_client_slug,
    is_client_admin,
    wants_json,
)

CURVE_KEYS = ("loss", "val_loss", "accuracy", "val_accuracy")


def curve_points(history: list) -> list[dict]:
    """The run's per-epoch history, cut to what the live loss and accuracy curves draw."""
    return [
        {"epoch": entry.get("epoch", i + 1)}
        | {k: round(entry[k], 4) for k in CURVE_KEYS if isinstance(entry.get(k), (int, float))}
        for i, entry in enumerate(history or [])
        if isinstance(entry, dict)
    ]


def run_state(run: TrainingRun, client_slug: str) -> dict:
    """What the progress bar and the live curves show (the page renders it, and the poll
    answers it)."""
    finished = run.status not in ACTIVE_RUN_STATUSES
    phase = presentation.run_phase(run)
    version = run.model_version
    return {
        "id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "mode": run.mode,
        "backbone": run.backbone,
        "epoch": run.epoch,
        "max_epochs": run.max_epochs,
        "phase": run.phase,
        "phase_done": run.phase_done,
        "phase_total": run.phase_total,
        "phase_text": phase["text"],
        "percent": phase["percent"],
        "message": run.message,
        "history": curve_points(run.history),
        "finished": finished,
        "progress_url": reverse("models-run-progress", args=[client_slug, run.pk]),
        "version": (
            {
                "number": version.number,
                "url": reverse("model-version", args=[client_slug, version.pk]),
            }
            if version
            else None
        ),
    }


@login_required
@require_safe
def models_list(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, taxonomy = client_scope(request, client_slug)
    active = active_version(taxonomy)
    versions = list(ModelVersion.objects.filter(taxonomy=taxonomy).order_by("-number"))
    try:
        same_gold = against_reference(active, versions) if active else {}
    except NotEnoughData:
        same_gold = {}  # no verified images, so no gold test images yet
    rows = [
        {
            "version": v,
            "summary": presentation.version_summary(v),
            "active": active is not None and v.pk == active.pk,
            "same_gold": presentation.same_gold(same_gold.get(v.pk)),
        }
        for v in versions
    ]
    run = (
        TrainingRun.objects.filter(taxonomy=taxonomy)
        .select_related("model_version", "requested_by")
        .first()
    )
    activations = [
        {"activation": a, "by": person_shown(a.activated_by, client=client, viewer=request.user)}
        for a in ModelActivation.objects.filter(taxonomy=taxonomy)
        .select_related("model_version", "previous", "activated_by")
        .order_by("-created_at", "-id")[:10]
    ]
    maintainer = is_sector_maintainer(request.user, client.sector)
    own = client_settings_of(client)
    context = {
        "client": client,
        "taxonomy": taxonomy,
        "rows": rows,
        "active": active,
        "maintainer": maintainer,
        "run": run_state(run, client_slug) if run else None,
        "run_by": (
            person_shown(run.requested_by, client=client, viewer=request.user) if run else None
        ),
        "train_form": TrainForm(),
        "activations": activations,
        "rollback_to": rollback_target(taxonomy, active),
        "affected": affected_clients(client),
        "own_settings": own,
        "client_admin": is_client_admin(request.user, client),
        "consent_form": ConsentForm(initial={"trains_sector_model": own.trains_sector_model}),
        "consenting": consenting_clients(client),
        "precision_warning": presentation.precision_warning(client_policy(active, own))
        if active
        else None,
        "compare_a": versions[1].pk if len(versions) > 1 else None,
        "compare_b": versions[0].pk if versions else None,
        "versions": versions,
        "retraining": retraining_policy_of(taxonomy),
        "backfill": backfill_progress(taxonomy=taxonomy),
    }
    policy = context["retraining"]
    context["retraining_form"] = RetrainingPolicyForm(
        initial={
            "enabled": policy.enabled,
            "after_verified": policy.after_verified,
            "every_hours": policy.every_hours,
        }
    )
    return render(request, "training/models.html", context)


@login_required
@require_POST
@throttle_post("training")
def train(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, taxonomy = client_scope(request, client_slug)
    if is_sector_maintainer(request.user, client.sector):
        form = TrainForm(request.POST)
    else:
        # A client's admin asks for retraining; how it trains is the maintainers' choice.
        form = TrainForm({"mode": ModelMode.HEAD, "backbone": settings.DEFAULT_BACKBONE})
    if not form.is_valid():
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        if wants_json(request):
            return JsonResponse({"detail": detail}, status=400)
        messages.error(request, f"Training was not started ({detail}).")
        return redirect("models", client_slug=client_slug)
    try:
        run = training_request(
            taxonomy=taxonomy,
            mode=form.cleaned_data["mode"],
            backbone=form.cleaned_data["backbone"],
            user=request.user,
        )
    except TrainingAlreadyRunning as exc:
        if wants_json(request):
            return JsonResponse({"detail": str(exc)}, status=409)
        messages.error(request, str(exc))
        return redirect("models", client_slug=client_slug)
    if wants_json(request):
        run.refresh_from_db()  # an eager worker may have finished it already
        return JsonResponse({"run": run_state(run, client_slug)}, status=202)
    messages.success(request, f"Training ({run.get_mode_display().lower()}) is queued.")
    return redirect("models", client_slug=client_slug)


@login_required
@require_safe
def run_progress(request: HttpRequest, client_slug: str, run_id: int) -> JsonResponse:
    _client, taxonomy = client_scope(request, client_slug)
    run = get_object_or_404(
        TrainingRun.objects.filter(taxonomy=taxonomy).select_related("model_version"), pk=run_id
    )
    return JsonResponse(run_state(run, client_slug))


@login_required
def legacy_redirect(request: HttpRequest, rest: str = "") -> HttpResponse:
    """/models/<rest> → /clients/<slug>/models/<rest>, the query string kept. A user of
    several clients who has chosen none goes home to choose."""
    slug = current_client_slug(request)
    if slug is None:
        messages.info(request, "Choose a client to see its models.")
        return redirect("home")
    url = reverse("models", args=[slug]) + escape_uri_path(rest)
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url)
