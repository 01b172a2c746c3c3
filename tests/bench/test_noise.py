"""The noise benchmark's command line, on a tiny class-folder tree built here, with the tiny
backbone at random weights: the figures mean little, the interface and the JSON keys are
what is under test (others script against them)."""

import json

import pytest

from bench.noise import main
from tests.bench.test_protocol import _make_tree

pytestmark = [pytest.mark.ml, pytest.mark.usefixtures("tiny_backbone")]

FAST = ["--from-scratch", "--input-size", "32", "--max-epochs", "3"]


def test_it_flips_the_asked_share_and_reports_every_signal(tmp_path, capsys):
    root = _make_tree(tmp_path / "train", per_class=20)
    out = tmp_path / "noise.json"
    argv = ["--train", root, "--size", 40, "--noise", 0.1, "--seed", 1, "--json", out, *FAST]
    assert main([str(a) for a in argv]) == 0
    printed = capsys.readouterr().out
    result = json.loads(out.read_text())
    assert result["n"] == 40 and result["flipped"] == 4
    assert result["classes"] == ["blue", "green", "red"]
    assert set(result["signals"]) == {
        "self_confidence",
        "neighbours",
        "confident_learning",
        "spread",
        "combined",
    }
    for signal in result["signals"].values():
        assert signal["k"] == 4 and 0 <= signal["precision"] <= 1
        assert signal["precision"] == signal["recall"]  # k is the number flipped
    accuracy = result["accuracy"]
    for key in ("noisy", "excluding_top_k", "clean"):
        assert 0 <= accuracy[key] <= 1
    assert "combined" in printed and "(b) without the top-k suspects" in printed


def test_merges_and_classes_are_applied_as_in_the_protocol(tmp_path, capsys):
    root = _make_tree(tmp_path / "train", per_class=12)
    out = tmp_path / "noise.json"
    argv = ["--train", root, "--merge", "warm=red,green", "--classes", "warm,blue"]
    argv += ["--size", 30, "--json", out, *FAST]
    assert main([str(a) for a in argv]) == 0
    assert json.loads(out.read_text())["classes"] == ["warm", "blue"]


def test_bad_input_gets_a_clear_error(tmp_path, capsys):
    root = _make_tree(tmp_path / "train", per_class=5)
    assert main(["--train", str(root), "--noise", "1.5", *FAST]) == 2
    assert "--noise must be between 0 and 1" in capsys.readouterr().err
    assert main(["--train", str(root), "--classes", "purple", "--size", "10", *FAST]) == 2
    assert "purple" in capsys.readouterr().err
