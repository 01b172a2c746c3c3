"""Training runs and model versions of a client's sector taxonomy, over the API.

    GET  /api/v1/clients/<slug>/training-runs/                       the runs, newest first
    POST /api/v1/clients/<slug>/training-runs/                       {"mode", "backbone"} → 202
    GET  /api/v1/clients/<slug>/training-runs/<id>/                  progress (epoch/max_epochs)
    GET  /api/v1/clients/<slug>/model-versions/                      versions, the active marked
    GET  /api/v1/clients/<slug>/model-versions/<id>/                 metrics and policy
    POST /api/v1/clients/<slug>/model-versions/<id>/activate/        {"force": false}
    POST /api/v1/clients/<slug>/rollback/                            back to the previous version

Every member reads; the client's admins ask for training (in the default mode; the sector's
maintainers choose the mode and backbone), and only the sector's maintainers activate and roll
back (403 for the other roles, 404 for non-members). A second run while one is queued or
running is a 409, and so is an activation the gold test images refuse (unless forced) or a
rollback with nowhere to go. Models are a sector's: every client of the sector shares them.
"""

from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api.base import ClientScopedMixin
from labelling.models import Taxonomy
from labelling.tenancy import CAN_MANAGE_CLIENT, is_sector_maintainer
from training.api import serializers as s
from training.models import ModelActivation, ModelMode, ModelVersion, TrainingRun
from training.selectors import active_version
from training.services.training import TrainingAlreadyRunning, training_request
from training.services.versions import (
    ActivationRefused,
    model_activate,
    model_rollback,
)

REFUSED = OpenApiResponse(s.ModelRefusedSerializer, description="Refused; `detail` says why.")


class SectorModelsView(ClientScopedMixin):
    write_roles = CAN_MANAGE_CLIENT

    def taxonomy(self) -> Taxonomy:
        if not hasattr(self, "_taxonomy"):
            self._taxonomy = self.request.client.taxonomy
        if self._taxonomy is None:
            raise NotFound(f"The {self.request.client.sector.name} sector has no taxonomy yet.")
        return self._taxonomy

    def maintainer(self) -> bool:
        return is_sector_maintainer(self.request.user, self.request.client.sector)

    def require_maintainer(self) -> None:
        if not self.maintainer():
            raise PermissionDenied(
                "Only the sector's maintainers activate and roll back its shared model; "
                "a client's admin can ask for retraining."
            )

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["client"] = getattr(self.request, "client", None)
        return context

    def fake(self) -> bool:
        # drf-spectacular builds the schema with a made-up request: no client to scope by.
        return getattr(self, "swagger_fake_view", False)


class TrainingRunList(SectorModelsView, generics.ListAPIView):
    serializer_class = s.TrainingRunSerializer
    throttle_scope = "training"

    def get_queryset(self):
        if self.fake():
            return TrainingRun.objects.none()
        return (
            TrainingRun.objects.filter(taxonomy=self.taxonomy())
            .select_related("model_version", "requested_by")
            .order_by("-created_at", "-id")
        )

    @extend_schema(
        request=s.TrainingRunRequestSerializer,
        responses={202: s.TrainingRunSerializer, 409: REFUSED},
        description="Queue a training run of the sector's taxonomy (admins). Single flight: "
        "409 while another run is queued or running.",
    )
    def post(self, request, client_slug: str):
        params = s.TrainingRunRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        # A client's admin asks for retraining; how it trains is the maintainers' choice.
        chosen = params.validated_data if self.maintainer() else {"mode": ModelMode.HEAD}
        try:
            run = training_request(
                taxonomy=self.taxonomy(),
                mode=chosen["mode"],
                backbone=chosen.get("backbone") or None,
                user=request.user,
            )
        except TrainingAlreadyRunning as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except ValueError as exc:  # an unknown backbone, with the list of known ones
            raise ValidationError({"backbone": [str(exc)]}) from exc
        return Response(
            s.TrainingRunSerializer(run, context=self.get_serializer_context()).data,
            status=status.HTTP_202_ACCEPTED,
        )


