from django.urls import include, path

from labelling.views import audit, health, home, tokens

urlpatterns = [
    path("", home.home, name="home"),
    path("switch-client/", home.switch_client, name="switch-client"),
    path("health/", health.health, name="health"),
    path("account/tokens/", tokens.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", tokens.revoke, name="token-revoke"),
    path("clients/<slug:client_slug>/audit/", audit.audit_page, name="audit"),
    path("", include("labelling.library_urls")),
    path("", include("labelling.review_urls")),
]
