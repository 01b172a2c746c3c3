"""The prediction API: a job for new files (stored through the upload service) or stored
images, answered later; its progress and results; owner, member and outsider on both
endpoints. One test trains a real tiny model and follows a job to its labels."""

import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from labelling.models import ClientLabelName, Image, ImageStatus, Prediction, UploadBatch
from labelling.services import uploads
from tests import factories
from tests.factories import make_image_bytes
from tests.training.builders import add_photo, make_version, verified_library
from training import runtime, tasks
from training.models import PredictionJob
from training.services.prediction import images_predict
from training.services.training import training_execute, training_request

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("quick_heads")]

PREDICT = "/api/v1/predict/"


@pytest.fixture
def queued(monkeypatch):
    """What would go to the broker: ingest image ids, predict (ids, top_n) calls and the
    model version each predict call pins."""
    calls = {"ingest": [], "predict": [], "pinned": []}
    monkeypatch.setattr(uploads, "enqueue_ingest", lambda ids: calls["ingest"].append(list(ids)))

    def predict_delay(ids, top_n=None, model_version_id=None):
        calls["predict"].append((list(ids), top_n))
        calls["pinned"].append(model_version_id)

    monkeypatch.setattr(tasks.predict, "delay", predict_delay)
    return calls


@pytest.fixture
def active(world):
    """An active version of the world's taxonomy (a row: no model file behind it)."""
    return make_version(
        world.taxonomy,
        labels=[world.labels.smiling, world.labels.not_smiling, world.labels.building],
        active=True,
    )


def jpeg(name="photo.jpg", color=(200, 40, 40)):
    return SimpleUploadedFile(name, make_image_bytes(color=color), content_type="image/jpeg")


def job_url(job_id):
    return reverse("api-predict-job", args=[job_id])


def post(api, data, capture):
    with capture(execute=True):
        return api.post(PREDICT, data, format="multipart")


# --- Asking --------------------------------------------------------------------------------


