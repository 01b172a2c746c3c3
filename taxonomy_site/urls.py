from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from django.views.defaults import bad_request, page_not_found
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from labelling.throttling import throttle_login, throttle_post
from training import urls as training_urls

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
    path("clients/<slug:client_slug>/models/", include("training.urls")),
    # The model pages' old addresses, from before they moved under their client.
    path("models/", include(training_urls.legacy_urlpatterns)),
    path("", include("labelling.urls")),
]


def not_found(request, exception):
    """API clients get JSON, as from the API's own 404s (e.g. an id that is not a number in
    the path matches no route at all); people get the page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def bad_request_answer(request, exception):
    """Requests Django refuses before any view (too many form fields, a malformed body) are
    answered in JSON on the API, as the API's own 400s are."""
    if request.path.startswith("/api/"):
        detail = str(exception) or "The request is malformed."
        return JsonResponse({"detail": detail}, status=400)
    return bad_request(request, exception)


handler400 = bad_request_answer
handler404 = not_found
