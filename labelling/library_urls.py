"""Pages of the library: upload, browse, one image, and its files (after a permission check)."""

from django.urls import path

from labelling.views import correction, library, media, tags, upload

urlpatterns = [
    path("library/", library.my_library, name="my-library"),
    path("upload/", upload.my_upload, name="my-upload"),
    path("clients/<slug:client_slug>/library/", library.library, name="library"),
    path("clients/<slug:client_slug>/upload/", upload.upload, name="upload"),
    path("clients/<slug:client_slug>/tags/", tags.tags_page, name="tags"),
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
