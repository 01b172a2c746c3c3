"""Pages of the review queue: the queue itself (single and grid mode) and its statistics."""

from django.urls import path

from labelling.views import review, suspects

urlpatterns = [
    path("review/", review.my_review, name="my-review"),
    path("clients/<slug:client_slug>/review/", review.review_queue, name="review-queue"),
    path(
        "clients/<slug:client_slug>/review/stats/",
        review.review_statistics,
        name="review-stats",
    ),
    path("clients/<slug:client_slug>/review/suspects/", suspects.suspects_page, name="suspects"),
    path(
        "clients/<slug:client_slug>/review/suspects/<int:score_id>/decide",
        suspects.suspect_decide_view,
        name="suspect-decide",
    ),
    path(
        "clients/<slug:client_slug>/review/suspects/audit",
        suspects.audit_start,
        name="suspects-audit",
    ),
]
