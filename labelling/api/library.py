"""A client's image library, read-only: the list with its filters, and one image with its
labels, latest predictions and review history. Uploads live in uploads.py."""

from django.db.models import F, FloatField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from labelling.api.base import ClientScopedMixin
from labelling.api.library_serializers import (
    ImageDetailSerializer,
    ImageFilterSerializer,
    ImageSerializer,
)
from labelling.api.query_params import validated_query_params
from labelling.models import Image, ImageLabel, Label, Prediction, Review

LATEST_PREDICTIONS = 5

CLIENT_SLUG = OpenApiParameter(
    "client_slug", str, OpenApiParameter.PATH, description="The client's slug."
)


def filter_images(images: QuerySet[Image], params: dict) -> QuerySet[Image]:
    """Apply ImageFilterSerializer's validated parameters."""
    exact = {"status": "status", "batch": "batch_id", "uploaded_by": "uploaded_by_id"}
    for param, field in exact.items():
        if params.get(param) is not None:
            images = images.filter(**{field: params[param]})
    if params.get("created_after") is not None:
        images = images.filter(created_at__gte=params["created_after"])
    if params.get("created_before") is not None:
        images = images.filter(created_at__lt=params["created_before"])
    label = params.get("label")
    if label is not None:
        # One filter() call, so both conditions hold for the same ImageLabel row.
        carries = Q(image_labels__label_id=label)
        if params.get("min_probability") is not None:
            # No probability: a person (or an import) set the label, which is certain.
            carries &= Q(image_labels__probability__gte=params["min_probability"]) | Q(
                image_labels__probability__isnull=True
            )
        images = images.filter(carries)
    return order_images(images, params.get("ordering", "newest"), label=label)


def order_images(images: QuerySet[Image], ordering: str, *, label: int | None) -> QuerySet[Image]:
    if ordering == "oldest":
        return images.order_by("created_at", "id")
    if ordering not in ("most_confident", "least_confident"):
        return images.order_by("-created_at", "-id")
    if label is not None:
        confidence = ImageLabel.objects.filter(image=OuterRef("pk"), label_id=label).values_list(
            Coalesce("probability", Value(1.0), output_field=FloatField())
        )[:1]
    else:
        confidence = (
            Prediction.objects.filter(image=OuterRef("pk"))
            .order_by("-created_at", "-id")
            .values_list("top_probability")[:1]
        )
    images = images.annotate(confidence=Subquery(confidence, output_field=FloatField()))
    if ordering == "most_confident":
        return images.order_by(F("confidence").desc(nulls_last=True), "-created_at", "-id")
    return images.order_by(F("confidence").asc(nulls_last=True), "-created_at", "-id")


@extend_schema_view(
    list=extend_schema(parameters=[CLIENT_SLUG, ImageFilterSerializer]),
    retrieve=extend_schema(parameters=[CLIENT_SLUG], responses=ImageDetailSerializer),
)
class ImageViewSet(ClientScopedMixin, viewsets.ReadOnlyModelViewSet):
    """The client's images; every member may read them."""

    serializer_class = ImageSerializer
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Image.objects.none()
        image_labels = ImageLabel.objects.select_related("label").order_by(
            F("probability").desc(nulls_first=True), "label__key"
        )
        images = (
            Image.objects.for_client(self.request.client)
            .select_related("uploaded_by")
            .prefetch_related(Prefetch("image_labels", queryset=image_labels))
        )
        if self.action == "list":
            params = validated_query_params(self.request, ImageFilterSerializer)
            return filter_images(images, params)
        latest = Prediction.objects.select_related("model_version", "top_label").order_by(
            "-created_at", "-id"
        )[:LATEST_PREDICTIONS]
        reviews = (
            Review.objects.select_related("reviewer")
            .prefetch_related("labels")
            .order_by("-created_at", "-id")
        )
        return images.prefetch_related(
            Prefetch("predictions", queryset=latest, to_attr="latest_predictions"),
            Prefetch("reviews", queryset=reviews),
        )

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["display_names"] = self.request.client.display_names()
        return context

    def retrieve(self, request, *args, **kwargs):
        image = self.get_object()
        ranked_ids = {
            entry.get("label")
            for prediction in image.latest_predictions
            for entry in prediction.ranked
            if isinstance(entry, dict)
        }
        context = {**self.get_serializer_context(), "labels": Label.objects.in_bulk(ranked_ids)}
        return Response(ImageDetailSerializer(image, context=context).data)


router = SimpleRouter()
router.register(
    r"clients/(?P<client_slug>[-a-zA-Z0-9_]+)/images", ImageViewSet, basename="client-image"
)
urlpatterns = router.urls
