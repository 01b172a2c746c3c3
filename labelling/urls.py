from django.urls import include, path

from labelling.views import health, home

urlpatterns = [
    path("", home.home, name="home"),
    path("switch-client/", home.switch_client, name="switch-client"),
    path("health/", health.health, name="health"),
    path("", include("labelling.library_urls")),
    path("", include("labelling.review_urls")),
]
