"""Importing a hand-labelled library (one folder per label): the service and the command."""

import hashlib
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from PIL import Image as PILImage

from labelling.models import Image, ImageLabel, ImageStatus, Label
from labelling.services.library_import import (
    LibraryImportError,
    library_import,
    normalise,
)
from tests import factories
from tests.factories import make_image_bytes

RED, GREEN, BLUE, GREY = (200, 40, 40), (40, 200, 40), (40, 40, 200), (120, 120, 120)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def library(tmp_path):
    """library({"smiling": {"a.jpg": b"..."}, "empty": {}}) → the root of that tree."""

    def build(tree: dict) -> Path:
        root = tmp_path / "library"
        root.mkdir()
        _write(root, tree)
        return root

    return build


def _write(folder: Path, tree: dict) -> None:
    for name, content in tree.items():
        if isinstance(content, dict):
            (folder / name).mkdir()
            _write(folder / name, content)
        else:
            (folder / name).write_bytes(content)


def stored_files(settings) -> list[Path]:
    media = Path(settings.MEDIA_ROOT)
    return sorted(p for p in media.rglob("*") if p.is_file()) if media.exists() else []


def run_command(*args) -> str:
    out = StringIO()
    call_command("import_folder", *map(str, args), stdout=out)
    return out.getvalue()


class TestAGoodTree:
    def test_it_imports_every_image_as_verified_with_its_folders_label(self, world, library):
        red, green, blue = make_image_bytes(color=RED), make_image_bytes(color=GREEN), b""
        blue = make_image_bytes(size=(64, 48), color=BLUE, fmt="PNG")
        root = library(
            {
                "smiling": {"IMG_0001.jpg": red, "2019": {"IMG_0002.jpg": green}},
                "Not_Smiling": {"portrait.png": blue},
            }
        )

        report = library_import(client=world.client_a, root=root)

        assert report.imported == {"smiling": 2, "not_smiling": 1}
        assert report.folders == {"Not_Smiling": "not_smiling", "smiling": "smiling"}
        assert report.skipped == [] and report.unknown_labels == {}
        images = Image.objects.for_client(world.client_a)
        assert images.count() == 3
        assert set(images.values_list("status", flat=True)) == {ImageStatus.VERIFIED}
        labels = dict(
            ImageLabel.objects.filter(source="import").values_list(
                "image__original_name", "label__key"
            )
        )
        assert labels == {
            "IMG_0001.jpg": "smiling",
            "IMG_0002.jpg": "smiling",
            "portrait.png": "not_smiling",
        }
        assert all(p is None for p in ImageLabel.objects.values_list("probability", flat=True))

    def test_it_stores_the_file_under_a_server_made_name_with_its_facts(self, world, library):
        data = make_image_bytes(size=(64, 48), color=BLUE, fmt="PNG")
        root = library({"smiling": {"Photo of Ann & Bob.png": data}})

        report = library_import(client=world.client_a, root=root)

        image = Image.objects.get()
        assert image.original_name == "Photo of Ann & Bob.png"
        assert image.file.name.startswith(f"clients/{world.client_a.pk}/originals/")
        assert image.file.name.endswith(".png")
        assert "Ann" not in image.file.name
        assert default_storage.open(image.file.name).read() == data
        assert image.sha256 == hashlib.sha256(data).hexdigest()
        assert (image.width, image.height, image.format) == (64, 48, "PNG")
        assert image.size_bytes == len(data)
        assert image.thumbnail.name and default_storage.exists(image.thumbnail.name)
        assert image.batch == report.batch and report.batch.client == world.client_a

    def test_width_and_height_are_as_a_person_sees_them(self, world, library):
        exif = PILImage.Exif()
        exif[0x0112] = 6  # rotate 90°: the 96 × 80 pixels show as 80 × 96
        root = library({"smiling": {"turned.jpg": make_image_bytes(exif=exif.tobytes())}})

        library_import(client=world.client_a, root=root)

        image = Image.objects.get()
        assert (image.width, image.height) == (80, 96)

    def test_running_it_again_imports_nothing_twice(self, world, library):
        root = library({"smiling": {"a.jpg": make_image_bytes(color=RED)}})
        library_import(client=world.client_a, root=root)

        again = library_import(client=world.client_a, root=root)

        assert again.imported_total == 0
        assert [s.path for s in again.duplicates] == ["smiling/a.jpg"]
        assert again.batch is None
        assert Image.objects.count() == 1


