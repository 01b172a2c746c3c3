from django.urls import path

from labelling.views import health, home

urlpatterns = [
    path("", home.home, name="home"),
    path("switch-client/", home.switch_client, name="switch-client"),
    path("health/", health.health, name="health"),
]
