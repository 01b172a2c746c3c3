"""Candidates for new labels over the API: the client's images that fit no label, in the
groups the worker made of them, and a new label made from chosen ones.

    GET  /api/v1/clients/<slug>/new-labels/   the groups (and the images not grouped)
    POST /api/v1/clients/<slug>/new-labels/   {"name", "key"?, "parent"?, "description"?,
                                               "images": [id, ...]} → 201, the label

As the page: the client's admins and the sector's maintainers among its members read; only
maintainers create (403 for the others); not a member: 404.
"""

from __future__ import annotations

from django.urls import path, reverse
from django.utils.text import slugify
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api.exceptions import ServiceErrorsMixin
from labelling.api.input import IdField
from labelling.api.review_serializers import ReviewResultSerializer
from labelling.models import Image, Label
from labelling.services.new_labels import label_create_from_images
from labelling.tenancy import new_label_access
from training.services.new_label_candidates import no_label_candidates


class CandidateImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    page = serializers.CharField()
    thumbnail = serializers.CharField(allow_null=True)


class CandidateGroupSerializer(serializers.Serializer):
    images = CandidateImageSerializer(many=True)


class CandidatesSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    up_to_date = serializers.BooleanField(
        help_text="False while a worker groups images said to fit no label since."
    )
    groups = CandidateGroupSerializer(many=True, help_text="Largest first.")
    without_embedding = CandidateImageSerializer(many=True)
    not_grouped_yet = CandidateImageSerializer(many=True)


class NewLabelSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    key = serializers.SlugField(
        max_length=80, required=False, allow_blank=True, help_text="Default: from the name."
    )
    parent = IdField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    images = serializers.ListField(child=IdField(), allow_empty=False, max_length=2000)


class CreatedLabelSerializer(serializers.Serializer):
    label = serializers.DictField()
    reviews = ReviewResultSerializer(many=True)


class NewLabelCandidates(ServiceErrorsMixin, APIView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        request.client, request.can_create = new_label_access(request.user, kwargs["client_slug"])

    @extend_schema(
        responses={200: CandidatesSerializer, 403: OpenApiResponse(), 404: OpenApiResponse()},
        summary="Images that fit no label, grouped as candidates for new labels",
    )
    def get(self, request, client_slug):
        candidates = no_label_candidates(client=request.client)
        ids = {pk for group in candidates.groups for pk in group}
        ids |= set(candidates.without_embedding) | set(candidates.not_grouped_yet)
        images = Image.objects.for_client(request.client).filter(pk__in=ids).in_bulk()

        def shown(pks):
            return [_image(request, images[pk]) for pk in pks if pk in images]

        return Response(
            {
                "total": candidates.total,
                "up_to_date": candidates.up_to_date,
                "groups": [{"images": shown(group)} for group in candidates.groups],
                "without_embedding": shown(candidates.without_embedding),
                "not_grouped_yet": shown(candidates.not_grouped_yet),
            }
        )

    @extend_schema(
        request=NewLabelSerializer,
        responses={
            201: CreatedLabelSerializer,
            400: OpenApiResponse(
                description="A bad name, key or parent, or an image that "
                "is not one of the client's that fit no label."
            ),
            403: OpenApiResponse(description="Only the sector's maintainers add labels."),
            404: OpenApiResponse(description="No such client (or not yours)."),
        },
        summary="Make a new label from images that fit no label",
        description="Adds the label to the taxonomy (a new version, audited) and gives it to "
        "the images, one review each; all or nothing.",
    )
    def post(self, request, client_slug):
        if not request.can_create:
            raise PermissionDenied("Only the sector's maintainers add labels to its taxonomy.")
        serializer = NewLabelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        taxonomy = request.client.taxonomy
        parent = None
        if data.get("parent") is not None:
            parent = Label.objects.filter(taxonomy=taxonomy, pk=data["parent"]).first()
            if parent is None:
                raise serializers.ValidationError(
                    {"parent": f"There is no label {data['parent']} in this taxonomy."}
                )
        key = data.get("key") or slugify(data["name"])[:80]
        if not key:
            raise serializers.ValidationError({"key": "Give a key: the name makes none."})
        label, reviews = label_create_from_images(
            client=request.client,
            user=request.user,
            key=key,
            name=data["name"],
            parent=parent,
            description=data["description"],
            image_ids=data["images"],
        )
        body = {
            "label": {"id": label.pk, "key": label.key, "name": label.name},
            "reviews": ReviewResultSerializer(reviews, many=True).data,
        }
        return Response(body, status=status.HTTP_201_CREATED)


def _image(request, image: Image) -> dict:
    slug = request.client.slug
    return {
        "id": image.pk,
        "name": image.original_name,
        "page": reverse("image-detail", args=[slug, image.pk]),
        "thumbnail": reverse("image-thumbnail", args=[slug, image.pk]) if image.thumbnail else None,
    }


urlpatterns = [
    path(
        "clients/<slug:client_slug>/new-labels/",
        NewLabelCandidates.as_view(),
        name="api-new-label-candidates",
    ),
]
