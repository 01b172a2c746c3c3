from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from labelling.throttling import throttle_login, throttle_post

urlpatterns = [
    # Both login forms count their attempts (labelling/throttling.py); these come before the
    # routes that would otherwise answer the same paths.
    path("admin/login/", throttle_login(admin.site.login)),
    path("accounts/login/", throttle_login(auth_views.LoginView.as_view()), name="login"),
    # Each reset sends a mail: counted per address like a login.
    path(
        "accounts/password_reset/",
        throttle_post("login")(auth_views.PasswordResetView.as_view()),
        name="password_reset",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("labelling.api.urls")),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/v1/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("models/", include("training.urls")),
    path("", include("labelling.urls")),
]
