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


# --- Labels: retired, never deleted; every change a new taxonomy version --------------------


def _superuser_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-root")
    client.force_login(user)
    return user


def test_a_label_added_in_the_admin_bumps_the_version_and_is_audited(client, world):
    from labelling.models import AuditAction, AuditEvent, Label

    _superuser_client(client)
    before = world.taxonomy.version
    response = client.post(
        reverse("admin:labelling_label_add"),
        {
            "taxonomy": world.taxonomy.pk,
            "key": "lawn",
            "name": "Lawn",
            "parent": "",
            "description": "Grass",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Label.objects.get(key="lawn").description == "Grass"
    world.taxonomy.refresh_from_db()
    assert world.taxonomy.version == before + 1
    assert AuditEvent.objects.get().action == AuditAction.LABEL_ADDED


def test_a_label_edited_in_the_admin_bumps_the_version(client, world):
    _superuser_client(client)
    before = world.taxonomy.version
    label = world.labels.smiling
    response = client.post(
        reverse("admin:labelling_label_change", args=[label.pk]),
        {"key": "smiling", "name": "Smiling", "parent": "", "description": "Teeth showing"},
    )
    assert response.status_code == 302
    label.refresh_from_db()
    world.taxonomy.refresh_from_db()
    assert label.description == "Teeth showing" and world.taxonomy.version == before + 1


def test_the_admin_offers_no_delete_for_labels_and_retires_instead(client, world):
    from labelling.models import Label

    _superuser_client(client)
    page = client.get(reverse("admin:labelling_label_change", args=[world.labels.smiling.pk]))
    assert b"deletelink" not in page.content
    listing = client.get(reverse("admin:labelling_label_changelist")).content.decode()
    assert "delete_selected" not in listing and 'value="retire"' in listing
    assert (
        client.post(
            reverse("admin:labelling_label_delete", args=[world.labels.smiling.pk])
        ).status_code
        == 403
    )
    client.post(
        reverse("admin:labelling_label_changelist"),
        {"action": "retire", "_selected_action": [world.labels.smiling.pk]},
    )
    assert not Label.objects.get(pk=world.labels.smiling.pk).is_active
    assert Label.objects.count() == 3


def test_a_cycle_made_in_the_admin_is_a_form_error(client, world):
    from labelling.models import Label

    _superuser_client(client)
    child = factories.LabelFactory(
        taxonomy=world.taxonomy, key="inner", parent=world.labels.building
    )
    response = client.post(
        reverse("admin:labelling_label_change", args=[world.labels.building.pk]),
        {"key": "building", "name": "Building", "parent": child.pk, "description": ""},
    )
    assert response.status_code == 200 and "its own ancestor" in response.content.decode()
    assert Label.objects.get(pk=world.labels.building.pk).parent_id is None


def test_a_sectors_maintainers_are_chosen_in_the_admin(client, world, rf):
    root = _superuser_client(client)
    mona = factories.UserFactory(username="mona")
    url = reverse("admin:labelling_sector_change", args=[world.sector.pk])
    assert b'name="maintainers"' in client.get(url).content
    # The form the admin saves has the field; saving it sets the relation.
    request = rf.get(url)
    request.user = root
    form_class = admin.site._registry[type(world.sector)].get_form(request, world.sector)
    form = form_class(
        {"name": world.sector.name, "slug": world.sector.slug, "maintainers": [mona.pk]},
        instance=world.sector,
    )
    assert form.is_valid(), form.errors
    form.save()
    assert world.sector.is_maintained_by(mona)
