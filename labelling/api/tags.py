"""Export of a client's tags (CSV, JSON, a zip of XMP sidecars) and import from CSV."""

from django.http import HttpResponse
from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api.base import ClientScopedMixin
from labelling.services.tag_export import (
    CONTENT_TYPES,
    FORMATS,
    TagExportError,
    tags_download,
)
from labelling.services.tag_import import TagImportError, read_csv_upload, tags_import_csv
from labelling.tenancy import CAN_UPLOAD


def download_response(body: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class TagExportView(ClientScopedMixin, APIView):
    """GET …/tags/export/csv, /json or /xmp (a zip of sidecars). The format is in the path:
    DRF keeps the ``?format=`` parameter for choosing its own renderers."""

    @extend_schema(
        parameters=[OpenApiParameter("file_format", str, "path", enum=list(FORMATS))],
        # One documented body per format's own type, as the download is sent: the JSON
        # export is an object, the CSV and the zip of sidecars are files.
        responses={
            (200, content_type): OpenApiTypes.OBJECT if content_type.endswith("json") else bytes
            for content_type in CONTENT_TYPES.values()
        },
    )
    def get(self, request, client_slug, file_format):
        try:
            return download_response(*tags_download(client=request.client, format=file_format))
        except TagExportError as exc:
            raise ValidationError({"format": str(exc)}) from exc


class TagImportView(ClientScopedMixin, APIView):
    write_roles = CAN_UPLOAD
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": {"type": "object"}}, responses=dict)
    def post(self, request, client_slug):
        try:
            text = read_csv_upload(request.FILES.get("file"))
            result = tags_import_csv(client=request.client, text=text, user=request.user)
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
