"""Prediction over the API: send images (or name stored ones), get a job, poll it.

    POST /api/v1/predict/                 client=<slug>, files (multipart, repeatable) and/or
                                          image_ids, optional top_n → 202, the job
    GET  /api/v1/predict/jobs/<uuid>/     status, progress and the top-n labels per image

No request waits for a model: the job is answered by the ``training.predict`` task, queued
after the commit, with the version that was active when the job was asked for. Files are
stored through the upload service (checked like any upload, refusals reported per file).
"""

from __future__ import annotations

from collections.abc import Mapping

from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, status
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api.input import ObjectJSONParser
from labelling.api.uploads import UploadParser
from labelling.tenancy import CAN_UPLOAD, client_for_user
from training.api import serializers as s
from training.models import PredictionJob
from training.services import prediction_jobs
from training.services.prediction_jobs import NoActiveModel

FILES_FIELD = "files"


def job_url(job: PredictionJob) -> str:
    return reverse("api-predict-job", args=[job.pk])


def file_results(outcomes) -> list[dict]:
    return [
        {
            "name": o.name,
            "status": o.status,
            "code": o.code,
            "message": o.message,
            "image": o.image.pk if o.image is not None else None,
        }
        for o in outcomes
    ]


class PredictView(APIView):
    throttle_scope = "prediction"
    parser_classes = [UploadParser, ObjectJSONParser, parsers.FormParser]
    accepts_files = True  # see RequestSizeLimitMiddleware

    @extend_schema(
        operation_id="predict_create",
        summary="Ask for predictions of new or stored images",
        description=(
            "Send image files (multipart field `files`, repeatable, up to 20) and/or the ids of "
            "images already in the client's library (`image_ids`). New files are checked and "
            "stored like any upload; refused files are listed in `files` with the reason. "
            "Answers at once with a job to poll: 409 when the sector has no active model."
        ),
        request={
            "multipart/form-data": {
                "type": "object",
                "properties": {
                    "client": {"type": "string"},
                    FILES_FIELD: {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "image_ids": {"type": "array", "items": {"type": "integer"}},
                    "top_n": {"type": "integer", "minimum": 1, "maximum": 20},
                },
                "required": ["client"],
            },
            "application/json": s.PredictRequestSerializer,
        },
        responses={
            202: s.PredictJobCreatedSerializer,
            400: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="Nothing to predict (detail, and files with each refusal), or "
                "the request is wrong (messages by field).",
            ),
            409: OpenApiResponse(s.PredictRefusedSerializer, description="No active model."),
        },
    )
    def post(self, request):
        if not isinstance(request.data, Mapping):  # e.g. a JSON list or string
            raise ParseError("Send a JSON object, or a multipart form.")
        slug = request.data.get("client")
        if not slug or not isinstance(slug, str):
            raise ValidationError({"client": ["Name the client (its slug)."]})
        client, _membership = client_for_user(
            request.user, slug, roles=CAN_UPLOAD, refusal="cannot ask for predictions"
        )
        params = s.PredictRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        files = request.FILES.getlist(FILES_FIELD)
        image_ids = params.validated_data.get("image_ids", [])
        if not files and not image_ids:
            raise ValidationError(
                {"detail": f"Send image files (field “{FILES_FIELD}”) or image_ids to predict."}
            )
        try:
            requested = prediction_jobs.prediction_job_create(
                client=client,
                user=request.user,
                files=files,
                image_ids=image_ids,
                top_n=params.validated_data.get("top_n"),
            )
        except NoActiveModel as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        files_body = file_results(requested.files)
        job = requested.job
        if job is None:
            return Response(
                {
                    "detail": "No file could be stored, so there is nothing to predict.",
                    "files": files_body,
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        # Images the version predicted before (named by id) count as done already.
        progress = prediction_jobs.prediction_job_progress(job=job)
        body = {
            "id": job.pk,
            "url": job_url(job),
            "status": progress.status,
            "progress": {"done": progress.done, "total": progress.total},
            "model_version": s.PredictModelVersionSerializer(job.model_version).data,
            "top_n": job.top_n,
            "files": files_body,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class PredictJobView(APIView):
    @extend_schema(
        operation_id="predict_job_retrieve",
        summary="A prediction job's progress and results",
        responses={200: s.PredictJobSerializer},
    )
    def get(self, request, job_id):
        job = (
            PredictionJob.objects.filter(pk=job_id, client__memberships__user=request.user)
            .select_related("client", "model_version")
            .first()
        )
        if job is None:
            raise NotFound("No such prediction job.")
        progress = prediction_jobs.prediction_job_progress(job=job)
        body = {
            "id": job.pk,
            "client": job.client.slug,
            "status": progress.status,
            "progress": {"done": progress.done, "total": progress.total},
            "model_version": job.model_version,
            "top_n": job.top_n,
            "created_at": job.created_at,
            "results": progress.results,
        }
        return Response(s.PredictJobSerializer(body).data)


urlpatterns = [
    path("predict/", PredictView.as_view(), name="api-predict"),
    path("predict/jobs/<uuid:job_id>/", PredictJobView.as_view(), name="api-predict-job"),
]
