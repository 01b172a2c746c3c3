"""Export of a client's tags (CSV, JSON, XMP sidecars) and their import back from CSV."""

import csv
import io
import json
import shutil
import subprocess
import zipfile

import pytest
from django.core.management import CommandError, call_command

from labelling.models import ImageLabel, Prediction
from labelling.models.images import LabelSource
from labelling.services.tag_export import tag_rows, tags_csv
from labelling.services.tag_import import TagImportError, tags_import_csv
from tests import factories
from tests.labelling.test_api_library import model_version

EXPORT = "/api/v1/clients/alpha/tags/export/"
IMPORT = "/api/v1/clients/alpha/tags/import"


@pytest.fixture
def tagged(world):
    """Alpha: one image the model tagged (v2, 97%), one a person verified with two labels
    under a parent; Beta: an image that must never show up in Alpha's export."""
    labels = world.labels
    labels.building.parent = labels.smiling  # a path: Happy students|Building
    labels.building.save()
    factories.ClientLabelNameFactory(
        client=world.client_a, label=labels.smiling, name="Happy students"
    )
    version = model_version(world.taxonomy, number=2)
    machine = factories.ImageFactory(client=world.client_a, original_name="quad.jpg")
    ImageLabel.objects.create(
        image=machine, label=labels.smiling, probability=0.97, source=LabelSource.MACHINE
    )
    Prediction.objects.create(
        image=machine,
        model_version=version,
        ranked=[{"label": labels.smiling.pk, "probability": 0.97}],
        top_label=labels.smiling,
        top_probability=0.97,
    )
    human = factories.ImageFactory(client=world.client_a, original_name="hall & co.jpg")
    for label in (labels.smiling, labels.building):
        ImageLabel.objects.create(image=human, label=label, source=LabelSource.HUMAN)
    foreign = factories.ImageFactory(client=world.client_b, original_name="beta.jpg")
    ImageLabel.objects.create(image=foreign, label=labels.not_smiling, source=LabelSource.HUMAN)
    return world, machine, human


def test_it_exports_source_probability_and_model_version(tagged):
    world, machine, human = tagged
    rows = tag_rows(client=world.client_a)
    assert [(r.image_id, r.label, r.source, r.probability, r.model_version) for r in rows] == [
        (machine.pk, "smiling", "machine", 0.97, 2),
        (human.pk, "building", "human", None, None),
        (human.pk, "smiling", "human", None, None),
    ]
    assert rows[1].label_path == "Happy students|Building"
    assert rows[2].label_name == "Happy students"


def test_the_command_writes_csv_and_json(tagged, tmp_path):
    world, machine, human = tagged
    call_command("export_tags", client="alpha", format="csv", out=str(tmp_path / "t.csv"))
    table = list(csv.DictReader((tmp_path / "t.csv").open()))
    assert {row["original_name"] for row in table} == {"quad.jpg", "hall & co.jpg"}
    assert table[0]["model_version"] == "2" and table[0]["probability"] == "0.970000"

    call_command("export_tags", client="alpha", format="json", out=str(tmp_path / "t.json"))
    document = json.loads((tmp_path / "t.json").read_text())
    assert document["client"] == "alpha"
    assert [len(image["labels"]) for image in document["images"]] == [1, 2]
    assert document["images"][1]["labels"][0]["path"] == ["Happy students", "Building"]


def test_the_command_refuses_an_unknown_client(tagged, tmp_path):
    with pytest.raises(CommandError, match="No client with slug 'nobody'"):
        call_command("export_tags", client="nobody", format="csv", out=str(tmp_path / "x"))


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
def test_exiftool_reads_the_subjects_of_the_xmp_sidecars(tagged, tmp_path):
    world, machine, human = tagged
    folder = tmp_path / "sidecars"
    call_command("export_tags", client="alpha", format="xmp", out=str(folder))
    sidecar = folder / f"{human.pk}-hall___co.xmp"
    read = subprocess.run(
        ["exiftool", "-j", "-struct", "-XMP:all", str(sidecar)],
        capture_output=True,
        text=True,
        check=True,
    )
    tags = json.loads(read.stdout)[0]
    assert sorted(tags["Subject"]) == ["Building", "Happy students"]
    assert sorted(tags["HierarchicalSubject"]) == ["Happy students", "Happy students|Building"]

    machine_read = subprocess.run(
        ["exiftool", "-j", "-struct", "-XMP:all", str(folder / f"{machine.pk}-quad.xmp")],
        capture_output=True,
        text=True,
        check=True,
    )
    machine_tags = json.loads(machine_read.stdout)[0]
    assert machine_tags["Subject"] == ["Happy students"]
    # exiftool reads the product's own namespace too (as unknown tags, with -struct)
    assert "0.970000" in machine_read.stdout and '"smiling"' in machine_read.stdout


def test_xmp_goes_into_a_zip_when_the_path_says_so(tagged, tmp_path):
    world, machine, human = tagged
    call_command("export_tags", client="alpha", format="xmp", out=str(tmp_path / "s.zip"))
    names = zipfile.ZipFile(tmp_path / "s.zip").namelist()
    assert sorted(names) == sorted([f"{machine.pk}-quad.xmp", f"{human.pk}-hall___co.xmp"])


