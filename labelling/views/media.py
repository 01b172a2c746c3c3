"""Image files, served by the app after a permission check (media is never public, on the
local disk or on S3). The content type is set by the server from the format Pillow found, and
``nosniff`` with a sandboxing CSP keeps a browser from reading a file as anything else."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from labelling import storage_names
from labelling.image_validation import EXTENSIONS, MIME_TYPES
from labelling.models import Image
from labelling.tenancy import client_for_user

THUMBNAIL_TYPE = "image/jpeg"  # thumbnails are always re-encoded as JPEG


@login_required
@require_safe
def image_file(request: HttpRequest, client_slug: str, image_id: int) -> HttpResponse:
    image = _image_or_404(request, client_slug, image_id)
    return _serve(
        request,
        name=image.file.name,
        content_type=MIME_TYPES.get(image.format, "application/octet-stream"),
        etag=f'"{image.sha256}"',
        # Never the uploader's extension: the one of the type Pillow verified.
        filename=storage_names.download_name(
            image.original_name,
            extension=EXTENSIONS.get(image.format, "bin"),
            fallback=f"image-{image.pk}",
        ),
        download="download" in request.GET,
    )


@login_required
@require_safe
def image_thumbnail(request: HttpRequest, client_slug: str, image_id: int) -> HttpResponse:
    image = _image_or_404(request, client_slug, image_id)
    if not image.thumbnail.name:
        raise Http404("No thumbnail yet.")
    return _serve(
        request,
        name=image.thumbnail.name,
        content_type=THUMBNAIL_TYPE,
        etag=f'"{image.sha256}-t"',
    )


def _image_or_404(request: HttpRequest, client_slug: str, image_id: int) -> Image:
    client, _membership = client_for_user(request.user, client_slug)
    return get_object_or_404(
        Image.objects.for_client(client).only(
            "id", "file", "thumbnail", "format", "sha256", "original_name"
        ),
        pk=image_id,
    )


def _serve(
    request: HttpRequest,
    *,
    name: str,
    content_type: str,
    etag: str,
    filename: str = "",
    download: bool = False,
) -> HttpResponse:
    if etag in _etags(request.headers.get("If-None-Match", "")):
        response: HttpResponse = HttpResponseNotModified()
    else:
        try:
            handle = default_storage.open(name, "rb")
        except (FileNotFoundError, OSError):
            raise Http404("The file is missing from storage.") from None
        response = FileResponse(handle, content_type=content_type)
        if filename or download:
            response["Content-Disposition"] = content_disposition_header(
                as_attachment=download, filename=filename or "image"
            )
    response["ETag"] = etag
    response["X-Content-Type-Options"] = "nosniff"
    # Opened on its own, the file may not run anything or load anything.
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


def _etags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
