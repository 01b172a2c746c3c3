"""The model pages of a client's admins: the versions of their sector's taxonomy, one
version in detail, two side by side; train, activate, roll back, move the auto-accept target.

Pages live under /clients/<slug>/models/ and resolve the client through
``client_for_admin_or_maintainer``: the sector's maintainers (site staff, or its listed
maintainers) need not be members; anyone else who is not a member gets a 404, a member of
another role than admin a 403. Its admins manage
the sector's models (every client of a sector shares them); a version or run of another
taxonomy is a 404 whoever asks. The old /models/... addresses redirect to the current
client's (``legacy_redirect``).

Training runs on the training queue; the list page polls ``run_progress`` for its progress
bar. Activating, rolling back and comparing load no model here: the services read the
artifact's checksum and the gold answers workers stored before the pointer moves.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.encoding import escape_uri_path
from django.views.decorators.http import require_POST, require_safe

from labelling.models import Client, Label, Membership, Taxonomy
from labelling.tenancy import (
    CAN_MANAGE_CLIENT,
    SESSION_KEY,
    client_for_admin_or_maintainer,
    is_sector_maintainer,
    memberships_of,
    person_shown,
)
from labelling.throttling import throttle_post
from training import presentation
from training.forms import (
    ActivateForm,
    ConsentForm,
    RetrainingPolicyForm,
    TargetForm,
    TrainForm,
)
from training.models import (
    ACTIVE_RUN_STATUSES,
    ClientModelSettings,
    ModelActivation,
    ModelMode,
    ModelVersion,
    TrainingRun,
)
from training.selectors import active_version, affected_clients, consenting_clients, rollback_target
from training.services.backfill import backfill_progress
from training.services.client_settings import (
    client_consent_set,
    client_settings_of,
    client_target_set,
)
from training.services.dataset import NotEnoughData
from training.services.evaluation import against_reference, head_to_head
from training.services.policy import policy_for_client
from training.services.retraining import retraining_policy_of, retraining_policy_set
from training.services.training import TrainingAlreadyRunning, training_request
from training.services.versions import (
    ActivationRefused,
    ArtifactUnusable,
    model_activate,
    model_rollback,
)
from training.tasks import evaluate as evaluate_task


def _scope(request: HttpRequest, client_slug: str) -> tuple[Client, Taxonomy]:
    client = client_for_admin_or_maintainer(
        request.user,
        client_slug,
        refusal="does not manage this sector's models (admins do)",
    )
    taxonomy = client.taxonomy
    if taxonomy is None:
        raise Http404(f"The {client.sector.name} sector has no taxonomy yet.")
    return client, taxonomy


def _require_maintainer(request: HttpRequest, client: Client) -> None:
    """What changes the sector's shared model for every client of the sector is for its
    maintainers only (403 for a client's admin, who may ask for retraining)."""
    if not is_sector_maintainer(request.user, client.sector):
        raise PermissionDenied(
            f"Only the {client.sector.name} sector's maintainers promote and roll back its "
            "shared model and set its retraining policy; a client's admin can ask for retraining."
        )


def _maintainer_scope(request: HttpRequest, client_slug: str) -> tuple[Client, Taxonomy]:
    client, taxonomy = _scope(request, client_slug)
    _require_maintainer(request, client)
    return client, taxonomy


def _is_client_admin(user, client: Client) -> bool:
    return Membership.objects.filter(user=user, client=client, role__in=CAN_MANAGE_CLIENT).exists()


def _client_admin_scope(request: HttpRequest, client_slug: str) -> tuple[Client, Taxonomy]:
    """What is the client's own choice (its auto-accept target, its consent) is for its
    admins: a maintainer who is not one of them sees it but does not change it (403)."""
    client, taxonomy = _scope(request, client_slug)
    if not _is_client_admin(request.user, client):
        raise PermissionDenied(
            f"{client.name}'s own target and consent are its admins' choice; "
            "a sector maintainer who is not one of them cannot change them."
        )
    return client, taxonomy


def _version_or_404(taxonomy: Taxonomy, version_id) -> ModelVersion:
    return get_object_or_404(ModelVersion.objects.filter(taxonomy=taxonomy), pk=version_id)


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


# What the live curves draw of each finished epoch (the run stores the whole Keras log).
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
    client, taxonomy = _scope(request, client_slug)
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
        "client_admin": _is_client_admin(request.user, client),
        "consent_form": ConsentForm(initial={"trains_sector_model": own.trains_sector_model}),
        "consenting": consenting_clients(client),
        "precision_warning": presentation.precision_warning(_client_policy(active, own))
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
    client, taxonomy = _scope(request, client_slug)
    if is_sector_maintainer(request.user, client.sector):
        form = TrainForm(request.POST)
    else:
        # A client's admin asks for retraining; how it trains is the maintainers' choice.
        form = TrainForm({"mode": ModelMode.HEAD, "backbone": settings.DEFAULT_BACKBONE})
    if not form.is_valid():
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        if _wants_json(request):
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
        if _wants_json(request):
            return JsonResponse({"detail": str(exc)}, status=409)
        messages.error(request, str(exc))
        return redirect("models", client_slug=client_slug)
    if _wants_json(request):
        run.refresh_from_db()  # an eager worker may have finished it already
        return JsonResponse({"run": run_state(run, client_slug)}, status=202)
    messages.success(request, f"Training ({run.get_mode_display().lower()}) is queued.")
    return redirect("models", client_slug=client_slug)


@login_required
@require_safe
def run_progress(request: HttpRequest, client_slug: str, run_id: int) -> JsonResponse:
    _client, taxonomy = _scope(request, client_slug)
    run = get_object_or_404(
        TrainingRun.objects.filter(taxonomy=taxonomy).select_related("model_version"), pk=run_id
    )
    return JsonResponse(run_state(run, client_slug))


def _client_policy(version: ModelVersion, own: ClientModelSettings) -> dict:
    """The thresholds ``version`` uses for this client (its own target, if it set one)."""
    try:
        return policy_for_client(version, own if own.pk else None)
    except ValueError:
        return version.policy or {}


def _detail_context(request, client: Client, taxonomy: Taxonomy, version: ModelVersion) -> dict:
    active = active_version(taxonomy)
    own = client_settings_of(client)
    labels = Label.objects.in_bulk(version.class_labels)
    classes = presentation.class_names(version, client.display_names(), labels)
    run = TrainingRun.objects.filter(model_version=version).order_by("-created_at").first()
    return {
        "client": client,
        "taxonomy": taxonomy,
        "version": version,
        "active": active,
        "is_active": active is not None and active.pk == version.pk,
        "summary": presentation.version_summary(version),
        "classes": classes,
        "per_class": presentation.per_class_rows(version, classes),
        "confusion": presentation.confusion_rows(version, classes),
        "reliability": presentation.reliability_diagram(version),
        "policy": presentation.policy_view(version, classes, _client_policy(version, own)),
        "precision_warning": presentation.precision_warning(_client_policy(version, own)),
        "chart": presentation.history_chart(run.history if run else []),
        "training": (version.metrics or {}).get("training") or {},
        "gold": (version.metrics or {}).get("latest_gold_evaluation"),
        "activate_form": ActivateForm(),
        "own_target": own.auto_accept_target,
        "target_form": TargetForm(
            initial={"target": round((own.auto_accept_target or taxonomy.auto_accept_target) * 100)}
        ),
        "maintainer": is_sector_maintainer(request.user, client.sector),
        "client_admin": _is_client_admin(request.user, client),
        "created_by": person_shown(version.created_by, client=client, viewer=request.user)
        if version.created_by
        else None,
        "affected": affected_clients(client),
    }


@login_required
@require_safe
def version_detail(request: HttpRequest, client_slug: str, version_id: int) -> HttpResponse:
    client, taxonomy = _scope(request, client_slug)
    version = _version_or_404(taxonomy, version_id)
    return render(
        request, "training/version_detail.html", _detail_context(request, client, taxonomy, version)
    )


@login_required
@require_POST
def activate(request: HttpRequest, client_slug: str, version_id: int) -> HttpResponse:
    client, taxonomy = _scope(request, client_slug)
    version = _version_or_404(taxonomy, version_id)
    _require_maintainer(request, client)
    form = ActivateForm(request.POST)
    force = form.is_valid() and form.cleaned_data["force"]
    if force and request.POST.get("confirm") != "yes":
        active = active_version(taxonomy)
        return _confirm(
            request,
            client,
            title=f"Force v{version.number} to serve",
            what=(
                f"v{version.number} becomes the active model without the gold test images' "
                "check" + (f", in place of v{active.number}" if active else "") + "."
            ),
            becomes=version,
            action_url=reverse("model-version-activate", args=[client.slug, version.pk]),
            fields=[("force", "on")],
            cancel_url=reverse("model-version", args=[client.slug, version.pk]),
        )
    try:
        model_activate(
            model_version=version, user=request.user, force=force, note="from the models page"
        )
    except ActivationRefused as exc:
        # Forcing overrides the gold comparison only; an unusable artifact is refused
        # whatever the admin says.
        forceable = not force and not isinstance(exc, ArtifactUnusable)
        context = {
            **_detail_context(request, client, taxonomy, version),
            "refused": str(exc),
            "forceable": forceable,
        }
        return render(request, "training/version_detail.html", context, status=409)
    messages.success(request, f"v{version.number} is now the active model.")
    return redirect("model-version", client_slug=client_slug, version_id=version.pk)


def _confirm(request: HttpRequest, client: Client, **context) -> HttpResponse:
    """The page that asks before the shared model changes for every client of the sector,
    saying who it touches; its button posts the same form again with confirm=yes."""
    return render(
        request,
        "training/confirm.html",
        {"client": client, "affected": affected_clients(client), **context},
    )


@login_required
@require_POST
def evaluate(request: HttpRequest, client_slug: str) -> HttpResponse:
    """Have the worker measure versions on today's gold test images (the set grows as the
    library does); the compare page shows the result once their answers are stored."""
    _client, taxonomy = _scope(request, client_slug)
    ids = [v for v in request.POST.getlist("version") if v.isdigit()]
    versions = [_version_or_404(taxonomy, v) for v in dict.fromkeys(ids)]
    if not versions:
        messages.error(request, "Choose the versions to measure.")
        return redirect("models", client_slug=client_slug)
    for version in versions:
        transaction.on_commit(lambda pk=version.pk: evaluate_task.delay(pk))
    numbers = " and ".join(f"v{v.number}" for v in versions)
    messages.success(
        request,
        f"The worker is measuring {numbers} on today's gold test images; reload in a moment.",
    )
    back = request.POST.get("next", "")
    if back.startswith(reverse("models-compare", args=[client_slug])):
        return redirect(back)
    return redirect("models", client_slug=client_slug)


@login_required
@require_POST
def rollback(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, taxonomy = _maintainer_scope(request, client_slug)
    if request.POST.get("confirm") != "yes":
        active = active_version(taxonomy)
        target = rollback_target(taxonomy, active)
        if active is not None and target is not None:
            return _confirm(
                request,
                client,
                title=f"Roll back to v{target.number}",
                what=f"v{target.number}, which served before v{active.number}, becomes the "
                "active model again.",
                becomes=target,
                action_url=reverse("models-rollback", args=[client.slug]),
                fields=[],
                cancel_url=reverse("models", args=[client.slug]),
            )
    try:
        activation = model_rollback(taxonomy=taxonomy, user=request.user)
    except ActivationRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"Rolled back: v{activation.model_version.number} is the active model again."
        )
    return redirect("models", client_slug=client_slug)


@login_required
@require_POST
def set_target(request: HttpRequest, client_slug: str) -> HttpResponse:
    """The client's own auto-accept target (in percent): only this client's decisions move."""
    client, taxonomy = _client_admin_scope(request, client_slug)
    form = TargetForm(request.POST)
    back = request.POST.get("version")
    target_page = (
        reverse("model-version", args=[client_slug, back])
        if back
        and back.isdigit()
        and ModelVersion.objects.filter(taxonomy=taxonomy, pk=back).exists()
        else reverse("models", args=[client_slug])
    )
    if not form.is_valid():
        messages.error(request, f"The target was not changed: {' '.join(form.errors['target'])}")
        return redirect(target_page)
    target = form.cleaned_data["target"] / 100
    try:
        policy = client_target_set(client=client, target=target, user=request.user)
    except ValueError as exc:
        messages.error(request, f"The target was not changed: {exc}.")
        return redirect(target_page)
    bought = (policy or {}).get("test") or {}
    if "coverage" in bought:
        messages.success(
            request,
            f"{client.name}'s target precision is {target:.0%}: the active model now tags "
            f"{bought['coverage']:.0%} of the gold test images on its own for {client.name}.",
        )
    else:
        messages.success(request, f"{client.name}'s target precision is {target:.0%}.")
    return redirect(target_page)


@login_required
@require_POST
def set_consent(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, _taxonomy = _client_admin_scope(request, client_slug)
    form = ConsentForm(request.POST)
    form.is_valid()  # one checkbox: absent means no
    consents = bool(form.cleaned_data.get("trains_sector_model"))
    client_consent_set(client=client, trains_sector_model=consents, user=request.user)
    messages.success(
        request,
        f"{client.name}'s verified images "
        + ("train" if consents else "no longer train")
        + " the sector's model from the next training run on.",
    )
    return redirect("models", client_slug=client_slug)


@login_required
@require_POST
def set_retraining(request: HttpRequest, client_slug: str) -> HttpResponse:
    _client, taxonomy = _maintainer_scope(request, client_slug)
    form = RetrainingPolicyForm(request.POST)
    if not form.is_valid():
        errors = " ".join(f"{form.fields[k].label}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"The retraining policy was not changed. {errors}")
        return redirect("models", client_slug=client_slug)
    policy = retraining_policy_set(taxonomy=taxonomy, user=request.user, **form.cleaned_data)
    messages.success(
        request,
        "Retraining policy saved: "
        + (
            f"after {policy.after_verified} newly verified images"
            + (f", and every {policy.every_hours} h" if policy.every_hours else "")
            if policy.enabled
            else "off (train by hand only)"
        )
        + ".",
    )
    return redirect("models", client_slug=client_slug)


def _comparison_rows(a: ModelVersion, b: ModelVersion) -> list[dict]:
    def figures(v: ModelVersion) -> dict:
        summary = presentation.version_summary(v)
        metrics = v.metrics or {}
        policy_test = (v.policy or {}).get("test") or {}
        return {
            **summary,
            "macro_f1": metrics.get("macro_f1"),
            "n_train": v.n_train,
            "coverage": policy_test.get("coverage"),
            "auto_precision": policy_test.get("precision"),
            "seconds": (metrics.get("training") or {}).get("seconds"),
        }

    fa, fb = figures(a), figures(b)
    # Each version's stored figures come from the gold test images of the day it was trained,
    # which grow with the library: no "better" mark between them (the gold comparison below
    # the table, on the same images, says which does better).
    spec = [
        ("Top-1 accuracy", "top1", "percent", True),
        ("Top-3 accuracy", "top3", "percent", True),
        ("Macro F1", "macro_f1", "number", True),
        ("Log loss", "log_loss", "number", False),
        ("ECE", "ece", "number", False),
        ("Auto-accept coverage", "coverage", "percent", True),
        ("Auto-accept precision", "auto_precision", "percent", True),
        ("Gold test images", "n_test", "count", None),
        ("Training images", "n_train", "count", None),
        ("Training time", "seconds", "seconds", None),
    ]
    rows = []
    for title, key, kind, _higher_is_better in spec:
        rows.append({"title": title, "kind": kind, "a": fa.get(key), "b": fb.get(key)})
    return rows


def gold_head_to_head(a: ModelVersion, b: ModelVersion) -> dict | None:
    """Top-1 of both versions on the gold test images both have answered (their stored
    answers: no model runs here). With the active version among them this is the check
    activation itself makes. None when there are no gold test images yet."""
    result = head_to_head(a, b)
    if result is None:
        return None
    n, top1_a, top1_b = result
    return {"n": n, "a": top1_a, "b": top1_b}


@login_required
@require_safe
def compare(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, taxonomy = _scope(request, client_slug)
    versions = list(ModelVersion.objects.filter(taxonomy=taxonomy).order_by("-number"))
    a_id, b_id = request.GET.get("a", ""), request.GET.get("b", "")
    if not (a_id.isdigit() and b_id.isdigit()):
        messages.error(request, "Choose two versions to compare.")
        return redirect("models", client_slug=client_slug)
    a, b = _version_or_404(taxonomy, a_id), _version_or_404(taxonomy, b_id)
    active = active_version(taxonomy)
    try:
        gold = gold_head_to_head(a, b)
    except NotEnoughData:
        gold = None  # no verified images, so no gold test images yet
    context = {
        "client": client,
        "taxonomy": taxonomy,
        "a": a,
        "b": b,
        "active": active,
        "rows": _comparison_rows(a, b),
        "warnings": [
            f"v{v.number}: {w}"
            for v in (a, b)
            if (w := presentation.precision_warning(v.policy or {}))
        ],
        "gold": gold,
        "versions": versions,
    }
    return render(request, "training/compare.html", context)


def _current_client_slug(request: HttpRequest) -> str | None:
    """The client the old addresses meant: the one chosen in the switcher, else the user's
    only client. None when neither says which."""
    memberships = memberships_of(request.user)
    wanted = request.session.get(SESSION_KEY)
    chosen = next((m for m in memberships if m.client_id == wanted), None)
    if chosen is None and len(memberships) == 1:
        chosen = memberships[0]
    return chosen.client.slug if chosen is not None else None


@login_required
def legacy_redirect(request: HttpRequest, rest: str = "") -> HttpResponse:
    """/models/<rest> → /clients/<slug>/models/<rest>, the query string kept. A user of
    several clients who has chosen none goes home to choose."""
    slug = _current_client_slug(request)
    if slug is None:
        messages.info(request, "Choose a client to see its models.")
        return redirect("home")
    url = reverse("models", args=[slug]) + escape_uri_path(rest)
    query = request.GET.urlencode()
    return redirect(f"{url}?{query}" if query else url)
