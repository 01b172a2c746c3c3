"""The loop benchmark's command line and its run on a tiny synthetic tree, with the tiny
backbone: the product's own services settle every image."""

import json

import numpy as np
import pytest

from bench import loop
from bench.photos import encoded, photo_like


def tree(root, *, per_class=14):
    rng = np.random.default_rng(0)
    for name, warm in [("warm", True), ("cool", False)]:
        folder = root / name
        folder.mkdir(parents=True)
        for i in range(per_class):
            base = np.array([200, 60, 40] if warm else [40, 80, 200], dtype=np.float64)
            pixels = base + rng.normal(0, 35, size=(72, 72, 3))
            from PIL import Image

            image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
            (folder / f"{name}-{i}.jpg").write_bytes(encoded(image))
    return root


def test_it_refuses_a_pool_of_one_class(tmp_path, capsys):
    (tmp_path / "only").mkdir()
    image = photo_like(np.random.default_rng(0), (32, 32))
    (tmp_path / "only" / "a.jpg").write_bytes(encoded(image))
    assert loop.main(["--pool", str(tmp_path)]) == 2
    assert "at least two class folders" in capsys.readouterr().err


def test_it_refuses_bad_options(tmp_path):
    with pytest.raises(SystemExit):
        loop.parse_args(["--pool", str(tmp_path), "--target-precision", "1.5"])
    with pytest.raises(SystemExit):
        loop.parse_args(["--pool", str(tmp_path), "--size", "0"])


def test_defaults_are_the_products():
    args = loop.parse_args(["--pool", "x"])
    assert (args.size, args.seed, args.target_precision, args.merge) == (2000, 0, None, [])


def test_the_cost_model_is_fixed():
    reviewer = loop.Reviewer()
    assert reviewer.cost([3, 1, 2], 3) == 1.5
    assert reviewer.cost([3, 1, 2], 2) == 2.5
    assert reviewer.cost(list(range(20)), 12) == 6.0
    assert reviewer.cost([], 1) == 6.0
    assert reviewer.grid_cost([3, 1, 2], 3, page_label=3) == 0.4
    # A deselected tile is fixed with the page's class offered last: the next guess is first.
    assert reviewer.grid_cost([3, 1, 2], 1, page_label=3) == 0.4 + 1.5
    assert reviewer.grid_cost([3, 1, 2], 2, page_label=3) == 0.4 + 2.5
    assert reviewer.grid_cost(list(range(20)), 12, page_label=0) == 0.4 + 6.0
    # Nothing suggested: a small taxonomy's labels have keys on the page, a large one's not.
    keyed = loop.Reviewer(keyed_taxonomy=True)
    assert keyed.cost([], 1) == 2.5
    assert keyed.cluster_cost([1, 1, 2], 1) == pytest.approx(2.5 + 3 * 0.4 + 2.5)
    assert loop.Reviewer().cluster_cost([1, 1, 2], 1) == pytest.approx(6.0 + 3 * 0.4 + 6.0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tiny_backbone", "quick_heads")
def test_the_loop_settles_every_image_through_the_products_services(tmp_path, settings):
    settings.FIRST_MODEL_MIN_PER_LABEL = 5
    settings.RETRAIN_AFTER_VERIFIED = 6
    args = loop.parse_args(["--pool", str(tree(tmp_path / "pool")), "--size", "24", "--seed", "3"])
    pool = loop.draw_pool(args)
    assert pool.classes == ["cool", "warm"] and len(pool.paths) == 24
    figures = loop.run_loop(pool, seed=3)
    assert figures["images"] == 24
    assert figures["baseline_seconds"] == 24 * 2.5
    assert figures["ratio"] == round(figures["loop_seconds"] / figures["baseline_seconds"], 4)
    assert figures["model_versions"] >= 1  # the first model trained by itself
    actions = figures["reviewer_actions"]
    reviewed = sum(actions.values())
    auto = round(figures["auto_tagged_share"] * 24)
    assert reviewed + auto == 24
    assert figures["curve"][-1]["settled"] == 24
    seconds = [p["seconds"] for p in figures["curve"]]
    assert seconds == sorted(seconds) and seconds[-1] == figures["loop_seconds"]
    assert 0 < figures["precision"] <= 1
    json.dumps(figures)  # what --json writes


def test_any_folder_name_gets_a_unique_label_key():
    names = ["Red car", "red-car", "café", "!!!", "?", "x" * 200, "x" * 200 + "y"]
    keys = loop.label_keys(names)
    assert list(keys) == names
    assert len(set(keys.values())) == len(names)
    assert keys["Red car"] == "red_car" and keys["red-car"] == "red_car_2"
    assert keys["café"] == "café" and keys["!!!"] == "class_4"
    assert all(0 < len(key) <= 80 for key in keys.values())


def test_deselected_tiles_that_share_a_next_guess_get_a_second_look():
    reviewer = loop.Reviewer()
    # A page of class 3: two right, three deselected. Two of those have 1 as the model's
    # next guess and come back as a page of 1, looked at again (one of them is 1, the other
    # is deselected again and fixed with 3 and 1 offered last: its next guess, 2, first).
    # The third, alone with its next guess, is fixed in single mode at once.
    tiles = [([3, 1, 2], 3), ([3, 1, 2], 3), ([3, 1, 2], 1), ([3, 1, 2], 2), ([3, 2, 1], 1)]
    seconds = reviewer.grid_page_cost(tiles, page_label=3)
    looks = 5 * 0.4 + 2 * 0.4
    fixes = 1.5 + 2.5  # [2, 3, 1] → 2 is offered first; [2, 1, 3] → 1 is the second key
    assert seconds == pytest.approx(looks + fixes)
    assert reviewer.actions["grid"] == 7 and reviewer.actions["deselect"] == 4
    # With a second look only for groups of six or more, all three are fixed one by one:
    # [1, 2, 3] for a 1 (the first offered), and for a 2; [2, 1, 3] for a 1.
    alone = loop.Reviewer().grid_page_cost(tiles, page_label=3, second_look_min=6)
    assert alone == pytest.approx(5 * 0.4 + 1.5 + 2.5 + 2.5)
    # Nothing ranked but the page's own label: no guess to look again with.
    lone = loop.Reviewer().grid_page_cost([([3], 1), ([3], 1)], page_label=3)
    assert lone == pytest.approx(2 * 0.4 + 2 * 6.0)
