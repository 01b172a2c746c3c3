"""The catalogue: sectors, their taxonomies and labels (read by members, changed by site
staff), the user's clients, and each client's own names for labels (changed by its admin).

A user who is not staff sees only the sectors of the clients they belong to; any other
sector, taxonomy or label is a 404.
"""

from django.db.models import OuterRef, QuerySet, Subquery
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from labelling.api.base import ClientScopedMixin, IsStaffOrReadOnly
from labelling.api.catalogue_serializers import (
    ClientLabelNameSerializer,
    ClientSerializer,
    LabelCreateSerializer,
    LabelFilterSerializer,
    LabelSerializer,
    LabelUpdateSerializer,
    SectorSerializer,
    TaxonomyFilterSerializer,
    TaxonomySerializer,
)
from labelling.api.exceptions import ServiceErrorsMixin
from labelling.api.query_params import validated_query_params
from labelling.models import Client, ClientLabelName, Label, Membership, Sector, Taxonomy
from labelling.services.taxonomy import (
    client_label_name_create,
    client_label_name_update,
    label_create,
    label_retire,
    label_update,
)
from labelling.tenancy import CAN_MANAGE_CLIENT

CLIENT_SLUG = OpenApiParameter(
    "client_slug", str, OpenApiParameter.PATH, description="The client's slug."
)


def visible_sectors(user) -> QuerySet[Sector]:
    if user.is_staff:
        return Sector.objects.all()
    return Sector.objects.filter(clients__memberships__user=user).distinct()


class CatalogueViewSet(ServiceErrorsMixin, viewsets.GenericViewSet):
    permission_classes = [IsAuthenticated, IsStaffOrReadOnly]

    def fake(self) -> bool:
        # drf-spectacular builds the schema with a made-up request: no user to scope by.
        return getattr(self, "swagger_fake_view", False)


class SectorViewSet(
    CatalogueViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
):
    serializer_class = SectorSerializer

    def get_queryset(self):
        return Sector.objects.all() if self.fake() else visible_sectors(self.request.user)


@extend_schema_view(list=extend_schema(parameters=[TaxonomyFilterSerializer]))
class TaxonomyViewSet(
    CatalogueViewSet,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
):
    serializer_class = TaxonomySerializer

    def get_queryset(self):
        if self.fake():
            return Taxonomy.objects.all()
        taxonomies = Taxonomy.objects.for_user(self.request.user).select_related("sector")
        if self.action == "list":
            params = validated_query_params(self.request, TaxonomyFilterSerializer)
            if params.get("sector") is not None:
                taxonomies = taxonomies.filter(sector_id=params["sector"])
        return taxonomies


@extend_schema_view(
    list=extend_schema(parameters=[LabelFilterSerializer]),
    create=extend_schema(request=LabelCreateSerializer, responses={201: LabelSerializer}),
    update=extend_schema(request=LabelUpdateSerializer, responses=LabelSerializer),
    partial_update=extend_schema(request=LabelUpdateSerializer, responses=LabelSerializer),
)
class LabelViewSet(CatalogueViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """Labels are retired, never deleted; every change bumps the taxonomy's version."""

    serializer_class = LabelSerializer

    def get_queryset(self):
        if self.fake():
            return Label.objects.all()
        labels = Label.objects.filter(taxonomy__sector__in=visible_sectors(self.request.user))
        if self.action == "list":
            params = validated_query_params(self.request, LabelFilterSerializer)
            if params.get("taxonomy") is not None:
                labels = labels.filter(taxonomy_id=params["taxonomy"])
            if params.get("active") is not None:
                labels = labels.filter(is_active=params["active"])
        return labels

    def create(self, request, *args, **kwargs):
        serializer = LabelCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        label = label_create(**serializer.validated_data, user=request.user)
        return Response(LabelSerializer(label).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, partial: bool = False, **kwargs):
        label = self.get_object()
        serializer = LabelUpdateSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        label = label_update(label=label, data=serializer.validated_data, user=request.user)
        return Response(LabelSerializer(label).data)

    def partial_update(self, request, *args, **kwargs):
        return self.update(request, *args, partial=True, **kwargs)

    @extend_schema(request=None, responses=LabelSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request, *args, **kwargs):
        label = label_retire(label=self.get_object(), user=request.user)
        return Response(LabelSerializer(label).data)


class ClientViewSet(viewsets.ReadOnlyModelViewSet):
    """The clients you belong to, with your role in each."""

    serializer_class = ClientSerializer
    lookup_field = "slug"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Client.objects.none()
        user = self.request.user
        role = Membership.objects.filter(user=user, client=OuterRef("pk")).values("role")[:1]
        return Client.objects.for_user(user).select_related("sector").annotate(role=Subquery(role))


@extend_schema_view(
    list=extend_schema(parameters=[CLIENT_SLUG]),
    create=extend_schema(parameters=[CLIENT_SLUG]),
    retrieve=extend_schema(parameters=[CLIENT_SLUG]),
    update=extend_schema(parameters=[CLIENT_SLUG]),
    partial_update=extend_schema(parameters=[CLIENT_SLUG]),
    destroy=extend_schema(parameters=[CLIENT_SLUG]),
)
class ClientLabelNameViewSet(ClientScopedMixin, ServiceErrorsMixin, viewsets.ModelViewSet):
    """The client's own names for its sector's labels: every member reads them, the
    client's admins change them."""

    serializer_class = ClientLabelNameSerializer
    write_roles = CAN_MANAGE_CLIENT

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ClientLabelName.objects.none()
        return ClientLabelName.objects.filter(client=self.request.client).select_related("label")

    def perform_create(self, serializer):
        serializer.instance = client_label_name_create(
            client=self.request.client,
            label=serializer.validated_data["label"],
            name=serializer.validated_data["name"],
            user=self.request.user,
        )

    def perform_update(self, serializer):
        name = serializer.validated_data.get("name", serializer.instance.name)
        client_label_name_update(label_name=serializer.instance, name=name, user=self.request.user)


router = SimpleRouter()
router.register("sectors", SectorViewSet, basename="sector")
router.register("taxonomies", TaxonomyViewSet, basename="taxonomy")
router.register("labels", LabelViewSet, basename="label")
router.register("clients", ClientViewSet, basename="client")
router.register(
    r"clients/(?P<client_slug>[-a-zA-Z0-9_]+)/label-names",
    ClientLabelNameViewSet,
    basename="client-label-name",
)
urlpatterns = router.urls
