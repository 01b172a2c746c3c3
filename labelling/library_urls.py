"""Pages of the library: upload, browse, the embedding map, one image, and its files (after a
permission check)."""

from django.urls import path

from labelling.views import correction, embedding_map, library, media, tags, upload

urlpatterns = [
    path("library/", library.my_library, name="my-library"),
    path("upload/", upload.my_upload, name="my-upload"),
    path("clients/<slug:client_slug>/library/", library.library, name="library"),
    path("clients/<slug:client_slug>/upload/", upload.upload, name="upload"),
    path("clients/<slug:client_slug>/tags/", tags.tags_page, name="tags"),
    path("clients/<slug:client_slug>/map/", embedding_map.map_page, name="map"),
    path("clients/<slug:client_slug>/map/points", embedding_map.map_points_view, name="map-points"),
    path("clients/<slug:client_slug>/map/state", embedding_map.map_state_view, name="map-state"),
    path(
        "clients/<slug:client_slug>/map/compute", embedding_map.map_compute_view, name="map-compute"
    ),
    path("clients/<slug:client_slug>/map/label", embedding_map.map_label_view, name="map-label"),
    path("clients/<slug:client_slug>/map/undo", embedding_map.map_undo_view, name="map-undo"),
    path("clients/<slug:client_slug>/tags/<str:file_format>", tags.tags_file, name="tags-file"),
    path(
        "clients/<slug:client_slug>/images/<int:image_id>/",
        library.image_detail,
        name="image-detail",
    ),
    path(
        "clients/<slug:client_slug>/images/<int:image_id>/correct/",
        correction.image_correct_view,
        name="image-correct",
    ),
    path(
        "clients/<slug:client_slug>/images/<int:image_id>/file",
        media.image_file,
        name="image-file",
    ),
    path(
        "clients/<slug:client_slug>/images/<int:image_id>/thumbnail",
        media.image_thumbnail,
        name="image-thumbnail",
    ),
]
