"""The comparison protocol's command line, on a tiny class-folder tree built here.

The backbone is EfficientNet-Lite0 as a tiny configuration of its network (the
``tiny_backbone`` fixture) on random weights at 32 px, so nothing is downloaded or converted
and a run takes about a second; the figures mean nothing, the interface is what is under
test. The one run in a subprocess builds the whole network, at random (--from-scratch).
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.folders import allocate, draw_train_test, flip_labels, scan_roots
from bench.protocol import main

pytestmark = [pytest.mark.ml, pytest.mark.usefixtures("tiny_backbone")]

ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"red": (200, 40, 40), "green": (40, 200, 40), "blue": (40, 40, 200)}
FAST = ["--from-scratch", "--input-size", "32", "--max-epochs", "2"]


def _make_tree(root: Path, per_class: int, colours=COLOURS, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for name, colour in colours.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = np.clip(np.array(colour) + rng.normal(0, 25, (24, 24, 3)), 0, 255)
            fmt = "PNG" if i % 2 else "JPEG"
            Image.fromarray(pixels.astype(np.uint8)).save(folder / f"img{i}.{fmt.lower()}", fmt)
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    root = _make_tree(tmp_path_factory.mktemp("tree") / "train", per_class=10)
    (root / "red" / "notes.txt").write_text("not an image")
    return root


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_it_reports_the_figures_and_writes_them_as_json(tree, tmp_path, capsys):
    out = tmp_path / "result.json"
    code, stdout, _ = _run(
        capsys,
        "--train",
        tree,
        "--train-size",
        18,
        "--test-size",
        6,
        "--seed",
        3,
        "--json",
        out,
        *FAST,
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["classes"] == ["blue", "green", "red"]
    assert (result["n_train"], result["n_test"]) == (18, 6)
    assert result["n_fit"] + result["n_val"] == 18 and result["n_val"] > 0
    assert result["backbone"] == "efficientnet_lite0" and result["mode"] == "head"
    for who in ("product", "baseline"):
        top1 = result[who]["top1_accuracy"]
        assert 0 <= top1["ci95_low"] <= top1["value"] <= top1["ci95_high"] <= 1
        assert result[who]["top3_accuracy"]["k"] == 3
        assert {row["class"] for row in result[who]["per_class"]} == set(result["classes"])
        assert {"precision", "recall"} <= set(result[who]["per_class"][0])
    assert result["seconds"]["embedding"] > 0 and result["seconds"]["training"] > 0
    for text in ("top-1", "baseline (logreg)", "precision / recall", "seconds: loading"):
        assert text in stdout


def test_it_skips_files_that_are_not_images_and_counts_them(tree, capsys, tmp_path):
    out = tmp_path / "r.json"
    code, stdout, _ = _run(capsys, "--train", tree, "--train-size", 15, "--json", out, *FAST)
    assert code == 0
    assert json.loads(out.read_text())["skipped_non_images"] == 1
    assert "skipped 1 file(s) that are not images" in stdout


def test_a_test_size_larger_than_what_is_left_uses_all_of_it_and_says_so(tree, capsys, tmp_path):
    out = tmp_path / "r.json"
    code, stdout, _ = _run(
        capsys, "--train", tree, "--train-size", 15, "--test-size", 100, "--json", out, *FAST
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["n_test"] == 30 - 15
    assert "only 15 test images available; using all 15" in stdout


def test_an_empty_class_is_an_error_that_names_it(tmp_path, capsys):
    root = _make_tree(tmp_path / "train", per_class=6)
    (root / "ghost").mkdir()
    (root / "ghost" / "readme.md").write_text("no pictures here")
    code, _, stderr = _run(capsys, "--train", root, "--train-size", 15, *FAST)
    assert code == 2
    assert "'ghost'" in stderr and "no images" in stderr


def test_merge_joins_classes_and_classes_selects_among_the_result(tree, capsys, tmp_path):
    out = tmp_path / "r.json"
    code, _, _ = _run(
        capsys,
        "--train",
        tree,
        "--merge",
        "warm=red,green",
        "--classes",
        "warm,blue",
        "--train-size",
        15,
        "--test-size",
        6,
        "--json",
        out,
        *FAST,
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["classes"] == ["warm", "blue"]
    # warm has twice blue's images, so it gets twice its share of each draw.
    assert result["train_per_class"] == {"warm": 10, "blue": 5}
    assert result["test_per_class"] == {"warm": 4, "blue": 2}


def test_an_unknown_class_in_merge_or_classes_is_an_error(tree, capsys):
    code, _, stderr = _run(capsys, "--train", tree, "--merge", "warm=red,orange", *FAST)
    assert code == 2 and "'orange'" in stderr
    code, _, stderr = _run(capsys, "--train", tree, "--classes", "red,purple", *FAST)
    assert code == 2 and "'purple'" in stderr


def test_noise_flips_the_asked_fraction_of_training_labels(tree, capsys, tmp_path):
    out = tmp_path / "r.json"
    code, stdout, _ = _run(
        capsys, "--train", tree, "--train-size", 20, "--noise", 0.25, "--json", out, *FAST
    )
    assert code == 0
    noise = json.loads(out.read_text())["noise"]
    assert noise["flipped"] == 5 and noise["actual_fraction"] == pytest.approx(0.25)
    assert "5 training labels flipped" in stdout


def test_several_roots_merge_by_class_name_and_test_roots_are_used(tmp_path, capsys):
    a = _make_tree(tmp_path / "a", per_class=5, colours={"red": (200, 40, 40)})
    b = _make_tree(tmp_path / "b", per_class=5, seed=1)
    held_out = _make_tree(tmp_path / "held_out", per_class=3, seed=2)
    out = tmp_path / "r.json"
    code, _, _ = _run(
        capsys,
        "--train",
        a,
        "--train",
        b,
        "--test",
        held_out,
        "--train-size",
        20,
        "--test-size",
        9,
        "--json",
        out,
        *FAST,
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["n_test"] == 9 and result["test_per_class"] == {"blue": 3, "green": 3, "red": 3}
    # red has 10 images (5 in each root), the others 5: red gets twice their share.
    assert result["train_per_class"] == {"blue": 5, "green": 5, "red": 10}


def test_finetune_mode_runs_through_the_products_finetune(tree, capsys, tmp_path):
    out = tmp_path / "r.json"
    code, _, _ = _run(
        capsys,
        "--train",
        tree,
        "--train-size",
        15,
        "--mode",
        "finetune",
        "--no-baseline",
        "--json",
        out,
        "--from-scratch",
        "--input-size",
        "32",
        "--max-epochs",
        "1",
    )
    assert code == 0
    result = json.loads(out.read_text())
    assert result["mode"] == "finetune" and result["baseline"] is None
    assert result["product"]["epochs_run"] == 1


def test_head_mode_trains_on_the_backbones_own_embedding_unless_told(tree, capsys, tmp_path):
    out = tmp_path / "r.json"
    code, _, _ = _run(capsys, "--train", tree, "--train-size", 15, "--json", out, *FAST)
    assert code == 0
    assert json.loads(out.read_text())["embedding"] == "pooled+grid"

    code, _, _ = _run(
        capsys,
        "--train",
        tree,
        "--train-size",
        15,
        "--embedding",
        "pooled",
        "--json",
        out,
        *FAST,
    )
    assert code == 0
    assert json.loads(out.read_text())["embedding"] == "pooled"


def _product_settings(tmp_path, monkeypatch):
    """A fresh evaluation of the product's settings module under the current environment."""
    import importlib.util

    monkeypatch.setenv("TAXONOMY_DATA_DIR", str(tmp_path / "data"))
    spec = importlib.util.spec_from_file_location(
        "settings_under_test", ROOT / "taxonomy_site" / "settings.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("environ", [{}, {"TAXONOMY_DEFAULT_BACKBONE": "efficientnet_lite2",
                                          "TAXONOMY_BACKBONE_INPUT_SIZE": "96"}])  # fmt: skip