class TestWhatItSkips:
    def test_an_empty_folder_is_reported(self, world, library):
        root = library({"smiling": {}, "shoes": {".DS_Store": b"\x00"}})

        report = library_import(client=world.client_a, root=root)

        assert report.empty_folders == ["shoes", "smiling"]
        assert report.unknown_labels == {}
        assert report.imported_total == 0
        assert Image.objects.count() == 0

    def test_files_that_are_not_images_are_skipped_with_their_reason(self, world, library):
        root = library(
            {
                "README.txt": b"one folder per label",
                "smiling": {
                    "a.jpg": make_image_bytes(color=RED),
                    "notes.txt": b"photographer: Ann",
                    "fake.jpg": b"<html><script>alert(1)</script></html>",
                    "anim.gif": _gif(),
                },
            }
        )

        report = library_import(client=world.client_a, root=root)

        assert report.imported_total == 1
        by_path = {s.path: s for s in report.refused}
        assert set(by_path) == {
            "README.txt",
            "smiling/notes.txt",
            "smiling/fake.jpg",
            "smiling/anim.gif",
        }
        assert by_path["README.txt"].code == "not_in_label_folder"
        assert by_path["smiling/notes.txt"].code == "unsupported_format"
        assert "JPEG" in by_path["smiling/notes.txt"].message
        assert by_path["smiling/anim.gif"].code == "unsupported_format"
        assert report.skipped_by_code()["unsupported_format"] == 3
        # The batch keeps the refusals like an upload's.
        assert {r["name"] for r in report.batch.rejections} == set(by_path)
        assert Image.objects.count() == 1

    def test_a_file_already_in_the_clients_library_is_a_duplicate(self, world, library):
        data = make_image_bytes(color=RED)
        factories.ImageFactory(client=world.client_a, sha256=hashlib.sha256(data).hexdigest())
        root = library({"smiling": {"again.jpg": data}, "building": {"twin.jpg": data}})

        report = library_import(client=world.client_a, root=root)

        assert report.imported_total == 0
        assert {s.path for s in report.duplicates} == {"smiling/again.jpg", "building/twin.jpg"}
        assert "Already in the library as image" in report.duplicates[0].message
        assert Image.objects.for_client(world.client_a).count() == 1

    def test_the_same_file_twice_in_the_tree_is_imported_once(self, world, library):
        data = make_image_bytes(color=GREEN)
        root = library({"smiling": {"a.jpg": data, "copy of a.jpg": data}})

        report = library_import(client=world.client_a, root=root)

        assert report.imported_total == 1
        assert [s.path for s in report.duplicates] == ["smiling/copy of a.jpg"]
        assert "smiling/a.jpg" in report.duplicates[0].message

    def test_another_clients_copy_is_not_a_duplicate(self, world, library):
        data = make_image_bytes(color=RED)
        factories.ImageFactory(client=world.client_b, sha256=hashlib.sha256(data).hexdigest())
        root = library({"smiling": {"a.jpg": data}})

        report = library_import(client=world.client_a, root=root)

        assert report.imported_total == 1 and report.duplicates == []


class TestLabels:
    def test_folders_match_keys_and_names_in_any_case_and_spelling(self, world):
        assert normalise("Not_Smiling") == normalise("not-smiling") == normalise(" not  smiling")

    def test_an_unknown_label_is_reported_with_its_file_count_and_not_created(self, world, library):
        root = library(
            {
                "smiling": {"a.jpg": make_image_bytes(color=RED)},
                "backpack": {
                    "b.jpg": make_image_bytes(color=GREEN),
                    "c.jpg": make_image_bytes(color=BLUE),
                },
            }
        )

        report = library_import(client=world.client_a, root=root)

        assert report.unknown_labels == {"backpack": 2}
        assert report.imported == {"smiling": 1}
        assert not Label.objects.filter(key="backpack").exists()
        world.taxonomy.refresh_from_db()
        assert world.taxonomy.version == 1
        assert Image.objects.count() == 1

    def test_create_labels_creates_them_and_bumps_the_taxonomy_version(self, world, library):
        root = library(
            {
                "Back Pack": {"b.jpg": make_image_bytes(color=GREEN)},
                "back_pack": {"c.jpg": make_image_bytes(color=BLUE)},
            }
        )

        report = library_import(client=world.client_a, root=root, create_labels=True)

        label = Label.objects.get(taxonomy=world.taxonomy, key="back_pack")
        assert label.name == "Back Pack"
        assert report.created_labels == {"Back Pack": "back_pack"}  # "back_pack" then matches
        assert report.folders == {"Back Pack": "back_pack", "back_pack": "back_pack"}
        assert report.imported == {"back_pack": 2}
        world.taxonomy.refresh_from_db()
        assert world.taxonomy.version == 2
        assert ImageLabel.objects.filter(label=label, source="import").count() == 2

    def test_a_folder_with_nothing_to_import_creates_no_label(self, world, library):
        root = library({"documents": {"minutes.pdf": b"%PDF-1.4", "notes.txt": b"hi"}})

        report = library_import(client=world.client_a, root=root, create_labels=True)

        assert not Label.objects.filter(key="documents").exists()
        assert report.created_labels == {} and report.folders == {}
        assert len(report.refused) == 2
        assert "No label was created for “documents”" in report.notes[0]
        world.taxonomy.refresh_from_db()
        assert world.taxonomy.version == 1

    def test_a_plural_of_a_label_is_pointed_out_not_created_beside_it(self, world, library):
        root = library({"Buildings": {"a.jpg": make_image_bytes(color=RED)}})

        report = library_import(client=world.client_a, root=root, create_labels=True)

        assert report.unknown_labels == {"Buildings": 1}
        assert report.created_labels == {}
        assert "looks like the label building" in report.notes[0]
        assert not Label.objects.filter(key="buildings").exists()

    def test_the_clients_own_label_name_matches(self, world, library):
        factories.ClientLabelNameFactory(
            client=world.client_a, label=world.labels.smiling, name="Happy students"
        )
        factories.ClientLabelNameFactory(
            client=world.client_b, label=world.labels.building, name="Our campus"
        )
        root = library(
            {
                "happy students": {"a.jpg": make_image_bytes(color=RED)},
                "Our campus": {"b.jpg": make_image_bytes(color=GREEN)},  # client B's word
            }
        )

        report = library_import(client=world.client_a, root=root)

        assert report.folders == {"happy students": "smiling"}
        assert report.unknown_labels == {"Our campus": 1}
        assert ImageLabel.objects.get().label == world.labels.smiling

    def test_a_retired_labels_folder_is_not_imported(self, world, library):
        Label.objects.filter(pk=world.labels.building.pk).update(is_active=False)
        root = library({"building": {"a.jpg": make_image_bytes(color=RED)}})

        report = library_import(client=world.client_a, root=root, create_labels=True)

        assert report.retired_labels == {"building": 1}
        assert report.imported_total == 0 and report.created_labels == {}


