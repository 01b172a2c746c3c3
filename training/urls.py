"""The model pages, under /models/ (see taxonomy_site.urls): they work on the current client."""

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
    path("<int:version_id>/", views.version_detail, name="model-version"),
    path("<int:version_id>/activate/", views.activate, name="model-version-activate"),
]
