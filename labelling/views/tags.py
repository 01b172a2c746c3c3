"""The tags page: download the library's tags (CSV, JSON, XMP sidecars), import a CSV."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_safe

from labelling.api.tags import download_response
from labelling.services.tag_export import TagExportError, tags_download
from labelling.services.tag_import import TagImportError, read_csv_upload, tags_import_csv
from labelling.tenancy import CAN_UPLOAD, client_for_user_or_404


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def tags_page(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, membership = client_for_user_or_404(request.user, client_slug)
    can_import = membership.role in CAN_UPLOAD
    context = {"client": client, "can_import": can_import, "problems": [], "result": None}
    status = 200
    if request.method == "POST":
        if not can_import:
            status, context["problems"] = 403, [f"Your role ({membership.role}) cannot import."]
        else:
            try:
                text = read_csv_upload(request.FILES.get("file"))
                context["result"] = tags_import_csv(client=client, text=text, user=request.user)
            except TagImportError as exc:
                status, context["problems"] = 400, exc.problems
    return render(request, "labelling/tags.html", context, status=status)


@login_required
@require_safe
def tags_file(request: HttpRequest, client_slug: str, file_format: str) -> HttpResponse:
    client, _membership = client_for_user_or_404(request.user, client_slug)
    try:
        return download_response(*tags_download(client=client, format=file_format))
    except TagExportError as exc:
        raise Http404(str(exc)) from exc
