"""Correct this tag, on the image page: through the review service's correction, for the
client's members who may correct; another client's image is a 404; bad input changes nothing
and says why."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client as BrowserClient
from django.urls import reverse

from labelling.models import ImageLabel, ImageStatus, Review
from labelling.models.images import LabelSource
from tests import factories

pytestmark = pytest.mark.django_db


def as_user(user) -> BrowserClient:
    browser = BrowserClient()
    browser.force_login(user)
    return browser


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def tagged(world):
    image = factories.ImageFactory(client=world.client_a, status=ImageStatus.AUTO_TAGGED)
    ImageLabel.objects.create(
        image=image, label=world.labels.smiling, source=LabelSource.MACHINE, probability=0.97
    )
    return image


def correct_url(image, slug="alpha"):
    return reverse("image-correct", args=[slug, image.pk])


def test_the_image_page_offers_the_correction_with_the_current_label_chosen(world, tagged):
    html = as_user(world.librarian).get(reverse("image-detail", args=["alpha", tagged.pk]))
    html = html.content.decode()
    assert 'id="correct-form"' in html and "Correct this tag" in html
    assert f'value="{world.labels.smiling.pk}"' in html and "checked" in html
    assert "97.0%" in html  # probabilities in percent, as on every page


def test_a_librarian_corrects_the_models_tag(world, tagged):
    factories.ClientLabelNameFactory(
        client=world.client_a, label=world.labels.building, name="Campus buildings"
    )
    response = as_user(world.librarian).post(
        correct_url(tagged), {"labels": [world.labels.building.pk]}, follow=True
    )
    assert any("now tagged Campus buildings" in m for m in flash(response))
    tagged.refresh_from_db()
    assert tagged.status == ImageStatus.VERIFIED
    labels = list(tagged.image_labels.values_list("label_id", "source"))
    assert labels == [(world.labels.building.pk, LabelSource.HUMAN)]
    review = Review.objects.get(image=tagged)
    assert review.reviewer == world.librarian and review.decision == "correct"
    assert "Campus buildings" in response.content.decode()  # the review history shows it


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({}, "Choose the label"),
        ({"labels": ["999999"]}, "not one of the available choices"),
        ({"labels": ["many"]}, "not one of the available choices"),
        ({"labels": ["SMILING", "BUILDING"]}, "exactly one label"),
    ],
)
def test_bad_input_changes_nothing_and_says_why(world, tagged, data, said):
    ids = {"SMILING": world.labels.smiling.pk, "BUILDING": world.labels.building.pk}
    data = {k: [ids.get(v, v) for v in vs] for k, vs in data.items()}
    response = as_user(world.owner).post(correct_url(tagged), data, follow=True)
    assert any("not corrected" in m and said in m for m in flash(response)), flash(response)
    tagged.refresh_from_db()
    assert tagged.status == ImageStatus.AUTO_TAGGED and not Review.objects.exists()


def test_another_clients_image_is_404_and_a_queued_image_is_the_reviewers(world, tagged):
    outsider = as_user(world.outsider)
    assert outsider.post(correct_url(tagged, "beta"), {"labels": [1]}).status_code == 404
    assert outsider.post(correct_url(tagged), {"labels": [1]}).status_code == 404
    queued = factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
    refused = as_user(world.librarian).post(
        correct_url(queued), {"labels": [world.labels.smiling.pk]}
    )
    assert refused.status_code == 403 and b"review queue" in refused.content
    page = as_user(world.librarian).get(reverse("image-detail", args=["alpha", queued.pk]))
    assert b'id="correct-form"' not in page.content
    assert not Review.objects.exists()
