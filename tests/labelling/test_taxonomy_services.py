"""The taxonomy's operations as services: each keeps every image's labels consistent with
the label set it leaves, makes one new version and one audit event; bad input changes
nothing."""

import json

import pytest
from django.core.exceptions import ValidationError

from labelling.models import (
    AuditAction,
    AuditEvent,
    ClientLabelName,
    ImageLabel,
    ImageStatus,
    Label,
)
from labelling.models.images import LabelSource
from labelling.services.taxonomy import (
    client_label_name_set,
    label_create,
    label_retire,
    label_update,
)
from labelling.services.taxonomy_restructure import NewLabel, label_merge, label_split
from labelling.services.taxonomy_transfer import (
    TaxonomyFileError,
    taxonomy_export,
    taxonomy_import,
)
from tests import factories

pytestmark = pytest.mark.django_db


def tagged(client, *labels, status=ImageStatus.VERIFIED):
    image = factories.ImageFactory(client=client, status=status)
    for label in labels:
        ImageLabel.objects.create(image=image, label=label, source=LabelSource.HUMAN)
    return image


def labels_of(image) -> set[str]:
    return set(ImageLabel.objects.filter(image=image).values_list("label__key", flat=True))


def version(world) -> int:
    world.taxonomy.refresh_from_db()
    return world.taxonomy.version


def events() -> list[str]:
    return list(AuditEvent.objects.order_by("id").values_list("action", flat=True))


def test_adding_a_label_makes_a_version_and_an_event(world):
    before = version(world)
    label = label_create(
        taxonomy=world.taxonomy,
        key="lecture",
        name="Lecture",
        parent=world.labels.building,
        user=world.owner,
    )
    assert version(world) == before + 1
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.LABEL_ADDED and event.actor == world.owner
    assert event.detail["label"] == label.pk and event.detail["version"] == before + 1


def test_renaming_keeps_images_and_records_the_old_name(world):
    image = tagged(world.client_a, world.labels.smiling)
    before = version(world)
    label_update(label=world.labels.smiling, data={"name": "Happy"}, user=world.owner)
    assert labels_of(image) == {"smiling"} and version(world) == before + 1
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.LABEL_RENAMED
    assert "“Smiling” to “Happy”" in event.summary
    assert event.detail["before"] == {"name": "Smiling"} and event.detail["after"] == {
        "name": "Happy"
    }


def test_moving_keeps_images_and_refuses_a_cycle(world):
    image = tagged(world.client_a, world.labels.smiling)
    label_update(label=world.labels.smiling, data={"parent": world.labels.building}, user=None)
    assert labels_of(image) == {"smiling"}
    assert events() == [AuditAction.LABEL_MOVED]
    before = version(world)
    with pytest.raises(ValidationError, match="its own ancestor"):
        label_update(label=world.labels.building, data={"parent": world.labels.smiling})
    world.labels.building.refresh_from_db()
    assert world.labels.building.parent_id is None and version(world) == before
    assert len(events()) == 1


def test_merging_moves_the_images_of_both_under_one_and_retires_the_other(world):
    only_smiling = tagged(world.client_a, world.labels.smiling)
    both = tagged(world.client_b, world.labels.smiling, world.labels.not_smiling)
    only_other = tagged(world.client_a, world.labels.not_smiling)
    child = factories.LabelFactory(
        taxonomy=world.taxonomy, key="grin", parent=world.labels.not_smiling
    )
    before = version(world)
    label_merge(label=world.labels.not_smiling, into=world.labels.smiling, user=world.owner)
    for image in (only_smiling, both, only_other):
        assert labels_of(image) == {"smiling"}
    world.labels.not_smiling.refresh_from_db()
    child.refresh_from_db()
    assert not world.labels.not_smiling.is_active and child.parent == world.labels.smiling
    assert version(world) == before + 1 and events() == [AuditAction.LABEL_MERGED]
    assert AuditEvent.objects.get().detail["images_moved"] == 1


@pytest.mark.parametrize("case", ["itself", "retired", "descendant"])
def test_a_bad_merge_changes_nothing(world, case):
    image = tagged(world.client_a, world.labels.smiling)
    target = world.labels.smiling
    if case == "retired":
        target = factories.LabelFactory(taxonomy=world.taxonomy, key="old", is_active=False)
    if case == "descendant":
        target = factories.LabelFactory(
            taxonomy=world.taxonomy, key="inner", parent=world.labels.smiling
        )
    before = version(world)
    with pytest.raises(ValidationError):
        label_merge(label=world.labels.smiling, into=target)
    world.labels.smiling.refresh_from_db()
    assert world.labels.smiling.is_active and labels_of(image) == {"smiling"}
    assert version(world) == before and events() == []


