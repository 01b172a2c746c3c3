"""The loop benchmark: the reviewer seconds the product saves against labelling by hand.

    python -m bench.loop --pool DIR [--merge NEW=a,b ...] [--classes a,b,...] [--size 2000]
                         [--seed 0] [--target-precision 0.98] [--json OUT]

``DIR`` holds one folder per class (as for ``bench.protocol``). A fresh client (a
throwaway SQLite database and media folder under a temporary directory) gets a taxonomy of
the folder names, and ``--size`` images drawn from the pool arrive in batches of 200 in
random order. Everything runs in this process through the product's own services: upload,
ingestion, prediction and auto-accept, the review services, the retraining policy (which
trains, promotes and so re-predicts what waits). Tasks run eagerly instead of through a
broker. After each batch a simulated reviewer, always right, works the review queue in the
product's order until it is empty: grid mode, a page of one class at a time (the class with
the most waiting), while the model has put images in a class; single mode for the images it
has not seen. Grid mode is the cheaper way whenever the model is right on more than about a
quarter of a page (0.4 s a tile against 1.5 s an accept; a wrong tile costs 0.4 s on top of
its single-mode fix). As on the review page, the deselected tiles that the model's next guess
puts together (two or more) come back as a page of that label, a second look (each tile
looked at again, 0.4 s), and only the rest are fixed in single mode.

Fixed cost model: accepting the shown top suggestion 1.5 s; picking suggestion 2-9 by key
2.5 s (and any label by key where nothing is suggested and the taxonomy has at most ten, as
the review page offers them, keys 1-9 and 0); searching the taxonomy 6 s; grid mode 0.4 s
per image looked at, plus the single-mode cost of fixing each one the reviewer deselects.
Baseline: every image by hand with one key, 2.5 s each with up to 10 labels, 6 s beyond.
Printed and written (``--json``): reviewer seconds of the loop and of the baseline, their
ratio, the final precision of the whole library (machine and human tags against the folder
labels), the share auto-tagged, and the curve of seconds against images settled.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.folders import ProtocolError, apply_merges, parse_merges, scan_roots, select_classes

BATCH = 200
ACCEPT_TOP, PICK_BY_KEY, SEARCH, GRID_LOOK = 1.5, 2.5, 6.0, 0.4
KEYED_SUGGESTIONS = 9  # the cost model prices suggestions 2-9 by key, a tenth as a search
HAND_KEYS = 10  # up to this many labels, the baseline labels with one key


def label_keys(names: list[str]) -> dict[str, str]:
    """A label key for each class folder's name: a slug of at most 80 characters, unique in
    the taxonomy. A folder may be called anything a file system allows ("Red car", "café",
    two names alike in their first characters), a key may not."""
    from django.utils.text import slugify

    keys: dict[str, str] = {}
    for number, name in enumerate(names, start=1):
        base = slugify(name, allow_unicode=True).replace("-", "_").strip("_")[:72]
        key, n = base or f"class_{number}", 1
        while key in keys.values():
            n += 1
            key = f"{base or 'class'}_{n}"
        keys[name] = key
    return keys


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loop", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--pool", required=True, help="a folder with one sub-folder per class")
    parser.add_argument("--merge", action="append", default=[], metavar="NEW=a,b")
    parser.add_argument("--classes", default=None, help="comma-separated classes to keep")
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-precision", type=float, default=None)
    parser.add_argument("--json", default=None, metavar="OUT")
    args = parser.parse_args(argv)
    if args.size < 1:
        parser.error("--size must be at least 1")
    if args.target_precision is not None and not 0.5 <= args.target_precision <= 1.0:
        parser.error("--target-precision must be between 0.5 and 1.0")
    return args


@dataclass
class Pool:
    classes: list[str]
    paths: list[Path]
    truth: list[str]


def draw_pool(args) -> Pool:
    tree = scan_roots([args.pool])
    tree = apply_merges(tree, parse_merges(args.merge))
    tree = select_classes(tree, args.classes.split(",") if args.classes else None)
    if len(tree.classes) < 2:
        raise ProtocolError(f"{args.pool}: at least two class folders are needed")
    every = [(path, name) for name in tree.classes for path in tree.files[name]]
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(every))[: args.size]
    return Pool(
        classes=tree.classes,
        paths=[every[i][0] for i in order],
        truth=[every[i][1] for i in order],
    )


@dataclass
class Reviewer:
    """Always right; pays the fixed cost of the action that gets the right label."""

    seconds: float = 0.0
    actions: dict = field(
        default_factory=lambda: {"accept": 0, "pick": 0, "search": 0, "grid": 0, "deselect": 0}
    )
    # Where the seconds go: by action (a deselected tile's fix counted under its own action)
    # and by phase (before the first model, and after).
    seconds_by_action: dict = field(default_factory=dict)
    seconds_by_phase: dict = field(default_factory=dict)
    images_by_phase: dict = field(default_factory=dict)
    phase: str = "cold start"
    # The seconds second looks saved: each grid page priced again on the same tiles with
    # every deselected one fixed one by one, the same run's own baseline for them.
    second_look_savings: float = 0.0
    # Whether the page offers every label by key when there is no suggestion.
    keyed_taxonomy: bool = False

    def _pay(self, action: str, seconds: float) -> float:
        self.actions[action] += 1
        self.seconds_by_action[action] = self.seconds_by_action.get(action, 0.0) + seconds
        self.seconds_by_phase[self.phase] = self.seconds_by_phase.get(self.phase, 0.0) + seconds
        return seconds

    def looked_at(self, images: int = 1) -> None:
        self.images_by_phase[self.phase] = self.images_by_phase.get(self.phase, 0) + images

    def choose_label(self) -> float:
        """A label chosen with nothing suggested: by key from a small taxonomy, else by search."""
        if self.keyed_taxonomy:
            return self._pay("pick", PICK_BY_KEY)
        return self._pay("search", SEARCH)

    def cost(self, ranked_labels: list[int], truth: int) -> float:
        if not ranked_labels:
            return self.choose_label()
        if ranked_labels[:1] == [truth]:
            return self._pay("accept", ACCEPT_TOP)
        if truth in ranked_labels[1:KEYED_SUGGESTIONS]:
            return self._pay("pick", PICK_BY_KEY)
        return self._pay("search", SEARCH)

    def cluster_cost(self, truths: list[int], label: int) -> float:
        """A page of similar images no model has seen, given one label: the label is
        chosen once, each tile looked at, and each deselected one labelled on its own."""
        self.looked_at(len(truths))
        seconds = self.choose_label()
        for truth in truths:
            seconds += self._pay("grid", GRID_LOOK)
            if truth != label:
                self.actions["deselect"] += 1
                seconds += self.choose_label()
        return seconds

    def grid_cost(self, ranked_labels: list[int], truth: int, page_label: int) -> float:
        """One tile alone on a page of one class (see grid_page_cost)."""
        return self.grid_page_cost([(ranked_labels, truth)], page_label)

    def grid_page_cost(
        self, tiles: list[tuple[list[int], int]], page_label: int, second_look_min: int = 2
    ) -> float:
        """A page of one class, as the review page runs it: every tile looked at, the wrong
        ones deselected. Those the model's next guess puts together (at least
        ``second_look_min``) come back as a page of that label, looked at again; the rest,
        and what a second look deselects, are fixed in single mode, where each label ruled
        out is offered last, so the model's next guess comes first. ``tiles``: each image's
        ranked labels and its true label."""
        seconds = 0.0
        wrong = []
        for ranked, truth in tiles:
            seconds += self._pay("grid", GRID_LOOK)
            if truth != page_label:
                self.actions["deselect"] += 1
                wrong.append((_demoted(ranked, page_label), truth))
        by_guess: dict[int | None, list] = {}
        for ranked, truth in wrong:
            # A next guess that is the page's label is none: nothing else was ranked.
            guess = ranked[0] if ranked and ranked[0] != page_label else None
            by_guess.setdefault(guess, []).append((ranked, truth))
        to_fix = []
        for guess, group in by_guess.items():
            if guess is None or len(group) < second_look_min:
                to_fix += group
                continue
            for ranked, truth in group:
                seconds += self._pay("grid", GRID_LOOK)
                if truth != guess:
                    self.actions["deselect"] += 1
                    to_fix.append((_demoted(ranked, guess), truth))
        for ranked, truth in to_fix:
            seconds += self.cost(ranked, truth)
        return seconds


def _demoted(ranked: list[int], ruled_out: int) -> list[int]:
    """The ranked labels with one the reviewer has ruled out moved to the end."""
    return [lb for lb in ranked if lb != ruled_out] + [lb for lb in ranked if lb == ruled_out]


def run_loop(pool: Pool, *, target_precision: float | None = None, seed: int = 0) -> dict:
    """Drive the product on ``pool`` (Django set up, empty database); returns the figures."""
    from django.core.files.base import ContentFile

    from labelling.models import (
        Client,
        Image,
        ImageLabel,
        ImageStatus,
        Label,
        Membership,
        Review,
        Role,
        Sector,
        Taxonomy,
    )
    from labelling.selectors.queue import (
        QueueFilters,
        latest_predictions,
        review_queue,
        waiting_per_label,
    )
    from labelling.services import review as rs
    from labelling.services import uploads
    from labelling.views.review import CHOICE_KEYS, GRID_PAGE, SECOND_LOOK_MIN
    from taxonomy_site.celery import app
    from training.models import ModelVersion
    from training.selectors import active_version
    from training.services.cold_start import cold_start_groups

    # Tasks run here, at once, and their errors stop the bench instead of hiding in a result.
    # (The app reads Django's CELERY_* settings, so those are the names to change.)
    eager = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.update(CELERY_TASK_ALWAYS_EAGER=True, CELERY_TASK_EAGER_PROPAGATES=True)
    try:
        from django.contrib.auth import get_user_model

        sector = Sector.objects.create(name="Loop bench", slug="loop-bench")
        taxonomy = Taxonomy.objects.create(sector=sector, name="Pool classes")
        if target_precision is not None:
            taxonomy.auto_accept_target = target_precision
            taxonomy.save(update_fields=["auto_accept_target"])
        labels = {
            name: Label.objects.create(taxonomy=taxonomy, key=key, name=name[:120])
            for name, key in label_keys(pool.classes).items()
        }
        client = Client.objects.create(name="Loop library", slug="loop-library", sector=sector)
        user = get_user_model().objects.create_user(username="reviewer")
        Membership.objects.create(user=user, client=client, role=Role.REVIEWER)

        truth_of: dict[int, int] = {}
        # An image no model has seen: the review page offers a taxonomy of up to ten labels
        # by key, a larger one only through the search.
        reviewer = Reviewer(keyed_taxonomy=len(pool.classes) <= len(CHOICE_KEYS))
        curve: list[tuple[float, int]] = [(0.0, 0)]
        for start in range(0, len(pool.paths), BATCH):
            batch = uploads.batch_create(client=client, user=user, name=f"Arrivals {start}")
            chunk = list(
                zip(
                    pool.paths[start : start + BATCH],
                    pool.truth[start : start + BATCH],
                    strict=False,
                )
            )
            for offset in range(0, len(chunk), uploads.MAX_FILES_PER_REQUEST):
                part = chunk[offset : offset + uploads.MAX_FILES_PER_REQUEST]
                files = [ContentFile(p.read_bytes(), name=p.name) for p, _ in part]
                outcomes = uploads.batch_files_upload(batch=batch, user=user, files=files)
                for outcome, (_, name) in zip(outcomes, part, strict=True):
                    if outcome.image is not None:
                        truth_of[outcome.image.pk] = labels[name].pk

            def decided_again(image_ids) -> bool:
                # A defect: an image a person has decided is offered again. (An image the
                # model auto-tagged while it waited on a page, and that a later version
                # contradicts, does come back, rightly, and is looked at and paid again.)
                return Review.objects.filter(image__in=image_ids, undone_at__isnull=True).exists()

            def settle(image_id: int) -> None:
                # The service refuses an image that moved on meanwhile (a new version's
                # backfill may have auto-tagged it): the reviewer's look is paid all the same.
                if not Image.objects.filter(pk=image_id, status=ImageStatus.NEEDS_REVIEW).exists():
                    return
                truth = truth_of[image_id]
                rs.image_correct(
                    client=client,
                    user=user,
                    decision=rs.Decision(image=image_id, decision="correct", labels=(truth,)),
                )
                settled = Image.objects.filter(
                    client=client, status__in=[ImageStatus.VERIFIED, ImageStatus.AUTO_TAGGED]
                ).count()
                curve.append((round(reviewer.seconds, 1), settled))

            while True:
                reviewer.phase = (
                    "cold start" if active_version(taxonomy) is None else "with a model"
                )
                # Cold start (no model yet): a page of similar images, labelled in grid mode
                # with what most of them are; the deselected ones are then searched one by one.
                groups = cold_start_groups(client=client, size=GRID_PAGE)
                if groups:
                    page = groups[0]
                    if decided_again(page):
                        raise RuntimeError(f"cluster labelling left image(s) of {page} waiting")
                    truths = [truth_of[pk] for pk in page]
                    label = max(set(truths), key=truths.count)
                    reviewer.seconds += reviewer.cluster_cost(truths, label)
                    rs.images_label_group(
                        client=client,
                        user=user,
                        image_ids=[pk for pk in page if truth_of[pk] == label],
                        label=label,
                    )
                    for pk in page:
                        if truth_of[pk] != label:
                            settle(pk)
                    settled = Image.objects.filter(
                        client=client, status__in=[ImageStatus.VERIFIED, ImageStatus.AUTO_TAGGED]
                    ).count()
                    curve.append((round(reviewer.seconds, 1), settled))
                    continue
                # Grid mode while the model has put anything in a class: the class with the
                # most waiting, one page of it, as the review page offers it.
                waiting = waiting_per_label(client, status=ImageStatus.NEEDS_REVIEW)
                waiting.pop(None, None)
                label = max(waiting, key=waiting.get) if waiting else None
                if label is not None:
                    page = list(review_queue(client, QueueFilters(label=label))[:GRID_PAGE])
                    if decided_again([i.pk for i in page]):
                        raise RuntimeError(f"the review service left image(s) of {page} waiting")
                    ranked_of = latest_predictions([i.pk for i in page])
                    tiles = []
                    for image in page:
                        prediction = ranked_of.get(image.pk)
                        ranked = [
                            int(e["label"]) for e in (prediction.ranked if prediction else [])
                        ]
                        tiles.append((ranked, truth_of[image.pk]))
                    reviewer.looked_at(len(page))
                    page_seconds = reviewer.grid_page_cost(
                        tiles, label, second_look_min=SECOND_LOOK_MIN
                    )
                    reviewer.seconds += page_seconds
                    reviewer.second_look_savings += (
                        Reviewer().grid_page_cost(tiles, label, second_look_min=len(tiles) + 1)
                        - page_seconds
                    )
                    for image in page:
                        settle(image.pk)
                    continue
                # Then single mode for what the model has not seen: nothing to suggest.
                image = review_queue(client, QueueFilters()).first()
                if image is None:
                    break
                prediction = latest_predictions([image.pk]).get(image.pk)
                ranked = [int(e["label"]) for e in (prediction.ranked if prediction else [])]
                reviewer.looked_at()
                reviewer.seconds += reviewer.cost(ranked, truth_of[image.pk])
                settle(image.pk)
            settled = Image.objects.filter(
                client=client, status__in=[ImageStatus.VERIFIED, ImageStatus.AUTO_TAGGED]
            ).count()
            curve.append((round(reviewer.seconds, 1), settled))
            # A long run says how far it is (stderr: the report and --json stay as they are).
            print(
                f"batch {start // BATCH + 1}/{-(-len(pool.paths) // BATCH)}: {settled} settled, "
                f"reviewer {reviewer.seconds:.0f} s, "
                f"{ModelVersion.objects.filter(taxonomy=taxonomy).count()} versions",
                file=sys.stderr,
                flush=True,
            )

        tags = ImageLabel.objects.filter(image__client=client)
        correct = sum(1 for i, lb in tags.values_list("image_id", "label_id") if truth_of[i] == lb)
        n_auto = Image.objects.filter(client=client, status=ImageStatus.AUTO_TAGGED).count()
        n = len(truth_of)
        auto_by_version: dict[int, list[int]] = {}
        auto_tags = tags.filter(image__status=ImageStatus.AUTO_TAGGED)
        auto_ids = dict(auto_tags.values_list("image_id", "label_id"))
        for image_id, prediction in latest_predictions(auto_ids).items():
            number = prediction.model_version.number
            hits = auto_by_version.setdefault(number, [0, 0])
            hits[0] += 1
            hits[1] += int(truth_of[image_id] == auto_ids[image_id])
        baseline = n * (PICK_BY_KEY if len(pool.classes) <= HAND_KEYS else SEARCH)
        return {
            "images": n,
            "classes": pool.classes,
            "seed": seed,
            "loop_seconds": round(reviewer.seconds, 1),
            "baseline_seconds": baseline,
            "ratio": round(reviewer.seconds / baseline, 4) if baseline else None,
            "precision": round(correct / tags.count(), 4) if tags.count() else None,
            "auto_tagged_share": round(n_auto / n, 4) if n else 0.0,
            "reviewer_actions": reviewer.actions,
            "model_versions": ModelVersion.objects.filter(taxonomy=taxonomy).count(),
            "breakdown": {
                "seconds_by_action": {
                    k: round(v, 1) for k, v in reviewer.seconds_by_action.items()
                },
                "seconds_by_phase": {k: round(v, 1) for k, v in reviewer.seconds_by_phase.items()},
                "images_by_phase": reviewer.images_by_phase,
                # The same run's loop seconds had no deselected tile had a second look.
                "loop_seconds_without_second_looks": round(
                    reviewer.seconds + reviewer.second_look_savings, 1
                ),
                "auto_accepted_by_version": [
                    {"version": v, "accepted": a, "correct": c}
                    for v, (a, c) in sorted(auto_by_version.items())
                ],
            },
            "curve": _thin(curve),
        }
    finally:
        app.conf.update(CELERY_TASK_ALWAYS_EAGER=eager[0], CELERY_TASK_EAGER_PROPAGATES=eager[1])


def _thin(curve: list[tuple[float, int]], points: int = 21) -> list[dict]:
    """At most ``points`` of the curve, evenly spread over the settled images."""
    if len(curve) <= points:
        kept = curve
    else:
        idx = np.linspace(0, len(curve) - 1, points).round().astype(int)
        kept = [curve[i] for i in dict.fromkeys(idx.tolist())]
    return [{"seconds": s, "settled": n} for s, n in kept]


def report(figures: dict) -> str:
    lines = [
        f"images {figures['images']} · classes {len(figures['classes'])}",
        f"reviewer seconds: loop {figures['loop_seconds']:.0f} · baseline "
        f"{figures['baseline_seconds']:.0f} · ratio {figures['ratio']}",
        f"final library precision {figures['precision']} · auto-tagged "
        f"{figures['auto_tagged_share']:.1%} · versions trained {figures['model_versions']}",
    ]
    breakdown = figures.get("breakdown")
    if breakdown:
        by_action = breakdown["seconds_by_action"]
        lines.append(
            "seconds by action: " + " · ".join(f"{k} {v:.0f}" for k, v in by_action.items())
        )
        lines.append(
            "by phase: "
            + " · ".join(
                f"{k} {v:.0f} s on {breakdown['images_by_phase'].get(k, 0)} images"
                for k, v in breakdown["seconds_by_phase"].items()
            )
        )
        if "loop_seconds_without_second_looks" in breakdown:
            lines.append(
                "without second looks (the same tiles fixed one by one): "
                f"{breakdown['loop_seconds_without_second_looks']:.0f} s"
            )
        by_version = breakdown["auto_accepted_by_version"]
        lines.append(
            "auto-accepted right, by deciding version: "
            + (
                " · ".join(f"v{e['version']} {e['correct']}/{e['accepted']}" for e in by_version)
                or "none"
            )
        )
    lines += [
        "",
        "seconds  settled",
    ]
    lines += [f"{p['seconds']:>7.0f}  {p['settled']:>7d}" for p in figures["curve"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        pool = draw_pool(args)
    except ProtocolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # A file left in the throwaway data dir (an SQLite reader's -shm) must not lose a run's
    # figures at the very end: cleaning up is best effort.
    with tempfile.TemporaryDirectory(prefix="bench-loop-", ignore_cleanup_errors=True) as data_dir:
        os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
        from bench.django_setup import setup_django

        setup_django(data_dir, embedded=True)
        figures = run_loop(pool, target_precision=args.target_precision, seed=args.seed)
    print(report(figures))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
