"""Export of a client's tags (CSV, JSON, a zip of XMP sidecars) and import from CSV."""

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api.base import ClientScopedMixin
from labelling.services.tag_export import FORMATS, tag_rows, tags_csv, tags_json, xmp_zip
from labelling.services.tag_import import TagImportError, tags_import_csv
from labelling.tenancy import CAN_UPLOAD

MAX_IMPORT_BYTES = 20 * 1024 * 1024
CONTENT_TYPES = {"csv": "text/csv", "json": "application/json", "xmp": "application/zip"}
EXTENSIONS = {"csv": "csv", "json": "json", "xmp": "zip"}


def tags_response(client, format: str) -> HttpResponse:
    """The client's tags as a download in ``format`` (xmp: a zip of sidecars)."""
    if format not in FORMATS:
        raise ValidationError({"format": f"Use one of {', '.join(FORMATS)}."})
    rows = tag_rows(client=client)
    if format == "csv":
        body = tags_csv(rows).encode()
    elif format == "json":
        body = tags_json(client=client, rows=rows).encode()
    else:
        body = xmp_zip(rows)
    response = HttpResponse(body, content_type=CONTENT_TYPES[format])
    filename = f"{client.slug}-tags.{EXTENSIONS[format]}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def read_uploaded_csv(upload) -> str:
    if upload is None:
        raise ValidationError({"file": "Send the CSV as the form field “file”."})
    if upload.size > MAX_IMPORT_BYTES:
        raise ValidationError({"file": "The file is over 20 MB: split it."})
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError({"file": "The file is not UTF-8 text."}) from exc


class TagExportView(ClientScopedMixin, APIView):
    """GET …/tags/export/csv, /json or /xmp (a zip of sidecars). The format is in the path:
    DRF keeps the ``?format=`` parameter for choosing its own renderers."""

    @extend_schema(
        parameters=[OpenApiParameter("file_format", str, "path", enum=list(FORMATS))],
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request, client_slug, file_format):
        return tags_response(request.client, file_format)


class TagImportView(ClientScopedMixin, APIView):
    write_roles = CAN_UPLOAD
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": {"type": "object"}}, responses=dict)
    def post(self, request, client_slug):
        text = read_uploaded_csv(request.FILES.get("file"))
        try:
            result = tags_import_csv(client=request.client, text=text)
        except TagImportError as exc:
            raise ValidationError({"file": exc.problems}) from exc
        return Response({"created": result.created, "unchanged": result.unchanged})


urlpatterns = [
    path(
        "clients/<slug:client_slug>/tags/export/<str:file_format>",
        TagExportView.as_view(),
        name="tags-export",
    ),
    path("clients/<slug:client_slug>/tags/import", TagImportView.as_view(), name="tags-import"),
]