class TestDryRun:
    def test_it_stores_and_creates_nothing_but_says_what_it_would_do(
        self, world, library, settings
    ):
        root = library(
            {
                "smiling": {"a.jpg": make_image_bytes(color=RED), "notes.txt": b"hi"},
                "backpack": {"b.jpg": make_image_bytes(color=GREEN)},
                "Backpack ": {"c.jpg": make_image_bytes(color=BLUE)},
            }
        )
        labels_before = Label.objects.count()

        report = library_import(client=world.client_a, root=root, create_labels=True, dry_run=True)

        assert report.imported == {"smiling": 1, "backpack": 2}
        assert report.created_labels == {"Backpack ": "backpack"}
        assert [s.path for s in report.refused] == ["smiling/notes.txt"]
        assert report.batch is None
        assert Image.objects.count() == 0
        assert Label.objects.count() == labels_before
        assert stored_files(settings) == []
        world.taxonomy.refresh_from_db()
        assert world.taxonomy.version == 1


class TestCommand:
    def test_it_imports_and_prints_a_report(self, world, library):
        root = library(
            {
                "smiling": {"a.jpg": make_image_bytes(color=RED), "notes.txt": b"hi"},
                "backpack": {"b.jpg": make_image_bytes(color=GREEN)},
                "empty": {},
            }
        )

        output = run_command(root, "--client", "alpha")

        assert "Imported 1 verified image: smiling 1" in output
        assert "smiling/notes.txt" in output
        assert "backpack: 1 file" in output
        assert "--create-labels" in output
        assert "empty/" in output
        assert Image.objects.count() == 1

    def test_create_labels_and_dry_run_options(self, world, library):
        root = library({"backpack": {"b.jpg": make_image_bytes(color=GREEN)}})

        output = run_command(root, "--client", "alpha", "--create-labels", "--dry-run")

        assert "Dry run" in output
        assert "Would import 1 verified image: backpack 1" in output
        assert "Would create label(s) in Campus life: backpack" in output
        assert Image.objects.count() == 0

        output = run_command(root, "--client", "alpha", "--create-labels")

        assert "Created label(s) in Campus life: backpack" in output
        assert Image.objects.count() == 1

    def test_the_taxonomy_can_be_named(self, world, library):
        other = factories.TaxonomyFactory(sector=world.sector, name="Events")
        factories.LabelFactory(taxonomy=other, key="concert", name="Concert")
        root = library({"concert": {"a.jpg": make_image_bytes(color=RED)}})

        output = run_command(root, "--client", "alpha", "--taxonomy", "events")

        assert "Imported 1 verified image: concert 1" in output

    def test_an_unknown_client_is_an_error(self, world, library):
        root = library({"smiling": {"a.jpg": make_image_bytes()}})

        with pytest.raises(CommandError, match="No client with slug 'nope'.*alpha"):
            run_command(root, "--client", "nope")

    def test_a_missing_folder_is_an_error(self, world, tmp_path):
        with pytest.raises(CommandError, match="does not exist"):
            run_command(tmp_path / "nowhere", "--client", "alpha")

    def test_a_file_instead_of_a_folder_is_an_error(self, world, tmp_path):
        path = tmp_path / "photo.jpg"
        path.write_bytes(make_image_bytes())

        with pytest.raises(CommandError, match="is not a folder"):
            run_command(path, "--client", "alpha")

    def test_an_unknown_taxonomy_is_an_error(self, world, library):
        root = library({})

        with pytest.raises(CommandError, match="no taxonomy “Nope”.*Campus life"):
            run_command(root, "--client", "alpha", "--taxonomy", "Nope")

    def test_it_exits_non_zero_from_the_shell(self, world, tmp_path, capsys):
        # run_from_argv is what manage.py runs; ManagementUtility would set Django up again
        # and point logging at a stream pytest closes afterwards.
        from labelling.management.commands.import_folder import Command

        with pytest.raises(SystemExit) as exited:
            Command().run_from_argv(
                ["manage.py", "import_folder", str(tmp_path / "nowhere"), "--client", "alpha"]
            )

        assert exited.value.code == 1
        assert "does not exist" in capsys.readouterr().err