def test_splitting_sends_the_old_labels_images_back_to_review(world):
    verified = tagged(world.client_a, world.labels.building, world.labels.smiling)
    auto = tagged(world.client_b, world.labels.building, status=ImageStatus.AUTO_TAGGED)
    untouched = tagged(world.client_a, world.labels.smiling)
    before = version(world)
    result = label_split(
        label=world.labels.building,
        into=[NewLabel("library", "Library"), NewLabel("lab", "Laboratory")],
        user=world.owner,
    )
    assert result["back_to_review"] == 2
    verified.refresh_from_db()
    auto.refresh_from_db()
    untouched.refresh_from_db()
    assert labels_of(verified) == {"smiling"} and labels_of(auto) == set()
    assert verified.status == auto.status == ImageStatus.NEEDS_REVIEW
    assert untouched.status == ImageStatus.VERIFIED and labels_of(untouched) == {"smiling"}
    world.labels.building.refresh_from_db()
    assert not world.labels.building.is_active
    assert set(Label.objects.active().values_list("key", flat=True)) == {
        "smiling",
        "not_smiling",
        "library",
        "lab",
    }
    assert version(world) == before + 1 and events() == [AuditAction.LABEL_SPLIT]


@pytest.mark.parametrize(
    "into, message",
    [
        ([NewLabel("library", "Library")], "at least two"),
        ([NewLabel("lab", "A"), NewLabel("lab", "B")], "named twice"),
        ([NewLabel("lab", "A"), NewLabel("smiling", "B")], "already used"),
        ([NewLabel("lab", "A"), NewLabel("bad key!", "B")], "slug"),
    ],
)
def test_a_bad_split_changes_nothing(world, into, message):
    image = tagged(world.client_a, world.labels.building)
    before = version(world)
    with pytest.raises(ValidationError, match=message):
        label_split(label=world.labels.building, into=into)
    image.refresh_from_db()
    assert labels_of(image) == {"building"} and image.status == ImageStatus.VERIFIED
    assert Label.objects.count() == 3 and version(world) == before and events() == []


def test_retiring_keeps_the_images_labels_as_history(world):
    image = tagged(world.client_a, world.labels.building)
    before = version(world)
    label_retire(label=world.labels.building, user=world.owner)
    assert labels_of(image) == {"building"}
    world.labels.building.refresh_from_db()
    assert not world.labels.building.is_active
    assert version(world) == before + 1 and events() == [AuditAction.LABEL_RETIRED]


def test_a_client_name_is_set_changed_and_removed_without_a_new_version(world):
    before = version(world)
    smiling = world.labels.smiling
    assert client_label_name_set(client=world.client_a, label=smiling, name="Happy") == "set"
    assert client_label_name_set(client=world.client_a, label=smiling, name="Happy") == "unchanged"
    assert client_label_name_set(client=world.client_a, label=smiling, name="Glad") == "changed"
    assert ClientLabelName.objects.get(client=world.client_a, label=smiling).name == "Glad"
    assert client_label_name_set(client=world.client_a, label=smiling, name=" ") == "removed"
    assert not ClientLabelName.objects.exists()
    assert version(world) == before
    assert events() == [AuditAction.CLIENT_LABEL_NAME_SET] * 3
    assert set(AuditEvent.objects.values_list("client", flat=True)) == {world.client_a.pk}


def test_a_client_name_for_another_sectors_label_is_refused(world):
    foreign = factories.LabelFactory(key="shoe")
    with pytest.raises(ValidationError, match="not in the Universities taxonomy"):
        client_label_name_set(client=world.client_a, label=foreign, name="Shoe")
    assert events() == []


# --- Import and export ------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["json", "csv"])
def test_an_export_reads_back_as_no_change(world, format):
    label_update(label=world.labels.smiling, data={"parent": world.labels.building})
    AuditEvent.objects.all().delete()
    before = version(world)
    name, content_type, data = taxonomy_export(taxonomy=world.taxonomy, format=format)
    assert name == f"universities-taxonomy-v{before}.{format}"
    result = taxonomy_import(taxonomy=world.taxonomy, format=format, text=data.decode())
    assert result.added == [] and result.changed == [] and result.unchanged == 3
    assert version(world) == before and events() == []


