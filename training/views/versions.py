"""One version in detail, two side by side on the same gold images, and the actions on
the shared model: evaluate, activate (forcing asks first) and roll back (asks first)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from labelling.models import Client, Label, Taxonomy
from labelling.tenancy import (
    is_sector_maintainer,
    person_shown,
)
from training import presentation
from training.forms import (
    ActivateForm,
    TargetForm,
)
from training.models import (
    ModelVersion,
    TrainingRun,
)
from training.selectors import active_version, affected_clients, rollback_target
from training.services.client_settings import (
    client_settings_of,
)
from training.services.dataset import NotEnoughData
from training.services.evaluation import head_to_head
from training.services.versions import (
    ActivationRefused,
    ArtifactUnusable,
    model_activate,
    model_rollback,
)
from training.tasks import evaluate as evaluate_task
from training.views.access import (
    client_policy,
    client_scope,
    confirm_page,
    is_client_admin,
    maintainer_scope,
    require_maintainer,
    version_or_404,
)


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
        "policy": presentation.policy_view(version, classes, client_policy(version, own)),
        "precision_warning": presentation.precision_warning(client_policy(version, own)),
        "chart": presentation.history_chart(run.history if run else []),
        "training": (version.metrics or {}).get("training") or {},
        "gold": (version.metrics or {}).get("latest_gold_evaluation"),
        "activate_form": ActivateForm(),
        "own_target": own.auto_accept_target,
        "target_form": TargetForm(
            initial={"target": round((own.auto_accept_target or taxonomy.auto_accept_target) * 100)}
        ),
        "maintainer": is_sector_maintainer(request.user, client.sector),
        "client_admin": is_client_admin(request.user, client),
        "created_by": person_shown(version.created_by, client=client, viewer=request.user)
        if version.created_by
        else None,
        "affected": affected_clients(client),
    }


@login_required
@require_safe
def version_detail(request: HttpRequest, client_slug: str, version_id: int) -> HttpResponse:
    client, taxonomy = client_scope(request, client_slug)
    version = version_or_404(taxonomy, version_id)
    return render(
        request, "training/version_detail.html", _detail_context(request, client, taxonomy, version)
    )


@login_required
@require_POST
def activate(request: HttpRequest, client_slug: str, version_id: int) -> HttpResponse:
    client, taxonomy = client_scope(request, client_slug)
    version = version_or_404(taxonomy, version_id)
    require_maintainer(request, client)
    form = ActivateForm(request.POST)
    force = form.is_valid() and form.cleaned_data["force"]
    if force and request.POST.get("confirm") != "yes":
        active = active_version(taxonomy)
        return confirm_page(
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


@login_required
@require_POST
def evaluate(request: HttpRequest, client_slug: str) -> HttpResponse:
    """Have the worker measure versions on today's gold test images (the set grows as the
    library does); the compare page shows the result once their answers are stored."""
    _client, taxonomy = client_scope(request, client_slug)
    ids = [v for v in request.POST.getlist("version") if v.isdigit()]
    versions = [version_or_404(taxonomy, v) for v in dict.fromkeys(ids)]
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
    client, taxonomy = maintainer_scope(request, client_slug)
    if request.POST.get("confirm") != "yes":
        active = active_version(taxonomy)
        target = rollback_target(taxonomy, active)
        if active is not None and target is not None:
            return confirm_page(
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
    client, taxonomy = client_scope(request, client_slug)
    versions = list(ModelVersion.objects.filter(taxonomy=taxonomy).order_by("-number"))
    a_id, b_id = request.GET.get("a", ""), request.GET.get("b", "")
    if not (a_id.isdigit() and b_id.isdigit()):
        messages.error(request, "Choose two versions to compare.")
        return redirect("models", client_slug=client_slug)
    a, b = version_or_404(taxonomy, a_id), version_or_404(taxonomy, b_id)
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
