"""The model pages, under /clients/<slug>/models/ (see taxonomy_site.urls); ``legacy_urlpatterns``
answer the old /models/... addresses with a redirect to the current client's."""

from django.urls import path

from training import views

urlpatterns = [
    path("", views.models_list, name="models"),
    path("train/", views.train, name="models-train"),
    path("runs/<int:run_id>/progress/", views.run_progress, name="models-run-progress"),
    path("compare/", views.compare, name="models-compare"),
    path("evaluate/", views.evaluate, name="models-evaluate"),
    path("rollback/", views.rollback, name="models-rollback"),
    path("retraining/", views.set_retraining, name="models-retraining"),
    path("target/", views.set_target, name="models-target"),
    path("consent/", views.set_consent, name="models-consent"),
    path("<int:version_id>/", views.version_detail, name="model-version"),
    path("<int:version_id>/activate/", views.activate, name="model-version-activate"),
]

legacy_urlpatterns = [
    path("", views.legacy_redirect),
    path("<path:rest>", views.legacy_redirect),
]
