"""The audit page of a client: who changed what that concerns the client or its sector."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from labelling.models import AuditAction
from labelling.selectors.audit import audit_events_for, audit_rows
from labelling.tenancy import client_for_admin_or_staff

PAGE_SIZE = 50


@login_required
@require_safe
def audit_page(request: HttpRequest, client_slug: str) -> HttpResponse:
    client = client_for_admin_or_staff(
        request.user, client_slug, refusal="cannot see the audit log"
    )
    action = request.GET.get("action") or ""
    if action not in AuditAction.values:
        action = ""
    events = audit_events_for(user=request.user, client=client, action=action or None)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "client": client,
        "page": page,
        "rows": audit_rows(user=request.user, client=client, events=page.object_list),
        "actions": AuditAction.choices,
        "action": action,
    }
    return render(request, "labelling/audit.html", context)
