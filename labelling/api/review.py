"""The review queue over the API, for the review page and any other front end.

    POST /api/v1/clients/<slug>/review/next/         hold images to review (and get them)
    POST /api/v1/clients/<slug>/review/decisions/    answer held images, all or none
    POST /api/v1/clients/<slug>/review/undo/         take back the last submission (or one review)
    POST /api/v1/clients/<slug>/review/release/      give held images back (page unload)
    GET  /api/v1/clients/<slug>/review/labels/       the taxonomy, with images waiting per label
    GET  /api/v1/clients/<slug>/review/stats/        decisions, pace and agreement per day
    POST /api/v1/clients/<slug>/review/corrections/  correct one image outside the queue
    POST /api/v1/clients/<slug>/review/group/        hold a group of similar images (cold start)
    POST /api/v1/clients/<slug>/review/group/label/  give the group's kept images one label

Reviewers and admins use the queue; a librarian may correct an image (an auto-tag, say) but
not work the queue. A decision that no longer matches the database (a hold that ended, an
image someone else decided, a repeated submission) is a 409 whose body says why, per image;
nothing of that submission is stored.

release/ also takes a form-encoded body (``leases=<token>&leases=…`` plus the CSRF token), as
navigator.sendBeacon sends it when the page is closed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import parsers, status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from labelling.api import review_serializers as s
from labelling.api.base import ClientScopedMixin
from labelling.api.input import ObjectJSONParser
from labelling.api.query_params import validated_query_params
from labelling.models import Image, ImageStatus, Review, Role
from labelling.selectors.labels import label_names, labels_waiting
from labelling.selectors.queue import QueueFilters
from labelling.services import review as review_service
from labelling.services.review_stats import review_stats
from labelling.tenancy import CAN_CORRECT, CAN_REVIEW

logger = logging.getLogger(__name__)

CLIENT_SLUG = OpenApiParameter(
    "client_slug", str, OpenApiParameter.PATH, description="The client's slug."
)
CONFLICT = OpenApiResponse(
    s.ConflictSerializer, description="Stale or repeated: nothing was stored; see why per image."
)


def top_n() -> int:
    return settings.REVIEW_TOP_N


class ReviewView(ClientScopedMixin, APIView):
    """Resolves the client from the URL (404 for a non-member), then requires one of
    ``roles`` for every method, reads included (403)."""

    roles: tuple[str, ...] = CAN_REVIEW
    write_roles = tuple(Role.values)  # ``roles`` decides, for writes as for reads
    refusal = "does not review images here"

    def handle_exception(self, exc):
        if isinstance(exc, review_service.ReviewConflict):
            body = {"detail": exc.message, "code": exc.code, "conflicts": exc.conflicts}
            return Response(body, status=status.HTTP_409_CONFLICT)
        if isinstance(exc, review_service.NothingToUndo):
            exc = NotFound(str(exc))
        return super().handle_exception(exc)

    def items_data(self, items) -> list:
        n = top_n()
        named = {
            int(entry["label"])
            for item in items
            if item.prediction is not None
            for entry in item.prediction.ranked[:n]
            if isinstance(entry, dict) and "label" in entry
        } | {label.label_id for item in items for label in item.labels}
        context = {
            "client": self.request.client,
            "label_names": label_names(self.request.client, named),
            "top_n": n,
        }
        return s.ReviewItemSerializer(items, many=True, context=context).data


class _ThenRefreshQueueHeads(Response):
    """Reads again, after the answer has been sent (the WSGI server calls close() once the
    body is out), the queue heads this request used past their time: ordering a long queue
    takes tens of milliseconds, and no reviewer should wait for it."""

    def close(self):
        try:
            review_service.review_windows_refresh_due()
        except Exception:  # the next request reads the head itself; never fail a response
            logger.exception("reading the review queue heads again failed")
        finally:
            super().close()


class ReviewNext(ReviewView):
    @extend_schema(
        parameters=[CLIENT_SLUG],
        request=s.NextParamsSerializer,
        responses=s.NextResponseSerializer,
        summary="Hold images to review",
        description="The images you hold in this queue (their holds renewed), then newly "
        "claimed ones, up to count; least certain first unless order says otherwise. Calling "
        "it again returns the same images until they are answered or released.",
    )
    def post(self, request, client_slug):
        params = s.NextParamsSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        items = review_service.review_next(
            client=request.client,
            reviewer=request.user,
            filters=QueueFilters(
                status=data["status"],
                label=data.get("label"),
                batch=data.get("batch"),
                order=data["order"],
            ),
            count=data["count"],
            exclude=data.get("exclude") or (),
            defer_refresh=True,
        )
        return _ThenRefreshQueueHeads(
            {"items": self.items_data(items), "lease_seconds": review_service.lease_seconds()}
        )


class ReviewDecisions(ReviewView):
    @extend_schema(
        parameters=[CLIENT_SLUG],
        request=s.DecisionsSerializer,
        responses={201: s.DecisionsResponseSerializer, 409: CONFLICT},
        summary="Answer held images",
        description="accept: the model's label(s); correct: the labels sent; reject: no "
        "label is to be given; no_label: none of the above, it fits no label of the taxonomy "
        "(it leaves the queue, is never auto-tagged or trained on, and is offered to the "
        "taxonomy's maintainers as a candidate for a new label). All or none: a stale or "
        "repeated decision refuses the whole submission (409).",
    )
    def post(self, request, client_slug):
        serializer = s.DecisionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decisions = [s.decision_from(row) for row in serializer.validated_data["decisions"]]
        reviews = review_service.review_submit(
            client=request.client, reviewer=request.user, decisions=decisions
        )
        return Response(
            {"reviews": _review_results(reviews)},
            status=status.HTTP_201_CREATED,
        )


class ReviewCorrections(ReviewView):
    roles = CAN_CORRECT

    @extend_schema(
        parameters=[CLIENT_SLUG],
        request=s.CorrectionSerializer,
        responses={201: s.ReviewResultSerializer, 409: CONFLICT},
        summary="Correct one image outside the queue",
        description="For an auto-tagged (or already verified) image: the correction is "
        "recorded as a review; correcting a model's own tag counts against its precision.",
    )
    def post(self, request, client_slug):
        serializer = s.CorrectionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        decision = s.decision_from(serializer.validated_data)
        if request.membership.role not in CAN_REVIEW and (
            Image.objects.for_client(request.client)
            .filter(pk=decision.image, status=ImageStatus.NEEDS_REVIEW)
            .exists()
        ):
            # Corrections are for tags already given; the queue's images are the reviewers'.
            raise PermissionDenied(
                "This image is waiting in the review queue; only reviewers decide it."
            )
        review = review_service.image_correct(
            client=request.client, user=request.user, decision=decision
        )
        return Response(_review_results([review])[0], status=status.HTTP_201_CREATED)


class ReviewGroupNext(ReviewView):
    @extend_schema(
        parameters=[CLIENT_SLUG],
        request=s.GroupNextSerializer,
        responses={
            200: s.NextResponseSerializer,
            400: OpenApiResponse(description="A bad size or exclude."),
            403: OpenApiResponse(description="You do not review images here."),
            404: OpenApiResponse(description="No such client (or not yours)."),
        },
        summary="Hold a group of similar images (cold start)",
        description="Before the taxonomy has a model: the next group of similar waiting "
        "images, held for you like a grid page (the group you already hold, if any). "
        "No items once a model is active or no group is free.",
    )
    def post(self, request, client_slug):
        params = s.GroupNextSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        items = review_service.review_group_next(
            client=request.client,
            reviewer=request.user,
            size=params.validated_data["size"],
            exclude=params.validated_data.get("exclude") or (),
        )
        return Response(
            {"items": self.items_data(items), "lease_seconds": review_service.lease_seconds()}
        )


class ReviewGroupLabel(ReviewView):
    @extend_schema(
        parameters=[CLIENT_SLUG],
        request=s.GroupLabelSerializer,
        responses={
            201: s.GroupLabelResponseSerializer,
            400: OpenApiResponse(
                description="No image selected, an image not in this client or no longer "
                "waiting, or a label that is not an active one of the taxonomy."
            ),
            403: OpenApiResponse(description="You do not review images here."),
            404: OpenApiResponse(description="No such client (or not yours)."),
            409: CONFLICT,
        },
        summary="Label a group of similar images",
        description="One review per image sent, all with the label; all or none. The "
        "deselected images (released) stay waiting and their holds end.",
    )
    def post(self, request, client_slug):
        serializer = s.GroupLabelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        reviews = review_service.review_group_label(
            client=request.client,
            reviewer=request.user,
            image_ids=data["images"],
            label=data["label"],
            released=data.get("released") or (),
        )
        return Response({"reviews": _review_results(reviews)}, status=status.HTTP_201_CREATED)


def _review_results(reviews: list[Review]) -> list:
    return s.ReviewResultSerializer(reviews, many=True).data


class ReviewUndo(ReviewView):
    @extend_schema(
        parameters=[CLIENT_SLUG],
        request=s.UndoSerializer,
        responses={
            200: s.UndoResponseSerializer,
            404: OpenApiResponse(description="Nothing to undo."),
            409: CONFLICT,
        },
        summary="Undo your last submission",
        description="Restores each image's status and labels as they were and holds the "
        "images for you again (returned as items). Refused (409) when one changed since.",
    )
    def post(self, request, client_slug):
        serializer = s.UndoSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = review_service.review_undo(
            client=request.client,
            reviewer=request.user,
            review_id=serializer.validated_data.get("review"),
        )
        return Response(
            {
                "undone": [review.pk for review in outcome.reviews],
                "items": self.items_data(outcome.items),
            }
        )


class ReviewRelease(ReviewView):
    parser_classes = [ObjectJSONParser, parsers.FormParser, parsers.MultiPartParser]

    @extend_schema(
        parameters=[CLIENT_SLUG],
        request=s.ReleaseSerializer,
        responses=s.ReleaseResponseSerializer,
        summary="Give held images back",
        description="Ends the holds named (or all yours in this client) so that others get "
        "the images at once. Takes JSON or a form (navigator.sendBeacon).",
    )
    def post(self, request, client_slug):
        serializer = s.ReleaseSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        released = review_service.review_release(
            client=request.client,
            reviewer=request.user,
            tokens=serializer.validated_data.get("leases"),
        )
        return Response({"released": released})


class ReviewLabels(ReviewView):
    @extend_schema(
        parameters=[CLIENT_SLUG, s.LabelsParamsSerializer],
        responses=s.LabelsResponseSerializer,
        summary="The taxonomy, with the images waiting per label",
    )
    def get(self, request, client_slug):
        params = validated_query_params(request, s.LabelsParamsSerializer)
        queue_labels = labels_waiting(
            request.client, status=params["status"], batch=params.get("batch")
        )
        taxonomy = request.client.taxonomy
        labels = [
            {"id": c.id, "key": c.key, "name": c.name, "path": c.path, "waiting": n}
            for c, n in queue_labels.shown()
        ]
        return Response(
            {
                "kind": taxonomy.kind if taxonomy else "",
                "waiting": queue_labels.total,
                "not_predicted": queue_labels.not_predicted,
                "labels": labels,
            }
        )


class ReviewStats(ReviewView):
    @extend_schema(
        parameters=[CLIENT_SLUG, s.StatsParamsSerializer],
        responses=s.StatsResponseSerializer,
        summary="Review statistics per reviewer and day",
        description="Admins see every reviewer; a reviewer sees their own figures.",
    )
    def get(self, request, client_slug):
        params = validated_query_params(request, s.StatsParamsSerializer)
        reviewer = params.get("reviewer")
        if request.membership.role != Role.ADMIN:
            reviewer = request.user.pk
        stats = review_stats(client=request.client, days=params["days"], reviewer_id=reviewer)
        return Response(s.StatsResponseSerializer(stats).data)


PREFIX = "clients/<slug:client_slug>/review"
urlpatterns = [
    path(f"{PREFIX}/next/", ReviewNext.as_view(), name="api-review-next"),
    path(f"{PREFIX}/decisions/", ReviewDecisions.as_view(), name="api-review-decisions"),
    path(f"{PREFIX}/undo/", ReviewUndo.as_view(), name="api-review-undo"),
    path(f"{PREFIX}/release/", ReviewRelease.as_view(), name="api-review-release"),
    path(f"{PREFIX}/labels/", ReviewLabels.as_view(), name="api-review-labels"),
    path(f"{PREFIX}/stats/", ReviewStats.as_view(), name="api-review-stats"),
    path(f"{PREFIX}/group/", ReviewGroupNext.as_view(), name="api-review-group"),
    path(f"{PREFIX}/group/label/", ReviewGroupLabel.as_view(), name="api-review-group-label"),
    path(f"{PREFIX}/corrections/", ReviewCorrections.as_view(), name="api-review-corrections"),
]
