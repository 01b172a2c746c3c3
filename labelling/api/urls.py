"""REST API v1. Client-owned resources live under /clients/<client_slug>/ so that the
client is resolved once, from the URL, and every query starts from it."""

from labelling.api import catalogue, library, new_labels, review, tags, uploads
from training import api as training_api

urlpatterns = [
    *catalogue.urlpatterns,
    *library.urlpatterns,
    *uploads.urlpatterns,
    *tags.urlpatterns,
    *review.urlpatterns,
    *new_labels.urlpatterns,
    *training_api.urlpatterns,
]
