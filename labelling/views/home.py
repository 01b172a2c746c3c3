from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from labelling.models import Role
from labelling.selectors.summaries import batch_summaries, image_counts
from labelling.tenancy import SESSION_KEY


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Each role lands on what it should do next."""
    client, membership = request.client, request.membership
    context: dict = {}
    if client is not None:
        context["counts"] = image_counts(client)
        context["recent_batches"] = batch_summaries(client, limit=5)
    template = {
        Role.ADMIN: "labelling/home_admin.html",
        Role.LIBRARIAN: "labelling/home_librarian.html",
        Role.REVIEWER: "labelling/home_reviewer.html",
    }.get(membership.role if membership else None, "labelling/home_none.html")
    return render(request, template, context)


@login_required
@require_POST
def switch_client(request: HttpRequest) -> HttpResponse:
    wanted = request.POST.get("client", "")
    chosen = next((m for m in request.memberships if str(m.client_id) == wanted), None)
    if chosen is not None:
        request.session[SESSION_KEY] = chosen.client_id
    target = request.POST.get("next") or "/"
    if not url_has_allowed_host_and_scheme(target, {request.get_host()}):
        target = "/"
    return redirect(target)