class TrainingRunDetail(SectorModelsView, generics.RetrieveAPIView):
    serializer_class = s.TrainingRunSerializer

    def get_object(self):
        return generics.get_object_or_404(
            TrainingRun.objects.filter(taxonomy=self.taxonomy()).select_related(
                "model_version", "requested_by"
            ),
            pk=self.kwargs["run_id"],
        )


class VersionsView(SectorModelsView):
    def get_queryset(self):
        if self.fake():
            return ModelVersion.objects.none()
        return ModelVersion.objects.filter(taxonomy=self.taxonomy()).order_by("-number")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not self.fake():
            active = active_version(self.taxonomy())
            context["active_id"] = active.pk if active else None
        return context


class ModelVersionList(VersionsView, generics.ListAPIView):
    serializer_class = s.ModelVersionListSerializer


class ModelVersionDetail(VersionsView, generics.RetrieveAPIView):
    serializer_class = s.ModelVersionDetailSerializer

    def get_object(self):
        return generics.get_object_or_404(self.get_queryset(), pk=self.kwargs["version_id"])


def activation_body(activation: ModelActivation | None, taxonomy: Taxonomy) -> dict:
    if activation is None:  # already serving, with no recorded move: the latest one says why
        activation = ModelActivation.objects.filter(taxonomy=taxonomy).first()
    return s.ModelActivationSerializer(activation).data


class ModelVersionActivate(SectorModelsView, APIView):
    @extend_schema(
        request=s.ModelActivateSerializer,
        responses={200: s.ModelActivationSerializer, 409: REFUSED},
        description="Make this version the active one (admins). Refused (409) when it did "
        "worse than the active version on the same gold test images, unless forced, and "
        "always when its artifact is incomplete or does not match its checksum. Compares "
        "the answers both versions stored for the gold test images: no model runs.",
    )
    def post(self, request, client_slug: str, version_id: int):
        version = generics.get_object_or_404(
            ModelVersion.objects.filter(taxonomy=self.taxonomy()), pk=version_id
        )
        self.require_maintainer()
        params = s.ModelActivateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            activation = model_activate(
                model_version=version,
                user=request.user,
                force=params.validated_data["force"],
                note="from the API",
            )
        except ActivationRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(activation_body(activation, version.taxonomy))


class ModelRollback(SectorModelsView, APIView):
    @extend_schema(
        request=None,
        responses={200: s.ModelActivationSerializer, 409: REFUSED},
        description="Move the pointer back to the version that served before (admins); "
        "repeated rollbacks walk further back.",
    )
    def post(self, request, client_slug: str):
        taxonomy = self.taxonomy()
        self.require_maintainer()
        try:
            activation = model_rollback(taxonomy=taxonomy, user=request.user)
        except ActivationRefused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(activation_body(activation, taxonomy))


urlpatterns = [
    path(
        "clients/<slug:client_slug>/training-runs/",
        TrainingRunList.as_view(),
        name="api-training-runs",
    ),
    path(
        "clients/<slug:client_slug>/training-runs/<int:run_id>/",
        TrainingRunDetail.as_view(),
        name="api-training-run",
    ),
    path(
        "clients/<slug:client_slug>/model-versions/",
        ModelVersionList.as_view(),
        name="api-model-versions",
    ),
    path(
        "clients/<slug:client_slug>/model-versions/<int:version_id>/",
        ModelVersionDetail.as_view(),
        name="api-model-version",
    ),
    path(
        "clients/<slug:client_slug>/model-versions/<int:version_id>/activate/",
        ModelVersionActivate.as_view(),
        name="api-model-version-activate",
    ),
    path(
        "clients/<slug:client_slug>/rollback/",
        ModelRollback.as_view(),
        name="api-model-rollback",
    ),
]
