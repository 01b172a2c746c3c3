"""The upload page: Uppy (served from node_modules by the app) sends one file per request to
the batch files API, so a batch of 10,000 files is 10,000 small requests, a few at a time."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_safe

from labelling.image_validation import ALLOWED_FORMATS, FORMAT_NAMES
from labelling.selectors.summaries import batch_summaries
from labelling.tenancy import CAN_UPLOAD, client_for_user

# Parallel requests from one browser: enough to hide latency, few enough that one librarian's
# 10,000 files do not take every web worker.
PARALLEL_UPLOADS = 4


@login_required
def my_upload(request: HttpRequest) -> HttpResponse:
    """/upload/ → the current client's upload page."""
    if request.client is None:
        return redirect("home")
    return redirect("upload", client_slug=request.client.slug)


@login_required
@require_safe
def upload(request: HttpRequest, client_slug: str) -> HttpResponse:
    client, _membership = client_for_user(
        request.user, client_slug, roles=CAN_UPLOAD, refusal="cannot upload images"
    )
    config = {
        "batchesUrl": reverse("api-batches", args=[client.slug]),
        "libraryUrl": reverse("library", args=[client.slug]),
        "maxFileBytes": settings.MAX_UPLOAD_BYTES,
        "parallel": PARALLEL_UPLOADS,
        "formats": FORMAT_NAMES,
    }
    context = {
        "client": client,
        "upload_config": config,
        "formats": FORMAT_NAMES,
        "allowed_formats": ALLOWED_FORMATS,
        "max_megabytes": settings.MAX_UPLOAD_BYTES // (1024 * 1024),
        "max_megapixels": settings.MAX_IMAGE_PIXELS / 1e6,
        "recent_batches": batch_summaries(client, limit=10),
    }
    return render(request, "labelling/upload.html", context)
