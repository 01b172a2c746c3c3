"""What one client decides about its sector's shared model (its own auto-accept target,
its consent to train it) and what the maintainers decide (the retraining policy)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from training.forms import (
    ConsentForm,
    RetrainingPolicyForm,
    TargetForm,
)
from training.models import (
    ModelVersion,
)
from training.services.client_settings import (
    client_consent_set,
    client_target_set,
)
from training.services.retraining import retraining_policy_set
from training.views.access import client_admin_scope, maintainer_scope


@login_required
@require_POST
def set_target(request: HttpRequest, client_slug: str) -> HttpResponse:
    """The client's own auto-accept target (in percent): only this client's decisions move."""
    client, taxonomy = client_admin_scope(request, client_slug)
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
    client, _taxonomy = client_admin_scope(request, client_slug)
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
    _client, taxonomy = maintainer_scope(request, client_slug)
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
