"""Every model of the product is reachable in Django's admin, and each list renders."""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from labelling.models import Image, ImageStatus, Review, ReviewSnapshot
from tests import factories

pytestmark = pytest.mark.django_db

PRODUCT_APPS = ("labelling", "training")


def _product_models():
    return [model for app in PRODUCT_APPS for model in apps.get_app_config(app).get_models()]


def test_every_product_model_is_registered_or_shown_inline():
    inline = {
        inline.model
        for model_admin in admin.site._registry.values()
        for inline in model_admin.inlines
    }
    missing = [
        m.__name__ for m in _product_models() if not admin.site.is_registered(m) and m not in inline
    ]
    assert missing == []


def test_each_change_list_renders_for_a_superuser(client, world):
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-root")
    client.force_login(user)
    for model in filter(admin.site.is_registered, _product_models()):
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)


def test_a_review_page_shows_what_its_undo_would_restore(client, world):
    image = factories.ImageFactory(client=world.client_a)
    review = Review.objects.create(image=image, reviewer=world.reviewer, decision="accept")
    ReviewSnapshot.objects.create(
        review=review,
        submission="00000000-0000-0000-0000-000000000001",
        previous_labels=[{"label": world.labels.smiling.pk, "source": "machine"}],
        previous_changed_at=image.status_changed_at,
        result_status="verified",
        result_changed_at=image.status_changed_at,
    )
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-root")
    client.force_login(user)
    response = client.get(reverse("admin:labelling_review_change", args=[review.pk]))
    assert response.status_code == 200
    assert b"verified" in response.content


def test_an_image_page_shows_its_status_and_files_but_cannot_change_them(client, world, rf):
    image = factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-root")
    client.force_login(user)
    response = client.get(reverse("admin:labelling_image_change", args=[image.pk]))
    assert response.status_code == 200
    assert b"Needs review" in response.content
    for name in (b'name="status"', b'name="file"', b'name="thumbnail"'):
        assert name not in response.content
    request = rf.get("/")
    request.user = user
    form = admin.site._registry[Image].get_form(request, image)
    assert not {"status", "status_changed_at", "file", "thumbnail"} & set(form.base_fields)
