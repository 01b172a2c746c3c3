"""Upload batches over the API: create a batch, post files into it (one or a few per request),
poll its counts.

    POST /api/v1/clients/<slug>/batches/              {"name": "..."} → 201, the batch
    GET  /api/v1/clients/<slug>/batches/              → the batches, newest first
    GET  /api/v1/clients/<slug>/batches/<id>/         → the batch with its counts
    POST /api/v1/clients/<slug>/batches/<id>/files/   multipart, field "file" (repeatable)

The files endpoint answers one result per file: ``stored``, ``duplicate`` (with the image it
duplicates) or ``rejected`` (with a reason code and a message). A stored file whose picture is
nearly one already in the library (perceptual hash within a few bits) lists those images in
``looks_like`` ("looks like image 503"); it is stored all the same. Its status is 201 when a file
was stored, 200 when none was but some were already in the library, 400 when all were refused.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.http.multipartparser import MultiPartParser as DjangoMultiPartParser
from django.http.multipartparser import MultiPartParserError
from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, parsers, serializers, status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling import storage_names
from labelling.api.base import ClientScopedMixin
from labelling.models import Image, UploadBatch
from labelling.services import uploads
from labelling.tenancy import CAN_UPLOAD

FILE_FIELD = "file"


class _KeepUnsafeNamesParser(DjangoMultiPartParser):
    """Django cuts ``../../x.jpg`` to ``x.jpg`` before anyone sees it; we want to refuse it
    with a reason instead, so such a name is passed on marked (see storage_names)."""

    def sanitize_file_name(self, file_name):
        if storage_names.is_path_traversal(file_name):
            return storage_names.mark_unsafe(file_name)
        return super().sanitize_file_name(file_name)


class UploadParser(parsers.MultiPartParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        request = parser_context["request"]
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        meta = request.META.copy()
        meta["CONTENT_TYPE"] = media_type
        try:
            parser = _KeepUnsafeNamesParser(meta, stream, request.upload_handlers, encoding)
            data, files = parser.parse()
        except TooManyFilesSent:
            raise ParseError(
                f"At most {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files per request; "
                "send the others in further requests."
            ) from None
        except MultiPartParserError as exc:
            raise ParseError(f"Multipart form parse error - {exc}") from exc
        return parsers.DataAndFiles(data, files)


def image_links(request, image: Image) -> dict:
    slug = request.client.slug
    return {
        "id": image.pk,
        "name": image.original_name,
        "status": image.status,
        "page": reverse("image-detail", args=[slug, image.pk]),
        "file": reverse("image-file", args=[slug, image.pk]),
        "thumbnail": reverse("image-thumbnail", args=[slug, image.pk]),
    }


def looks_like(request, pk: int, name: str, bits: int) -> dict:
    slug = request.client.slug
    return {
        "id": pk,
        "name": name,
        "page": reverse("image-detail", args=[slug, pk]),
        "thumbnail": reverse("image-thumbnail", args=[slug, pk]),
        "bits": bits,
    }


class BatchSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    url = serializers.SerializerMethodField()
    files_url = serializers.SerializerMethodField()

    class Meta:
        model = UploadBatch
        fields = ["id", "name", "created_at", "created_by", "url", "files_url"]
        read_only_fields = ["id", "created_at", "created_by", "url", "files_url"]
        extra_kwargs = {"name": {"required": False, "allow_blank": True}}

    def _url_args(self, batch):
        return [self.context["request"].client.slug, batch.pk]

    def get_url(self, batch) -> str:
        return reverse("api-batch-detail", args=self._url_args(batch))

    def get_files_url(self, batch) -> str:
        return reverse("api-batch-files", args=self._url_args(batch))


class BatchDetailSerializer(BatchSerializer):
    counts = serializers.SerializerMethodField()

    class Meta(BatchSerializer.Meta):
        fields = [*BatchSerializer.Meta.fields, "counts", "rejections"]

    def get_counts(self, batch) -> dict:
        return uploads.batch_counts(batch=batch)


class BatchList(ClientScopedMixin, generics.ListCreateAPIView):
    serializer_class = BatchSerializer
    write_roles = CAN_UPLOAD

    def get_queryset(self):
        return self.request.client.batches.select_related("created_by").order_by(
            "-created_at", "-id"
        )

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        batch = uploads.batch_create(
            client=request.client,
            user=request.user,
            name=serializer.validated_data.get("name", ""),
        )
        body = BatchDetailSerializer(batch, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


class BatchDetail(ClientScopedMixin, generics.RetrieveAPIView):
    serializer_class = BatchDetailSerializer

    def get_object(self):
        return generics.get_object_or_404(
            self.request.client.batches.select_related("created_by"), pk=self.kwargs["batch_id"]
        )


class LooksLikeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    page = serializers.CharField()
    thumbnail = serializers.CharField()
    bits = serializers.IntegerField(help_text="How many of the 64 hash bits differ.")


class FileResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=[uploads.STORED, uploads.DUPLICATE, uploads.REJECTED])
    code = serializers.CharField()
    message = serializers.CharField()
    image = serializers.DictField(allow_null=True)
    looks_like = LooksLikeSerializer(
        many=True,
        help_text="Stored files: the client's images whose picture is nearly the same, "
        "closest first.",
    )


class FilesResponseSerializer(serializers.Serializer):
    batch = serializers.IntegerField()
    results = FileResultSerializer(many=True)
    detail = serializers.CharField(required=False)


class BatchFiles(ClientScopedMixin, APIView):
    write_roles = CAN_UPLOAD
    throttle_scope = "upload"
    parser_classes = [UploadParser]
    accepts_files = True  # see RequestSizeLimitMiddleware

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    FILE_FIELD: {"type": "array", "items": {"type": "string", "format": "binary"}}
                },
            }
        },
        responses={
            201: FilesResponseSerializer,
            200: FilesResponseSerializer,
            # Either every file refused (the body as for 201, each with its reason) or a
            # request error ({"detail": ...}).
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Every file was refused (batch and results, as for 201, with each "
                "reason), or the request itself is wrong (detail).",
            ),
        },
    )
    def post(self, request, client_slug: str, batch_id: int):
        batch = generics.get_object_or_404(request.client.batches, pk=batch_id)
        files = request.FILES.getlist(FILE_FIELD)
        if not files:
            raise ParseError(f"Send the images as multipart form field “{FILE_FIELD}”.")
        if len(files) > uploads.MAX_FILES_PER_REQUEST:
            raise ParseError(
                f"At most {uploads.MAX_FILES_PER_REQUEST} files per request; "
                f"this one had {len(files)}."
            )
        outcomes = uploads.batch_files_upload(batch=batch, user=request.user, files=files)
        names = dict(
            Image.objects.for_client(request.client)
            .filter(pk__in={pk for o in outcomes for pk, _bits in o.looks_like})
            .values_list("pk", "original_name")
        )
        results = [
            {
                "name": o.name,
                "status": o.status,
                "code": o.code,
                "message": o.message,
                "image": image_links(request, o.image) if o.image is not None else None,
                "looks_like": [
                    looks_like(request, pk, names.get(pk, ""), bits) for pk, bits in o.looks_like
                ],
            }
            for o in outcomes
        ]
        statuses = {o.status for o in outcomes}
        if uploads.STORED in statuses:
            code = status.HTTP_201_CREATED
        elif uploads.DUPLICATE in statuses:
            code = status.HTTP_200_OK
        else:
            code = status.HTTP_400_BAD_REQUEST
        body = {"batch": batch.pk, "results": results}
        if code == status.HTTP_400_BAD_REQUEST:
            body["detail"] = results[0]["message"]
        return Response(body, status=code)


urlpatterns = [
    path("clients/<slug:client_slug>/batches/", BatchList.as_view(), name="api-batches"),
    path(
        "clients/<slug:client_slug>/batches/<int:batch_id>/",
        BatchDetail.as_view(),
        name="api-batch-detail",
    ),
    path(
        "clients/<slug:client_slug>/batches/<int:batch_id>/files/",
        BatchFiles.as_view(),
        name="api-batch-files",
    ),
]
