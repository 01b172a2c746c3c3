"""The taxonomy editor's pages: who may see and change what (a maintainer edits the labels,
a client admin only their own client's names), each operation through its form, and bad
input answered with a 400 that changes nothing."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client as BrowserClient
from django.urls import reverse

from labelling.models import AuditAction, AuditEvent, ClientLabelName, ImageLabel, Label
from labelling.models.images import LabelSource
from tests import factories

pytestmark = pytest.mark.django_db

EDITOR = reverse("taxonomy", args=["universities"])


def url(operation: str) -> str:
    return reverse("taxonomy-change", args=["universities", operation])


def as_user(user) -> BrowserClient:
    browser = BrowserClient()
    browser.force_login(user)
    return browser


@pytest.fixture
def maintainer(world):
    user = factories.UserFactory(username="mona")
    world.sector.maintainers.add(user)
    return user


def version(world) -> int:
    world.taxonomy.refresh_from_db()
    return world.taxonomy.version


def test_a_maintainer_sees_the_tree_and_every_operation(world, maintainer):
    factories.LabelFactory(
        taxonomy=world.taxonomy, key="lecture", name="Lecture", parent=world.labels.building
    )
    response = as_user(maintainer).get(EDITOR)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Building › Lecture" in html and 'id="label-search"' in html
    for operation in ("add", "edit", "merge", "split", "retire"):
        assert url(operation) in html
    assert reverse("taxonomy-export", args=["universities", "csv"]) in html


def test_a_client_admin_sees_names_but_no_label_operations(world):
    ClientLabelName.objects.create(client=world.client_a, label=world.labels.smiling, name="Happy")
    html = as_user(world.owner).get(EDITOR).content.decode()
    assert "“Happy”" in html and reverse("taxonomy-name", args=["universities"]) in html
    assert url("merge") not in html and url("add") not in html


def test_the_client_address_leads_to_the_sector_editor_with_its_names(world):
    response = as_user(world.owner).get(reverse("client-taxonomy", args=["alpha"]))
    assert response.status_code == 302 and response.url == f"{EDITOR}?client=alpha"
    nav = as_user(world.owner).get(reverse("home")).content.decode()
    assert reverse("client-taxonomy", args=["alpha"]) in nav


def test_other_roles_get_403_and_strangers_404(world):
    assert as_user(world.librarian).get(EDITOR).status_code == 403
    stranger = factories.UserFactory(username="sam")
    assert as_user(stranger).get(EDITOR).status_code == 404
    assert as_user(world.owner).get(reverse("taxonomy", args=["nowhere"])).status_code == 404


@pytest.mark.parametrize("operation", ["add", "edit", "merge", "split", "retire"])
def test_a_client_admin_cannot_change_the_sector_taxonomy(world, operation):
    before = version(world)
    data = {
        "label": world.labels.smiling.pk,
        "key": "x",
        "name": "X",
        "into": world.labels.building.pk,
    }
    response = as_user(world.owner).post(url(operation), data)
    assert response.status_code == 403
    assert version(world) == before and not AuditEvent.objects.exists()
    assert Label.objects.filter(is_active=True).count() == 3


def test_a_maintainer_adds_renames_moves_merges_splits_and_retires(world, maintainer):
    browser = as_user(maintainer)
    start = version(world)
    response = browser.post(url("add"), {"key": "lecture", "name": "Lecture", "parent": ""})
    assert response.status_code == 302
    lecture = Label.objects.get(key="lecture")
    edit = {
        "label": lecture.pk,
        "key": "lecture",
        "name": "Lecture hall",
        "parent": world.labels.building.pk,
        "description": "Where classes happen",
    }
    assert browser.post(url("edit"), edit).status_code == 302
    lecture.refresh_from_db()
    assert lecture.name == "Lecture hall" and lecture.parent == world.labels.building
    assert lecture.description == "Where classes happen"
    image = factories.ImageFactory(client=world.client_a, status="verified")
    ImageLabel.objects.create(image=image, label=world.labels.not_smiling, source=LabelSource.HUMAN)
    merge = {"label": world.labels.not_smiling.pk, "into": world.labels.smiling.pk}
    assert browser.post(url("merge"), merge).status_code == 302
    assert list(ImageLabel.objects.values_list("label__key", flat=True)) == ["smiling"]
    split = {"label": lecture.pk, "into": "small-hall, Small hall\nbig-hall, Big hall"}
    assert browser.post(url("split"), split).status_code == 302
    assert browser.post(url("retire"), {"label": world.labels.building.pk}).status_code == 400
    assert (
        browser.post(url("retire"), {"label": Label.objects.get(key="big-hall").pk}).status_code
        == 302
    )
    assert set(Label.objects.active().values_list("key", flat=True)) == {
        "smiling",
        "building",
        "small-hall",
    }
    # add, edit (one change of several fields), merge, split, retire: one version each
    assert version(world) == start + 5
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        AuditAction.LABEL_ADDED,
        AuditAction.LABEL_MOVED,
        AuditAction.LABEL_MERGED,
        AuditAction.LABEL_SPLIT,
        AuditAction.LABEL_RETIRED,
    ]
    assert set(AuditEvent.objects.values_list("actor__username", flat=True)) == {"mona"}


def test_site_staff_may_edit_as_maintainers_do(world):
    staff = factories.UserFactory(username="stella", is_staff=True)
    response = as_user(staff).post(url("add"), {"key": "lawn", "name": "Lawn"})
    assert response.status_code == 302 and Label.objects.filter(key="lawn").exists()


@pytest.mark.parametrize(
    "operation, data, message",
    [
        ("merge", {"label": 999999, "into": "{smiling}"}, "There is no label 999999"),
        ("merge", {"label": "{smiling}", "into": "{smiling}"}, "cannot be merged into itself"),
        (
            "edit",
            {"label": "{building}", "key": "building", "name": "B", "parent": "{lecture}"},
            "its own ancestor",
        ),
        ("edit", {"label": "{smiling}", "key": "not_smiling", "name": "S"}, "already used"),
        ("split", {"label": "{smiling}", "into": "only-one, One"}, "at least two"),
        ("split", {"label": "{smiling}", "into": "no comma here"}, "write “key, name”"),
        ("add", {"key": "bad key", "name": "Bad"}, "Key:"),
        ("retire", {"label": "{other_sector}"}, "There is no label"),
    ],
)
def test_bad_input_is_a_400_that_changes_nothing(world, maintainer, operation, data, message):
    lecture = factories.LabelFactory(
        taxonomy=world.taxonomy, key="lecture", name="Lecture", parent=world.labels.building
    )
    other_sector = factories.LabelFactory(key="shoe")
    ids = {
        "smiling": world.labels.smiling.pk,
        "building": world.labels.building.pk,
        "lecture": lecture.pk,
        "other_sector": other_sector.pk,
    }
    data = {k: str(v).format(**ids) for k, v in data.items()}
    before = version(world)
    snapshot = list(Label.objects.order_by("id").values())
    response = as_user(maintainer).post(url(operation), data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert list(Label.objects.order_by("id").values()) == snapshot
    assert version(world) == before and not AuditEvent.objects.exists()


def test_an_unknown_operation_is_a_404(world, maintainer):
    assert as_user(maintainer).post(url("explode"), {}).status_code == 404


# --- Client names -----------------------------------------------------------------------------


def names_url() -> str:
    return reverse("taxonomy-name", args=["universities"])


def test_a_client_admin_sets_their_own_name(world):
    data = {"client": "alpha", "label": world.labels.smiling.pk, "name": "Happy students"}
    before = version(world)
    response = as_user(world.owner).post(names_url(), data)
    assert response.status_code == 302
    assert ClientLabelName.objects.get(client=world.client_a).name == "Happy students"
    assert version(world) == before  # names are the client's, not the taxonomy's
    event = AuditEvent.objects.get()
    assert event.action == AuditAction.CLIENT_LABEL_NAME_SET and event.client == world.client_a


def test_a_client_admin_cannot_set_another_clients_names(world):
    data = {"client": "beta", "label": world.labels.smiling.pk, "name": "Ours now"}
    response = as_user(world.owner).post(names_url(), data)
    assert response.status_code == 403
    assert not ClientLabelName.objects.exists() and not AuditEvent.objects.exists()


def test_a_maintainer_who_is_no_clients_admin_sets_no_names(world, maintainer):
    data = {"client": "alpha", "label": world.labels.smiling.pk, "name": "Mine"}
    assert as_user(maintainer).post(names_url(), data).status_code == 403
    assert not ClientLabelName.objects.exists()


def test_a_name_for_an_unknown_label_is_a_400(world):
    data = {"client": "alpha", "label": 999999, "name": "Nope"}
    response = as_user(world.owner).post(names_url(), data)
    assert response.status_code == 400 and "There is no label 999999" in response.content.decode()


# --- Import and export ------------------------------------------------------------------------


def test_export_and_import_through_the_page(world, maintainer):
    browser = as_user(maintainer)
    response = browser.get(reverse("taxonomy-export", args=["universities", "json"]))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    body = json.loads(response.content)
    assert {row["key"] for row in body["labels"]} == {"smiling", "not_smiling", "building"}
    body["labels"].append({"key": "lawn", "name": "Lawn", "parent": "", "active": True})
    upload = SimpleUploadedFile("t.json", json.dumps(body).encode(), "application/json")
    response = browser.post(reverse("taxonomy-import", args=["universities"]), {"file": upload})
    assert response.status_code == 302 and Label.objects.filter(key="lawn").exists()
    assert AuditEvent.objects.get().action == AuditAction.TAXONOMY_IMPORTED


def test_a_malformed_import_is_a_400_with_its_problems(world, maintainer):
    before = version(world)
    upload = SimpleUploadedFile("t.csv", b"key,name,parent\nnew,New,nowhere\n", "text/csv")
    response = as_user(maintainer).post(
        reverse("taxonomy-import", args=["universities"]), {"file": upload}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was imported" in html and "“nowhere” is neither in the file" in html
    assert not Label.objects.filter(key="new").exists() and version(world) == before


def test_an_import_by_a_client_admin_is_refused(world):
    upload = SimpleUploadedFile("t.csv", b"key,name\nlawn,Lawn\n", "text/csv")
    response = as_user(world.owner).post(
        reverse("taxonomy-import", args=["universities"]), {"file": upload}
    )
    assert response.status_code == 403 and not Label.objects.filter(key="lawn").exists()


def test_an_export_in_an_unknown_format_is_a_404(world, maintainer):
    response = as_user(maintainer).get(reverse("taxonomy-export", args=["universities", "xml"]))
    assert response.status_code == 404