def test_csv_round_trips_through_import(tagged):
    world, machine, human = tagged
    exported = tags_csv(tag_rows(client=world.client_a))
    before = tag_rows(client=world.client_a)
    ImageLabel.objects.filter(image__client=world.client_a).delete()

    result = tags_import_csv(client=world.client_a, text=exported)

    assert (result.created, result.unchanged) == (3, 0)
    assert tag_rows(client=world.client_a) == before
    again = tags_import_csv(client=world.client_a, text=exported)
    assert (again.created, again.unchanged) == (0, 3)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("image_id,label\n{image},backpack\n", "Line 3: unknown label “backpack”"),
        ("image_id,label\n999999,smiling\n", "Line 3: no image '999999'"),
        ("image_id,lable\n{image},smiling\n", "Unknown column “lable”"),
        ("image_id,label,probability\n{image},smiling,97\n", "not a number from 0 to 1"),
        ("image_id,label,source\n{image},smiling,robot\n", "unknown source “robot”"),
        ("", "The file is empty"),
    ],
)
def test_bad_input_is_refused_with_its_reason_and_writes_nothing(tagged, text, problem):
    world, machine, human = tagged
    # a good row first: a bad one after it must refuse it too
    good = f"{machine.pk},not_smiling\n" if text else ""
    body = text.format(image=human.pk)
    if good:
        body = body.replace("\n", "\n" + good, 1)
    with pytest.raises(TagImportError) as refused:
        tags_import_csv(client=world.client_a, text=body)
    assert problem in str(refused.value)
    assert not ImageLabel.objects.filter(image=machine, label=world.labels.not_smiling).exists()


def test_another_clients_image_is_unknown(tagged):
    world, machine, human = tagged
    foreign = world.client_b.images.get()
    with pytest.raises(TagImportError, match=f"no image '{foreign.pk}'"):
        tags_import_csv(client=world.client_a, text=f"image_id,label\n{foreign.pk},smiling\n")


def test_the_import_command_reports_what_it_added(tagged, tmp_path):
    world, machine, human = tagged
    path = tmp_path / "in.csv"
    path.write_text(f"sha256,label\n{machine.sha256},Not smiling\n")
    out = io.StringIO()
    call_command("import_tags", str(path), client="alpha", stdout=out)
    assert "Added 1 tag(s)" in out.getvalue()
    added = ImageLabel.objects.get(image=machine, label=world.labels.not_smiling)
    assert added.source == LabelSource.IMPORT


def test_the_api_exports_for_members_only(tagged, api_client_for):
    world, machine, human = tagged
    response = api_client_for(world.reviewer).get(EXPORT + "csv")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="alpha-tags.csv"'
    assert b"quad.jpg" in response.content and b"beta.jpg" not in response.content
    zipped = api_client_for(world.owner).get(EXPORT + "xmp")
    assert zipped["Content-Type"] == "application/zip"
    assert api_client_for(world.owner).get(EXPORT + "pdf").status_code == 400
    assert api_client_for(world.outsider).get(EXPORT + "csv").status_code == 404


def test_the_api_imports_for_uploaders_and_explains_refusals(tagged, api_client_for):
    world, machine, human = tagged

    def upload(user, text):
        file = io.BytesIO(text.encode())
        file.name = "tags.csv"
        return api_client_for(user).post(IMPORT, {"file": file}, format="multipart")

    good = f"image_id,label\n{machine.pk},building\n"
    assert upload(world.reviewer, good).status_code == 403
    assert upload(world.outsider, good).status_code == 404
    bad = upload(world.librarian, f"image_id,label\n{machine.pk},backpack\n")
    assert bad.status_code == 400
    assert "unknown label “backpack”" in bad.json()["file"][0]
    ok = upload(world.librarian, good)
    assert ok.status_code == 200 and ok.json() == {"created": 1, "unchanged": 0}


def test_the_page_downloads_and_imports(tagged, client):
    world, machine, human = tagged
    client.force_login(world.librarian)
    page = client.get("/clients/alpha/tags/")
    assert page.status_code == 200 and b"/clients/alpha/tags/xmp" in page.content
    download = client.get("/clients/alpha/tags/json")
    assert json.loads(download.content)["client"] == "alpha"
    assert client.get("/clients/alpha/tags/pdf").status_code == 404

    bad = io.BytesIO(f"image_id,label\n{machine.pk},backpack\n".encode())
    bad.name = "tags.csv"
    refused = client.post("/clients/alpha/tags/", {"file": bad})
    assert refused.status_code == 400 and "unknown label “backpack”" in refused.content.decode()
    good = io.BytesIO(f"image_id,label\n{machine.pk},building\n".encode())
    good.name = "tags.csv"
    done = client.post("/clients/alpha/tags/", {"file": good})
    assert done.status_code == 200 and b"Added 1 tag" in done.content


def test_the_page_is_a_404_for_outsiders_and_read_only_for_reviewers(tagged, client):
    world, machine, human = tagged
    client.force_login(world.outsider)
    assert client.get("/clients/alpha/tags/").status_code == 404
    assert client.get("/clients/alpha/tags/csv").status_code == 404
    client.force_login(world.reviewer)
    assert b"Import from CSV" not in client.get("/clients/alpha/tags/").content
    file = io.BytesIO(f"image_id,label\n{machine.pk},building\n".encode())
    file.name = "tags.csv"
    assert client.post("/clients/alpha/tags/", {"file": file}).status_code == 403