class TestAMultiLabelTaxonomy:
    @pytest.fixture(autouse=True)
    def _multi_label(self, world):
        from labelling.models.sectors import TaxonomyKind

        world.taxonomy.kind = TaxonomyKind.MULTI_LABEL
        world.taxonomy.save()

    def _labels(self, image) -> set[str]:
        return set(ImageLabel.objects.filter(image=image).values_list("label__key", flat=True))

    def test_a_photo_in_two_label_folders_is_one_image_with_both_labels(self, world, library):
        both, one = make_image_bytes(color=RED), make_image_bytes(color=BLUE)
        root = library(
            {"smiling": {"a.jpg": both, "b.jpg": one}, "building": {"same as a.jpg": both}}
        )

        report = library_import(client=world.client_a, root=root)

        assert report.imported_total == 2 and report.duplicates == []
        assert sum(report.added_labels.values()) == 1
        images = Image.objects.for_client(world.client_a)
        assert images.count() == 2
        both_image = images.get(sha256=hashlib.sha256(both).hexdigest())
        assert self._labels(both_image) == {"smiling", "building"}
        assert set(
            ImageLabel.objects.filter(image=both_image).values_list("source", flat=True)
        ) == {"import"}
        assert self._labels(images.get(sha256=hashlib.sha256(one).hexdigest())) == {"smiling"}

    def test_a_dry_run_says_so_and_stores_nothing(self, world, library):
        data = make_image_bytes(color=RED)
        root = library({"smiling": {"a.jpg": data}, "building": {"a.jpg": data}})

        report = library_import(client=world.client_a, root=root, dry_run=True)

        assert report.imported_total == 1 and sum(report.added_labels.values()) == 1
        assert not Image.objects.exists() and not ImageLabel.objects.exists()

    def test_a_verified_image_in_the_library_gains_the_label_and_a_rerun_adds_nothing(
        self, world, library
    ):
        data = make_image_bytes(color=GREEN)
        first = library_import(client=world.client_a, root=library({"smiling": {"a.jpg": data}}))
        assert first.imported_total == 1
        image = Image.objects.get()
        # A second library where the same photo is filed under another label.
        other = Path(str(first.root) + "-more")
        _write(other.parent, {other.name: {"building": {"a.jpg": data}}})

        report = library_import(client=world.client_a, root=other)
        assert report.imported_total == 0 and dict(report.added_labels) == {"building": 1}
        assert self._labels(image) == {"smiling", "building"}

        again = library_import(client=world.client_a, root=other)
        assert again.added_labels == {} and len(again.duplicates) == 1
        assert ImageLabel.objects.filter(image=image).count() == 2

    def test_an_image_waiting_for_review_is_not_given_labels_by_an_import(self, world, library):
        data = make_image_bytes(color=RED)
        waiting = factories.ImageFactory(
            client=world.client_a,
            sha256=hashlib.sha256(data).hexdigest(),
            status=ImageStatus.NEEDS_REVIEW,
        )
        report = library_import(client=world.client_a, root=library({"smiling": {"a.jpg": data}}))
        assert report.added_labels == {} and len(report.duplicates) == 1
        assert not ImageLabel.objects.filter(image=waiting).exists()


def test_the_service_refuses_a_missing_root(world, tmp_path):
    with pytest.raises(LibraryImportError, match="does not exist"):
        library_import(client=world.client_a, root=tmp_path / "nowhere")


def _gif() -> bytes:
    return make_image_bytes(fmt="GIF")