def test_an_admin_sends_files_and_gets_a_job_at_once(
    world, active, api_client_for, queued, django_capture_on_commit_callbacks
):
    response = post(
        api_client_for(world.owner),
        {"client": "alpha", "files": [jpeg("a.jpg"), jpeg("b.jpg", (10, 200, 10))], "top_n": 2},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    body = response.json()
    job = PredictionJob.objects.get(pk=body["id"])
    stored = list(Image.objects.filter(client=world.client_a).order_by("pk"))
    assert [i.original_name for i in stored] == ["a.jpg", "b.jpg"]
    assert {i.pk for i in job.images.all()} == {i.pk for i in stored}
    assert job.model_version == active and job.top_n == 2 and job.created_by == world.owner
    assert body["url"] == job_url(job.pk)
    assert body["status"] == "queued" and body["progress"] == {"done": 0, "total": 2}
    assert body["model_version"]["number"] == active.number
    assert [f["status"] for f in body["files"]] == ["stored", "stored"]
    assert [f["image"] for f in body["files"]] == [i.pk for i in stored]
    # stored like any upload (ingested as usual), then predicted for the job
    assert queued["ingest"] == [[i.pk for i in stored]]
    assert queued["predict"] == [([i.pk for i in stored], 2)]
    assert queued["pinned"] == [active.pk]  # the job's version, not whatever is active later
    assert UploadBatch.objects.get().client == world.client_a


def test_refused_files_are_reported_per_file(
    world, active, api_client_for, queued, django_capture_on_commit_callbacks
):
    svg = SimpleUploadedFile("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    response = post(
        api_client_for(world.librarian),
        {"client": "alpha", "files": [jpeg("ok.jpg"), svg]},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    files = response.json()["files"]
    assert [(f["name"], f["status"]) for f in files] == [
        ("ok.jpg", "stored"),
        ("logo.svg", "rejected"),
    ]
    assert files[1]["code"] and files[1]["message"] and files[1]["image"] is None
    assert response.json()["progress"]["total"] == 1


def test_all_files_refused_is_a_400_with_the_reasons(
    world, active, api_client_for, queued, django_capture_on_commit_callbacks
):
    response = post(
        api_client_for(world.owner),
        {"client": "alpha", "files": [SimpleUploadedFile("notes.jpg", b"<html>no</html>")]},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 400
    assert response.json()["files"][0]["status"] == "rejected"
    assert PredictionJob.objects.count() == 0 and queued["predict"] == []


def test_a_duplicate_file_predicts_the_image_already_there(
    world, active, api_client_for, queued, django_capture_on_commit_callbacks
):
    api = api_client_for(world.owner)
    first = post(
        api, {"client": "alpha", "files": [jpeg("a.jpg")]}, django_capture_on_commit_callbacks
    )
    again = post(
        api, {"client": "alpha", "files": [jpeg("copy.jpg")]}, django_capture_on_commit_callbacks
    )
    assert again.status_code == 202
    assert again.json()["files"][0]["status"] == "duplicate"
    assert again.json()["files"][0]["image"] == first.json()["files"][0]["image"]
    assert Image.objects.count() == 1


def test_stored_images_are_predicted_by_id(
    world, active, api_client_for, queued, django_capture_on_commit_callbacks
):
    images = [factories.ImageFactory(client=world.client_a) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client_for(world.owner).post(
            PREDICT, {"client": "alpha", "image_ids": [i.pk for i in images]}, format="json"
        )
    assert response.status_code == 202, response.content
    assert response.json()["files"] == []
    assert queued["predict"] == [([i.pk for i in images], 5)]
    assert queued["ingest"] == []


def test_files_and_stored_images_go_in_one_job(
    world, active, api_client_for, queued, django_capture_on_commit_callbacks
):
    stored = factories.ImageFactory(client=world.client_a)
    response = post(
        api_client_for(world.owner),
        {"client": "alpha", "files": [jpeg("new.jpg")], "image_ids": [stored.pk], "top_n": 3},
        django_capture_on_commit_callbacks,
    )
    assert response.status_code == 202, response.content
    new = Image.objects.get(original_name="new.jpg")
    assert queued["predict"] == [([stored.pk, new.pk], 3)]
    assert response.json()["progress"] == {"done": 0, "total": 2}


def test_another_clients_image_id_is_a_400_and_nothing_is_queued(
    world, active, api_client_for, queued
):
    theirs = factories.ImageFactory(client=world.client_b)
    response = api_client_for(world.owner).post(
        PREDICT, {"client": "alpha", "image_ids": [theirs.pk]}, format="json"
    )
    assert response.status_code == 400
    assert str(theirs.pk) in str(response.json()["image_ids"])
    assert PredictionJob.objects.count() == 0


@pytest.mark.parametrize(
    "data",
    [
        {"client": "alpha"},  # nothing to predict
        {"image_ids": [1]},  # no client
        {"client": "alpha", "image_ids": [1], "top_n": 0},
        {"client": "alpha", "image_ids": [1], "top_n": 21},
    ],
)
def test_a_bad_request_is_a_400(world, active, api_client_for, queued, data):
    factories.ImageFactory(client=world.client_a)
    response = api_client_for(world.owner).post(PREDICT, data, format="json")
    assert response.status_code == 400
    assert PredictionJob.objects.count() == 0


def test_no_active_model_is_a_409_and_nothing_is_stored(world, api_client_for, queued):
    response = api_client_for(world.owner).post(
        PREDICT, {"client": "alpha", "files": [jpeg()]}, format="multipart"
    )
    assert response.status_code == 409
    assert "no active model" in response.json()["detail"]
    assert "Universities" in response.json()["detail"]
    assert Image.objects.count() == 0 and UploadBatch.objects.count() == 0
    assert queued["ingest"] == [] and queued["predict"] == []


def test_a_reviewer_cannot_ask(world, active, api_client_for, queued):
    response = api_client_for(world.reviewer).post(
        PREDICT, {"client": "alpha", "files": [jpeg()]}, format="multipart"
    )
    assert response.status_code == 403
    assert Image.objects.count() == 0


def test_a_non_member_gets_404_for_the_client(world, active, api_client_for, queued):
    image = factories.ImageFactory(client=world.client_a)
    api = api_client_for(world.outsider)
    for data in (
        {"client": "alpha", "image_ids": [image.pk]},
        {"client": "nope", "image_ids": [1]},
    ):
        assert api.post(PREDICT, data, format="json").status_code == 404
    assert PredictionJob.objects.count() == 0


def test_anonymous_is_refused(world, api_client_for):
    assert api_client_for(None).post(PREDICT, {"client": "alpha"}).status_code == 401


# --- Polling ----------------------------------------------------------------------------------


def make_job(world, version, images, top_n=2):
    return factories.PredictionJobFactory(
        client=world.client_a,
        model_version=version,
        top_n=top_n,
        created_by=world.owner,
        images=images,
    )


def predicted(image, version, ranked):
    factories.PredictionFactory(image=image, model_version=version, ranked=ranked)


def test_a_job_goes_from_queued_to_done_with_the_top_n_labels(world, active, api_client_for):
    ClientLabelName.objects.create(
        client=world.client_a, label=world.labels.smiling, name="Happy students"
    )
    images = [factories.ImageFactory(client=world.client_a) for _ in range(2)]
    job = make_job(world, active, images, top_n=2)
    api = api_client_for(world.owner)
    ranked = [
        {"label": world.labels.smiling.pk, "probability": 0.81},
        {"label": world.labels.building.pk, "probability": 0.15},
        {"label": world.labels.not_smiling.pk, "probability": 0.04},
    ]

    queued_body = api.get(job_url(job.pk)).json()
    assert queued_body["status"] == "queued"
    assert queued_body["progress"] == {"done": 0, "total": 2}
    assert {r["state"] for r in queued_body["results"]} == {"pending"}

    predicted(images[0], active, ranked)
    running = api.get(job_url(job.pk)).json()
    assert running["status"] == "running" and running["progress"]["done"] == 1

    predicted(images[1], active, ranked[::-1])
    done = api.get(job_url(job.pk)).json()
    assert done["status"] == "done" and done["progress"] == {"done": 2, "total": 2}
    first = done["results"][0]
    assert first["image"]["id"] == images[0].pk and first["state"] == "predicted"
    assert first["labels"] == [
        {
            "id": world.labels.smiling.pk,
            "key": "smiling",
            "name": "Happy students",
            "probability": 0.81,
        },
        {
            "id": world.labels.building.pk,
            "key": "building",
            "name": "Building",
            "probability": 0.15,
        },
    ]
    assert [label["key"] for label in done["results"][1]["labels"]] == ["not_smiling", "building"]
    assert done["model_version"]["id"] == active.pk and done["client"] == "alpha"


def test_a_prediction_by_another_version_does_not_count(world, active, api_client_for):
    image = factories.ImageFactory(client=world.client_a)
    job = make_job(world, active, [image])
    other = make_version(world.taxonomy, labels=[world.labels.smiling, world.labels.building])
    predicted(image, other, [{"label": world.labels.smiling.pk, "probability": 0.9}])
    body = api_client_for(world.owner).get(job_url(job.pk)).json()
    assert body["status"] == "queued"


def test_an_unreadable_image_finishes_the_job_with_its_reason(world, active, api_client_for):
    good = factories.ImageFactory(client=world.client_a)
    bad = factories.ImageFactory(
        client=world.client_a, status=ImageStatus.FAILED, failure_reason="The file is truncated."
    )
    job = make_job(world, active, [good, bad])
    predicted(good, active, [{"label": world.labels.smiling.pk, "probability": 0.9}])
    body = api_client_for(world.owner).get(job_url(job.pk)).json()
    assert body["status"] == "done"
    failed = next(r for r in body["results"] if r["image"]["id"] == bad.pk)
    assert failed["state"] == "failed" and failed["error"] == "The file is truncated."


def test_members_read_a_job_and_outsiders_get_404(world, active, api_client_for):
    job = make_job(world, active, [factories.ImageFactory(client=world.client_a)])
    for persona in ("owner", "librarian", "reviewer"):
        assert api_client_for(getattr(world, persona)).get(job_url(job.pk)).status_code == 200
    assert api_client_for(world.outsider).get(job_url(job.pk)).status_code == 404
    assert api_client_for(world.owner).get(job_url(uuid.uuid4())).status_code == 404
    assert api_client_for(None).get(job_url(job.pk)).status_code == 401


def test_polling_a_job_costs_the_same_few_queries_whatever_its_size(
    world, active, api_client_for, django_assert_max_num_queries
):
    images = [factories.ImageFactory(client=world.client_a) for _ in range(12)]
    for image in images:
        predicted(image, active, [{"label": world.labels.smiling.pk, "probability": 0.9}])
    job = make_job(world, active, images)
    api = api_client_for(world.owner)
    api.get(job_url(job.pk))  # the token lookup's first-use costs stay out of the count
    with django_assert_max_num_queries(7):
        assert api.get(job_url(job.pk)).json()["progress"]["done"] == 12


def test_ingestion_still_decides_an_image_a_job_predicted_first(world, active):
    # The job's task and the upload's ingestion race; whichever predicts first, the policy
    # decides the image once ingestion reaches it.
    image = factories.ImageFactory(client=world.client_a, status=ImageStatus.PROCESSING)
    threshold = max(active.policy["thresholds"].values())
    label = int(next(iter(active.policy["thresholds"])))
    predicted(image, active, [{"label": label, "probability": min(1.0, threshold + 0.001)}])
    outcome = images_predict(image_ids=[image.pk], decide=True)
    image.refresh_from_db()
    assert outcome.skipped == [image.pk]
    assert image.status == ImageStatus.AUTO_TAGGED
    assert image.image_labels.get().label_id == label


# --- End to end, with a real tiny model ----------------------------------------------------------


def test_a_job_is_answered_by_the_real_model(
    world, api_client_for, tiny_backbone, monkeypatch, django_capture_on_commit_callbacks
):
    rng = verified_library(world)
    run = training_execute(run_id=training_request(taxonomy=world.taxonomy).pk)
    assert run.status == "succeeded", run.message
    warm = add_photo(world.client_a, rng, warm=True, status=ImageStatus.NEEDS_REVIEW)
    cool = add_photo(world.client_a, rng, warm=False, status=ImageStatus.NEEDS_REVIEW)
    # The worker, here: the task runs as the broker would run it, after the commit.
    monkeypatch.setattr(
        tasks.predict,
        "delay",
        lambda ids, top_n=None, model_version_id=None: tasks.predict(ids, top_n, model_version_id),
    )
    api = api_client_for(world.librarian)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            PREDICT, {"client": "alpha", "image_ids": [warm.pk, cool.pk], "top_n": 2}, format="json"
        )
    assert response.status_code == 202, response.content
    body = api.get(response.json()["url"]).json()
    runtime.forget_models()
    assert body["status"] == "done" and body["progress"] == {"done": 2, "total": 2}
    by_image = {r["image"]["id"]: r for r in body["results"]}
    assert by_image[warm.pk]["labels"][0]["key"] == "smiling"
    assert by_image[cool.pk]["labels"][0]["key"] == "building"
    assert len(by_image[warm.pk]["labels"]) == 2
    assert sum(label["probability"] for label in by_image[warm.pk]["labels"]) == pytest.approx(
        1.0, abs=1e-3
    )
    # predicting for a job decides nothing: a person still reviews them
    warm.refresh_from_db()
    assert warm.status == ImageStatus.NEEDS_REVIEW


# --- Lost messages ----------------------------------------------------------------------------


def _age(job, minutes):
    """Make ``job`` (and the predictions of its images by its version) look ``minutes`` old."""
    from datetime import timedelta

    from django.utils import timezone

    then = timezone.now() - timedelta(minutes=minutes)
    PredictionJob.objects.filter(pk=job.pk).update(created_at=then)
    Prediction.objects.filter(model_version=job.model_version, image__in=job.images.all()).update(
        created_at=then
    )


def test_a_stalled_job_has_its_unanswered_images_queued_again(world, active, queued):
    from training.services.prediction_jobs import prediction_jobs_requeue_stalled

    answered, lost, unreadable = (factories.ImageFactory(client=world.client_a) for _ in range(3))
    Image.objects.filter(pk=unreadable.pk).update(status=ImageStatus.FAILED)
    job = make_job(world, active, [answered, lost, unreadable], top_n=3)
    predicted(answered, active, [{"label": world.labels.smiling.pk, "probability": 0.9}])

    assert prediction_jobs_requeue_stalled() == {}  # a new job is given time
    _age(job, minutes=30)
    assert prediction_jobs_requeue_stalled() == {str(job.pk): 1}
    assert queued["predict"] == [([lost.pk], 3)]
    assert queued["pinned"] == [active.pk]  # by the job's own version


def test_a_job_still_moving_or_finished_or_given_up_on_is_left_alone(world, active, queued):
    from datetime import timedelta

    from django.utils import timezone

    from training.services.prediction_jobs import prediction_jobs_requeue_stalled

    ranked = [{"label": world.labels.smiling.pk, "probability": 0.9}]
    moving_images = [factories.ImageFactory(client=world.client_a) for _ in range(2)]
    moving = make_job(world, active, moving_images)
    PredictionJob.objects.filter(pk=moving.pk).update(
        created_at=timezone.now() - timedelta(minutes=40)
    )
    predicted(moving_images[0], active, ranked)  # answered just now: the worker is on it

    finished_image = factories.ImageFactory(client=world.client_a)
    finished = make_job(world, active, [finished_image])
    predicted(finished_image, active, ranked)
    _age(finished, minutes=60)

    old = make_job(world, active, [factories.ImageFactory(client=world.client_a)])
    _age(old, minutes=25 * 60)

    assert prediction_jobs_requeue_stalled() == {}
    assert queued["predict"] == []