def test_an_import_adds_renames_moves_and_retires_in_one_version(world):
    image = tagged(world.client_a, world.labels.not_smiling)
    text = (
        "key,name,parent,description,active\n"
        "smiling,Happy,,,yes\n"
        "people,People,,Anyone in the frame,yes\n"
        "not_smiling,Not smiling,people,,no\n"
    )
    before = version(world)
    result = taxonomy_import(taxonomy=world.taxonomy, format="csv", text=text, user=world.owner)
    assert result.added == ["people"] and sorted(result.changed) == ["not_smiling", "smiling"]
    assert version(world) == before + 1 and events() == [AuditAction.TAXONOMY_IMPORTED]
    not_smiling = Label.objects.get(key="not_smiling")
    assert not not_smiling.is_active and not_smiling.parent.key == "people"
    assert Label.objects.get(key="smiling").name == "Happy"
    assert Label.objects.get(key="building").is_active  # not in the file: left alone
    assert labels_of(image) == {"not_smiling"}


@pytest.mark.parametrize(
    "format, text, message",
    [
        ("json", "{not json", "malformed"),
        ("json", json.dumps({"labels": "smiling"}), "list of labels"),
        ("csv", "", "empty"),
        ("csv", "key,title\nsmiling,x\n", "Unknown column “title”"),
        ("csv", "key,name\nsmiling,\n", "name is missing"),
        ("csv", "key,name,parent\nnew,New,nowhere\n", "neither in the file"),
        ("csv", "key,name,parent\nsmiling,S,building\nbuilding,B,smiling\n", "circle"),
        ("csv", "key,name\nx y,X\n", "letters, digits"),
        ("csv", "key,name,active\nsmiling,S,maybe\n", "yes or no"),
        ("csv", "key,name\nsmiling,A\nsmiling,B\n", "named twice"),
        (
            "csv",
            "key,name,parent,active\nroom,Room,building,yes\nbuilding,B,,no\n",
            "active children",
        ),
    ],
)
def test_a_malformed_import_changes_nothing(world, format, text, message):
    before = version(world)
    with pytest.raises(TaxonomyFileError) as refused:
        taxonomy_import(taxonomy=world.taxonomy, format=format, text=text)
    assert any(message in problem for problem in refused.value.problems), refused.value.problems
    assert Label.objects.count() == 3 and version(world) == before and events() == []
    assert Label.objects.get(key="smiling").name == "Smiling"


def test_a_merge_moves_what_the_model_said_so_waiting_images_can_be_accepted(world):
    from labelling.services.review import Decision, image_correct

    smiling, not_smiling = world.labels.smiling, world.labels.not_smiling
    model = factories.ModelVersionFactory(taxonomy=world.taxonomy, labels=[smiling, not_smiling])
    image = factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
    prediction = factories.PredictionFactory(
        image=image, model_version=model, scores=[(not_smiling, 0.6), (smiling, 0.4)]
    )

    label_merge(label=not_smiling, into=smiling, user=world.owner)

    prediction.refresh_from_db()
    assert prediction.top_label_id == smiling.pk
    assert prediction.top_probability == pytest.approx(1.0)  # one softmax's two shares
    assert prediction.ranked == [{"label": smiling.pk, "probability": pytest.approx(1.0)}]
    image_correct(client=world.client_a, user=world.owner, decision=Decision(image.pk, "accept"))
    assert labels_of(image) == {"smiling"}


def test_a_retired_top_label_is_no_suggestion(world):
    from labelling.services.review.suggestions import suggested_labels

    smiling, not_smiling = world.labels.smiling, world.labels.not_smiling
    model = factories.ModelVersionFactory(taxonomy=world.taxonomy, labels=[smiling, not_smiling])
    image = factories.ImageFactory(client=world.client_a, status=ImageStatus.NEEDS_REVIEW)
    prediction = factories.PredictionFactory(
        image=image, model_version=model, scores=[(not_smiling, 0.7), (smiling, 0.3)]
    )
    assert suggested_labels(prediction, [], multi_label=False) == [not_smiling.pk]
    label_retire(label=not_smiling, user=world.owner)
    prediction.refresh_from_db()
    assert suggested_labels(prediction, [], multi_label=False) == []
