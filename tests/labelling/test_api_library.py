"""The image library API: a client's images, filtered and ordered, and one image with its
labels (by the client's names), latest predictions and review history."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from labelling.models import Image, ImageLabel, ImageStatus, Prediction, Review, ReviewDecision
from labelling.models.images import LabelSource
from tests import factories
from training.models import ModelVersion

IMAGES = "/api/v1/clients/alpha/images/"


def model_version(taxonomy, number: int = 1) -> ModelVersion:
    return factories.ModelVersionFactory(taxonomy=taxonomy, number=number)


def tag(image, label, probability=None, source=LabelSource.MACHINE) -> ImageLabel:
    return ImageLabel.objects.create(
        image=image, label=label, probability=probability, source=source
    )


def predict(image, version, ranked: list[tuple]) -> Prediction:
    return factories.PredictionFactory(image=image, model_version=version, scores=ranked)


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def library(world):
    """Client A's three images (one in a batch, one by bob, two tagged) and one of B's."""
    batch = factories.UploadBatchFactory(client=world.client_a)
    old = factories.ImageFactory(client=world.client_a, status=ImageStatus.VERIFIED)
    Image.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    tagged = factories.ImageFactory(
        client=world.client_a,
        batch=batch,
        uploaded_by=world.librarian,
        status=ImageStatus.AUTO_TAGGED,
    )
    fresh = factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
    tag(old, world.labels.smiling, source=LabelSource.HUMAN)
    tag(tagged, world.labels.smiling, 0.9)
    tag(fresh, world.labels.smiling, 0.4)
    tag(fresh, world.labels.building, 0.3)
    theirs = factories.ImageFactory(client=world.client_b)
    return SimpleNamespace(batch=batch, old=old, tagged=tagged, fresh=fresh, theirs=theirs)


class TestImageListAccess:
    @pytest.mark.parametrize("persona", ["owner", "librarian", "reviewer"])
    def test_every_member_lists_the_clients_images(self, world, library, api_client_for, persona):
        response = api_client_for(getattr(world, persona)).get(IMAGES)
        assert ids(response) == [library.fresh.pk, library.tagged.pk, library.old.pk]
        assert response.json()["count"] == 3

    def test_an_outsider_gets_a_404(self, world, library, api_client_for):
        assert api_client_for(world.outsider).get(IMAGES).status_code == 404

    def test_anonymous_is_refused(self, world, api_client_for):
        assert api_client_for(None).get(IMAGES).status_code == 401

    def test_it_is_read_only(self, world, library, api_client_for):
        api = api_client_for(world.owner)
        assert api.post(IMAGES, {}).status_code in (403, 405)
        assert api.delete(f"{IMAGES}{library.old.pk}/").status_code in (403, 405)
        assert Image.objects.filter(pk=library.old.pk).exists()

    def test_labels_carry_the_clients_names(self, world, library, api_client_for):
        factories.ClientLabelNameFactory(
            client=world.client_a, label=world.labels.smiling, name="Happy students"
        )
        response = api_client_for(world.librarian).get(IMAGES)
        fresh = response.json()["results"][0]
        assert fresh["labels"] == [
            {
                "id": world.labels.smiling.pk,
                "key": "smiling",
                "name": "Happy students",
                "source": "machine",
                "probability": 0.4,
            },
            {
                "id": world.labels.building.pk,
                "key": "building",
                "name": "Building",
                "source": "machine",
                "probability": 0.3,
            },
        ]

    def test_the_number_of_queries_does_not_grow_with_the_images(self, world, api_client_for):
        api = api_client_for(world.owner)

        def queries_for_a_page() -> int:
            with CaptureQueriesContext(connection) as queries:
                assert api.get(IMAGES, {"ordering": "least_confident"}).status_code == 200
            return len(queries)

        def add_images(count: int) -> None:
            for _ in range(count):
                image = factories.ImageFactory(client=world.client_a, uploaded_by=world.librarian)
                tag(image, world.labels.smiling, 0.5)
                tag(image, world.labels.building, 0.6)

        add_images(2)
        few = queries_for_a_page()
        add_images(8)
        assert queries_for_a_page() == few
        assert few <= 7


class TestImageListFilters:
    def test_status(self, world, library, api_client_for):
        response = api_client_for(world.owner).get(IMAGES, {"status": "needs_review"})
        assert ids(response) == [library.fresh.pk]

    def test_batch(self, world, library, api_client_for):
        response = api_client_for(world.owner).get(IMAGES, {"batch": library.batch.pk})
        assert ids(response) == [library.tagged.pk]

    def test_label(self, world, library, api_client_for):
        response = api_client_for(world.owner).get(IMAGES, {"label": world.labels.building.pk})
        assert ids(response) == [library.fresh.pk]

    def test_label_with_min_probability_keeps_labels_set_by_people(
        self, world, library, api_client_for
    ):
        params = {"label": world.labels.smiling.pk, "min_probability": "0.5"}
        response = api_client_for(world.owner).get(IMAGES, params)
        assert ids(response) == [library.tagged.pk, library.old.pk]

    def test_uploaded_by(self, world, library, api_client_for):
        response = api_client_for(world.owner).get(IMAGES, {"uploaded_by": world.librarian.pk})
        assert ids(response) == [library.tagged.pk]
        assert response.json()["results"][0]["uploaded_by"] == {
            "id": world.librarian.pk,
            "username": "bob",
        }

    def test_created_after_and_before(self, world, library, api_client_for):
        api = api_client_for(world.owner)
        five_days_ago = (timezone.now() - timedelta(days=5)).isoformat()
        response = api.get(IMAGES, {"created_after": five_days_ago})
        assert ids(response) == [library.fresh.pk, library.tagged.pk]
        response = api.get(IMAGES, {"created_before": five_days_ago})
        assert ids(response) == [library.old.pk]

    def test_an_empty_value_is_no_filter(self, world, library, api_client_for):
        response = api_client_for(world.owner).get(IMAGES, {"status": "", "batch": ""})
        assert len(ids(response)) == 3

    def test_another_clients_batch_finds_nothing(self, world, library, api_client_for):
        their_batch = factories.UploadBatchFactory(client=world.client_b)
        response = api_client_for(world.owner).get(IMAGES, {"batch": their_batch.pk})
        assert ids(response) == []


class TestImageListOrdering:
    def test_oldest(self, world, library, api_client_for):
        response = api_client_for(world.owner).get(IMAGES, {"ordering": "oldest"})
        assert ids(response) == [library.old.pk, library.tagged.pk, library.fresh.pk]

    def test_by_the_confidence_of_a_label(self, world, library, api_client_for):
        api = api_client_for(world.owner)
        label = world.labels.smiling.pk
        response = api.get(IMAGES, {"label": label, "ordering": "most_confident"})
        assert ids(response) == [library.old.pk, library.tagged.pk, library.fresh.pk]
        response = api.get(IMAGES, {"label": label, "ordering": "least_confident"})
        assert ids(response) == [library.fresh.pk, library.tagged.pk, library.old.pk]

    def test_by_the_latest_predictions_confidence(self, world, library, api_client_for):
        first, second = model_version(world.taxonomy, 1), model_version(world.taxonomy, 2)
        predict(library.tagged, first, [(world.labels.smiling, 0.2)])
        predict(library.tagged, second, [(world.labels.smiling, 0.95)])  # the latest
        predict(library.fresh, first, [(world.labels.building, 0.6)])
        api = api_client_for(world.owner)
        response = api.get(IMAGES, {"ordering": "most_confident"})
        # the old image has no prediction: last either way
        assert ids(response) == [library.tagged.pk, library.fresh.pk, library.old.pk]
        response = api.get(IMAGES, {"ordering": "least_confident"})
        assert ids(response) == [library.fresh.pk, library.tagged.pk, library.old.pk]


class TestImageListValidation:
    @pytest.mark.parametrize(
        ("params", "field", "words"),
        [
            ({"status": "bogus"}, "status", "is not a status"),
            ({"batch": "abc"}, "batch", "valid integer"),
            ({"label": "-3"}, "label", "greater than or equal to 1"),
            ({"uploaded_by": "bob"}, "uploaded_by", "valid integer"),
            ({"label": "1", "min_probability": "2"}, "min_probability", "less than or equal"),
            ({"label": "1", "min_probability": "nan"}, "min_probability", "between 0 and 1"),
            ({"min_probability": "0.5"}, "min_probability", "needs label"),
            ({"created_after": "yesterday"}, "created_after", "Datetime has wrong format"),
            (
                {"created_after": "2025-02-01", "created_before": "2025-01-01"},
                "created_before",
                "later than",
            ),
            ({"ordering": "random"}, "ordering", "is not an ordering"),
        ],
    )
    def test_bad_parameters_are_a_400(self, world, api_client_for, params, field, words):
        response = api_client_for(world.owner).get(IMAGES, params)
        assert response.status_code == 400
        assert words in response.json()[field][0]

    def test_an_unknown_client_is_a_404(self, world, api_client_for):
        response = api_client_for(world.owner).get("/api/v1/clients/nowhere/images/")
        assert response.status_code == 404


class TestImageDetail:
    def url(self, image) -> str:
        return f"{IMAGES}{image.pk}/"

    @pytest.mark.parametrize("persona", ["owner", "librarian", "reviewer"])
    def test_every_member_reads_an_image(self, world, library, api_client_for, persona):
        response = api_client_for(getattr(world, persona)).get(self.url(library.tagged))
        assert response.status_code == 200
        body = response.json()
        assert body["id"] == library.tagged.pk
        assert body["batch"] == library.batch.pk
        assert body["status"] == "auto_tagged"
        assert body["sha256"] == library.tagged.sha256
        assert (body["width"], body["height"], body["format"]) == (96, 80, "JPEG")
        assert [label["key"] for label in body["labels"]] == ["smiling"]

    def test_an_outsider_gets_a_404(self, world, library, api_client_for):
        response = api_client_for(world.outsider).get(self.url(library.tagged))
        assert response.status_code == 404

    def test_another_clients_image_is_a_404_through_your_url(self, world, library, api_client_for):
        response = api_client_for(world.owner).get(self.url(library.theirs))
        assert response.status_code == 404

    def test_anonymous_is_refused(self, world, library, api_client_for):
        assert api_client_for(None).get(self.url(library.tagged)).status_code == 401

    @pytest.mark.parametrize("image_id", ["999999", "abc"])
    def test_an_unknown_id_is_a_404(self, world, api_client_for, image_id):
        response = api_client_for(world.owner).get(f"{IMAGES}{image_id}/")
        assert response.status_code == 404

    def test_predictions_are_the_latest_with_the_clients_names(
        self, world, library, api_client_for
    ):
        factories.ClientLabelNameFactory(
            client=world.client_a, label=world.labels.building, name="Halls"
        )
        versions = [model_version(world.taxonomy, number) for number in range(1, 8)]
        for version in versions:
            predict(
                library.fresh,
                version,
                [(world.labels.building, 0.7), (world.labels.smiling, 0.3)],
            )
        body = api_client_for(world.reviewer).get(self.url(library.fresh)).json()
        numbers = [prediction["model_version"]["number"] for prediction in body["predictions"]]
        assert numbers == [7, 6, 5, 4, 3]
        latest = body["predictions"][0]
        assert latest["top_label"]["name"] == "Halls"
        assert latest["top_probability"] == 0.7
        assert latest["ranked"] == [
            {
                "label": {"id": world.labels.building.pk, "key": "building", "name": "Halls"},
                "probability": 0.7,
            },
            {
                "label": {"id": world.labels.smiling.pk, "key": "smiling", "name": "Smiling"},
                "probability": 0.3,
            },
        ]
        assert [label["name"] for label in body["labels"]] == ["Smiling", "Halls"]

    def test_review_history_newest_first(self, world, library, api_client_for):
        first = Review.objects.create(
            image=library.fresh, reviewer=world.reviewer, decision=ReviewDecision.ACCEPT
        )
        first.labels.set([world.labels.smiling])
        second = Review.objects.create(
            image=library.fresh,
            reviewer=world.owner,
            decision=ReviewDecision.CORRECT,
            corrected_auto_tag=True,
            previous_status=ImageStatus.NEEDS_REVIEW,
        )
        second.labels.set([world.labels.building, world.labels.not_smiling])
        body = api_client_for(world.librarian).get(self.url(library.fresh)).json()
        assert [review["id"] for review in body["reviews"]] == [second.pk, first.pk]
        newest = body["reviews"][0]
        assert newest["reviewer"] == {"id": world.owner.pk, "username": "alice"}
        assert newest["decision"] == "correct"
        assert newest["corrected_auto_tag"] is True
        assert {label["key"] for label in newest["labels"]} == {"building", "not_smiling"}

    def test_an_image_with_no_history(self, world, library, api_client_for):
        body = api_client_for(world.owner).get(self.url(library.old)).json()
        assert body["predictions"] == []
        assert body["reviews"] == []
        assert body["labels"][0]["source"] == "human"
        assert body["labels"][0]["probability"] is None
