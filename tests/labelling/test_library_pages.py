"""The library grid, its filters and paging, the image page and the upload page."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from labelling.models import Image, ImageLabel, ImageStatus, Review
from labelling.models.images import LabelSource
from labelling.views import library as library_views
from tests import factories


def library_url(slug="alpha", **query):
    from urllib.parse import urlencode

    url = reverse("library", args=[slug])
    return f"{url}?{urlencode(query)}" if query else url


def ids_on(response) -> list[int]:
    return [card["image"].pk for card in response.context["cards"]]


@pytest.fixture
def images(world):
    """Three images of client A with machine labels, one verified, one of client B."""
    a = world.client_a
    batch = factories.UploadBatchFactory(client=a, name="Open day")
    now = timezone.now()
    sure = factories.ImageFactory(
        client=a,
        batch=batch,
        original_name="sure.jpg",
        status=ImageStatus.AUTO_TAGGED,
        uploaded_by=world.librarian,
    )
    unsure = factories.ImageFactory(
        client=a,
        batch=batch,
        original_name="unsure.jpg",
        status=ImageStatus.NEEDS_REVIEW,
        uploaded_by=world.owner,
    )
    verified = factories.ImageFactory(
        client=a,
        original_name="verified.jpg",
        status=ImageStatus.VERIFIED,
        uploaded_by=world.librarian,
    )
    old = factories.ImageFactory(client=a, original_name="old.jpg", status=ImageStatus.FAILED)
    Image.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=30))
    smiling = world.labels.smiling
    ImageLabel.objects.create(
        image=sure, label=smiling, source=LabelSource.MACHINE, probability=0.97
    )
    ImageLabel.objects.create(
        image=unsure, label=smiling, source=LabelSource.MACHINE, probability=0.41
    )
    ImageLabel.objects.create(image=verified, label=smiling, source=LabelSource.HUMAN)
    ImageLabel.objects.create(
        image=unsure, label=world.labels.building, source=LabelSource.MACHINE, probability=0.55
    )
    theirs = factories.ImageFactory(client=world.client_b, original_name="theirs.jpg")
    ImageLabel.objects.create(
        image=theirs, label=smiling, source=LabelSource.MACHINE, probability=0.99
    )
    return {
        "sure": sure,
        "unsure": unsure,
        "verified": verified,
        "old": old,
        "theirs": theirs,
        "batch": batch,
    }


@pytest.mark.parametrize("persona", ["owner", "librarian", "reviewer"])
def test_members_see_their_clients_images_newest_first(client, world, images, persona):
    client.force_login(getattr(world, persona))

    response = client.get(library_url())

    assert response.status_code == 200
    expected = [images[k].pk for k in ("verified", "unsure", "sure", "old")]
    assert ids_on(response) == expected
    assert b"theirs.jpg" not in response.content


def test_an_outsider_gets_404(client, world, images):
    client.force_login(world.outsider)

    assert client.get(library_url("alpha")).status_code == 404
    url = reverse("image-detail", args=["alpha", images["sure"].pk])
    assert client.get(url).status_code == 404
    url = reverse("image-detail", args=["beta", images["sure"].pk])
    assert client.get(url).status_code == 404


def test_strangers_are_sent_to_log_in(client, images):
    assert client.get(library_url()).status_code == 302


def test_library_shortcut_goes_to_the_current_client(client, world):
    client.force_login(world.librarian)

    response = client.get(reverse("my-library"))

    assert response["Location"] == library_url()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "needs_review"}, ["unsure"]),
        ({"batch": "BATCH"}, ["unsure", "sure"]),
        ({"uploader": "LIBRARIAN"}, ["verified", "sure"]),
        ({"q": "UNSURE"}, ["unsure"]),
        ({"uploaded_to": "OLD_DAY"}, ["old"]),
        ({"uploaded_from": "TODAY"}, ["verified", "unsure", "sure"]),
        ({"label": "BUILDING"}, ["unsure"]),
        ({"min_probability": "50"}, ["unsure", "sure"]),  # percent, as on every page
    ],
)
def test_filters(client, world, images, query, expected):
    today = timezone.localdate()
    substitutes = {
        "BATCH": images["batch"].pk,
        "LIBRARIAN": world.librarian.pk,
        "OLD_DAY": (today - timedelta(days=29)).isoformat(),
        "TODAY": today.isoformat(),
        "BUILDING": world.labels.building.pk,
    }
    query = {k: substitutes.get(v, v) for k, v in query.items()}
    client.force_login(world.librarian)

    response = client.get(library_url(**query))

    assert response.status_code == 200
    assert ids_on(response) == [images[k].pk for k in expected]


def test_a_label_search_ranks_by_the_stored_probability(client, world, images):
    client.force_login(world.librarian)
    smiling = world.labels.smiling.pk

    confident = ids_on(client.get(library_url(label=smiling, sort="confident")))
    unsure = ids_on(client.get(library_url(label=smiling, sort="unsure")))
    at_least = ids_on(client.get(library_url(label=smiling, min_probability="90")))

    # A person's label has no probability: it counts as certain.
    assert confident == [images["verified"].pk, images["sure"].pk, images["unsure"].pk]
    assert unsure == [images["unsure"].pk, images["sure"].pk, images["verified"].pk]
    assert at_least == [images["verified"].pk, images["sure"].pk]


def test_confidence_sort_without_a_label_uses_each_images_best_probability(client, world, images):
    client.force_login(world.librarian)

    confident = ids_on(client.get(library_url(sort="confident")))

    assert confident[:2] == [images["sure"].pk, images["unsure"].pk]  # 0.97, then 0.55
    assert set(confident[2:]) == {images["verified"].pk, images["old"].pk}  # no probability


def test_bad_filter_values_show_the_error_and_every_image(client, world, images):
    client.force_login(world.librarian)

    response = client.get(library_url(min_probability="lots", label="99999"))

    assert response.status_code == 200
    assert response.context["form"].errors
    assert len(ids_on(response)) == 4


@pytest.mark.parametrize("value", ["-5", "150", "lots"])
def test_a_minimum_probability_outside_0_to_100_is_refused_with_a_clear_error(
    client, world, images, value
):
    client.force_login(world.librarian)

    response = client.get(library_url(min_probability=value))

    assert response.status_code == 200
    errors = response.context["form"].errors["min_probability"]
    assert any("percentage from 0 to 100" in e for e in errors)
    assert "percentage from 0 to 100" in response.content.decode()
    assert len(ids_on(response)) == 4


def test_paging_is_capped_and_costs_the_same_queries_on_any_page(
    client, world, monkeypatch, django_assert_max_num_queries
):
    monkeypatch.setattr(library_views, "PAGE_SIZE", 3)
    monkeypatch.setattr(library_views, "MAX_PAGE", 2)
    made = [factories.ImageFactory(client=world.client_a) for _ in range(8)]
    client.force_login(world.librarian)

    first = client.get(library_url())
    with django_assert_max_num_queries(12):
        second = client.get(library_url(page=2))
    beyond = client.get(library_url(page=3))

    newest = sorted(made, key=lambda i: (i.created_at, i.pk), reverse=True)
    assert ids_on(first) == [i.pk for i in newest[:3]]
    assert first.context["has_next"] is True
    assert ids_on(second) == [i.pk for i in newest[3:6]]
    assert second.context["has_next"] is False and second.context["at_cap"] is True
    assert beyond.context["form"].errors  # past the cap: narrow the filters
    assert first.context["total"] == 8


def test_the_image_page_shows_metadata_predictions_and_reviews(client, world, images):
    image = images["unsure"]
    L = world.labels
    version = factories.ModelVersionFactory(
        taxonomy=world.taxonomy, number=3, labels=[L.smiling, L.building]
    )
    factories.PredictionFactory(
        image=image, model_version=version, scores=[(L.smiling, 0.41), (L.building, 0.39)]
    )
    review = Review.objects.create(image=image, reviewer=world.reviewer, decision="correct")
    review.labels.set([world.labels.building])
    factories.ClientLabelNameFactory(
        client=world.client_a, label=world.labels.building, name="Campus buildings"
    )
    client.force_login(world.librarian)

    response = client.get(reverse("image-detail", args=["alpha", image.pk]))

    assert response.status_code == 200
    text = response.content.decode()
    for expected in (
        "unsure.jpg",
        "Needs review",
        image.sha256,
        "Open day",
        "Smiling",
        "41.0%",  # probabilities in percent, as on every page
        "Campus buildings",
        "rita",
        "Chose other labels",
        "v3",
    ):
        assert expected in text, expected


def test_the_upload_page_is_for_those_who_may_upload(client, world):
    url = reverse("upload", args=["alpha"])
    client.force_login(world.librarian)
    response = client.get(url)
    assert response.status_code == 200
    assert b"uppy/uppy.min.js" in response.content and b"js/upload.js" in response.content
    assert response.context["upload_config"]["batchesUrl"] == reverse("api-batches", args=["alpha"])

    client.force_login(world.reviewer)
    assert client.get(url).status_code == 403
    client.force_login(world.outsider)
    assert client.get(url).status_code == 404


def test_the_short_library_address_keeps_its_filters(client, world):
    client.force_login(world.librarian)
    response = client.get("/library/?sort=oldest&status=verified")
    assert response.status_code == 302
    assert response["Location"] == "/clients/alpha/library/?sort=oldest&status=verified"
    assert client.get("/library/")["Location"] == "/clients/alpha/library/"
