from django.urls import include, path

from labelling.views import audit, health, home, new_labels, taxonomy, tokens

urlpatterns = [
    path("", home.home, name="home"),
    path("switch-client/", home.switch_client, name="switch-client"),
    path("health/", health.health, name="health"),
    path("account/tokens/", tokens.tokens, name="tokens"),
    path("account/tokens/<int:token_id>/revoke/", tokens.revoke, name="token-revoke"),
    path("clients/<slug:client_slug>/audit/", audit.audit_page, name="audit"),
    path("sectors/<slug:sector_slug>/taxonomy/", taxonomy.editor, name="taxonomy"),
    path("clients/<slug:client_slug>/taxonomy/", taxonomy.client_editor, name="client-taxonomy"),
    path(
        "clients/<slug:client_slug>/taxonomy/new-labels/",
        new_labels.new_label_candidates,
        name="new-label-candidates",
    ),
    path(
        "sectors/<slug:sector_slug>/taxonomy/names/",
        taxonomy.set_client_name,
        name="taxonomy-name",
    ),
    path(
        "sectors/<slug:sector_slug>/taxonomy/import/", taxonomy.import_file, name="taxonomy-import"
    ),
    path(
        "sectors/<slug:sector_slug>/taxonomy/export.<str:file_format>",
        taxonomy.export_file,
        name="taxonomy-export",
    ),
    path(
        "sectors/<slug:sector_slug>/taxonomy/<str:operation>/",
        taxonomy.change,
        name="taxonomy-change",
    ),
    path("", include("labelling.library_urls")),
    path("", include("labelling.review_urls")),
]