def test_without_backbone_or_mode_it_runs_what_a_new_install_trains(environ, tmp_path, monkeypatch):
    import inspect

    from bench.protocol import apply_product_defaults, build_parser
    from training.services.training import MAX_EPOCHS, training_request

    for name in ("TAXONOMY_DEFAULT_BACKBONE", "TAXONOMY_BACKBONE_INPUT_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    product = _product_settings(tmp_path, monkeypatch)
    args = build_parser().parse_args(["--train", str(tmp_path)])
    apply_product_defaults(args)
    assert args.backbone == product.DEFAULT_BACKBONE
    assert args.mode == inspect.signature(training_request).parameters["mode"].default
    assert args.max_epochs == MAX_EPOCHS[args.mode]
    assert (args.input_size or 0) == product.BACKBONE_INPUT_SIZE
    if environ:
        assert (args.backbone, args.input_size) == ("efficientnet_lite2", 96)


def test_options_given_on_the_command_line_win_over_the_products_defaults(tmp_path):
    from bench.protocol import apply_product_defaults, build_parser

    args = build_parser().parse_args(
        ["--train", str(tmp_path), "--backbone", "inception_v3", "--mode", "finetune",
         "--max-epochs", "3", "--input-size", "80"]
    )  # fmt: skip
    apply_product_defaults(args)
    assert (args.backbone, args.mode, args.max_epochs, args.input_size) == (
        "inception_v3", "finetune", 3, 80,
    )  # fmt: skip


def test_an_embedding_cache_embeds_each_image_once_and_changes_no_figure(tree, tmp_path, capsys):
    from bench.embedding_cache import EmbeddingCache

    common = ["--train", tree, "--train-size", 15, "--input-size", 32, "--max-epochs", 2]
    runs = []
    for name in ("plain", "first", "second"):
        out = tmp_path / f"{name}.json"
        cache = [] if name == "plain" else ["--embedding-cache", tmp_path / "cache"]
        code, _, err = _run(capsys, *common, *cache, "--json", out)
        assert code == 0, err
        runs.append(json.loads(out.read_text()))
    assert "from" in err and "ms/image when embedded" in err  # the second run read them
    stored = EmbeddingCache(
        "efficientnet_lite0", "pooled+grid", "orig", 32, root=tmp_path / "cache"
    )
    assert stored.embedded == runs[0]["n_train"] + runs[0]["n_test"]  # once each
    for run in runs[1:]:
        for key in ("top1_accuracy", "log_loss"):
            assert run["product"][key] == pytest.approx(runs[0]["product"][key], abs=1e-4)


def test_an_embedding_choice_in_finetune_mode_is_an_error(tree, capsys):
    code, _, err = _run(
        capsys, "--train", tree, "--mode", "finetune", "--embedding", "pooled+grid", *FAST
    )
    assert code != 0
    assert "applies to --mode head only" in err


def test_it_runs_as_a_module_from_the_command_line(tree, tmp_path):
    out = tmp_path / "r.json"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.protocol",
            "--train",
            str(tree),
            "--train-size",
            "15",
            "--test-size",
            "6",
            "--json",
            str(out),
            *FAST,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(out.read_text())["n_test"] == 6
    assert "product (head)" in done.stdout


# --- the draw itself ----------------------------------------------------------------------


def test_allocate_is_proportional_and_gives_every_class_one():
    assert allocate([3000, 1000], 1000) == [750, 250]
    assert allocate([1000, 10], 100) == [99, 1]
    assert allocate([5, 5], 100) == [5, 5]
    assert sum(allocate([7, 3, 1], 5)) == 5


def test_the_draws_are_disjoint_seeded_and_the_train_draw_ignores_test_size(tree):
    scanned = scan_roots([tree])
    classes = scanned.classes
    train, test = draw_train_test(
        scanned, None, classes=classes, train_size=12, test_size=9, seed=5
    )
    assert not set(train.paths) & set(test.paths)
    again, _ = draw_train_test(scanned, None, classes=classes, train_size=12, test_size=3, seed=5)
    assert again.paths == train.paths
    other, _ = draw_train_test(scanned, None, classes=classes, train_size=12, test_size=9, seed=6)
    assert other.paths != train.paths


def test_flipped_labels_always_change_class():
    labels = np.repeat(np.arange(4), 50)
    noisy, flipped = flip_labels(labels, 0.2, n_classes=4, seed=0)
    assert len(flipped) == 40
    assert (noisy[flipped] != labels[flipped]).all()
    unflipped = np.setdiff1d(np.arange(len(labels)), flipped)
    assert (noisy[unflipped] == labels[unflipped]).all()
