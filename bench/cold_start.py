"""Cold start at scale: what a reviewer's calls cost when thousands of images wait and no
model exists yet.

    python -m bench.cold_start [--images 5000] [--repeats 5] [--json OUT]

A fresh site (SQLite, a throwaway data dir) gets the demo client and ``--images`` waiting
images with stored embeddings of the default backbone's kind (random vectors around a few
dozen centres, the length the real ones have; no pixels are needed for these calls). It
times, through the product's own review services, medians of ``--repeats``:

- ``groups``: forming the cold-start groups (``cold_start_groups``);
- ``group first``: a reviewer's first ``review_group_next`` (forms the groups, holds one);
- ``group heartbeat``: the same reviewer asking again, as the review page does every few
  seconds to keep its holds;
- ``group after label``: the next group once the held one is labelled;
- ``group after arrivals``: the same reviewer asking again after a page of new images has
  come to wait (they are placed among the kept plan's looks), and the same with the plan
  formed anew over everything waiting, as each arrival cost before (the baseline);
- ``single next``: single mode's ``review_next`` for one image with nothing cached in the
  process (the queue head read afresh, in the cold-start order formed anew): the worst case,
  paid once per process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", default=None, metavar="OUT")
    args = parser.parse_args(argv)
    if args.images < 48 or args.repeats < 1:
        parser.error("--images must be at least 48 and --repeats at least 1")
    return args


class _Arrivals:
    """Waiting images with stored embeddings of the default backbone's kind: random vectors
    around a few dozen centres, the length the real ones have (no pixels are needed)."""

    def __init__(self, client):
        import numpy as np
        from django.conf import settings

        from training.backbones import embedding_key, get_spec

        self.client = client
        backbone = settings.DEFAULT_BACKBONE
        spec = get_spec(backbone)
        kind = spec.default_embedding
        self.key, self.dim = embedding_key(backbone, kind), spec.embedding_dims[kind]
        self.rng = np.random.default_rng(0)
        self.centres = self.rng.normal(size=(40, self.dim)).astype(np.float32) * 3
        self.made = 0

    def add(self, n: int) -> None:
        from labelling.models import Image, ImageStatus
        from training.embedding_store import to_bytes
        from training.models import ImageEmbedding

        numbers = range(self.made, self.made + n)
        self.made += n
        images = Image.objects.bulk_create(
            [
                Image(
                    client=self.client,
                    file=f"bench/{i}.jpg",
                    original_name=f"{i}.jpg",
                    sha256=f"{i:064x}",
                    status=ImageStatus.NEEDS_REVIEW,
                )
                for i in numbers
            ],
            batch_size=500,
        )
        picked = self.centres[self.rng.integers(0, len(self.centres), n)]
        vectors = picked + self.rng.normal(size=(n, self.dim))
        ImageEmbedding.objects.bulk_create(
            [
                ImageEmbedding(image=image, key=self.key, dim=self.dim, vector=to_bytes(vector))
                for image, vector in zip(images, vectors, strict=True)
            ],
            batch_size=500,
        )


def _world(n: int):
    from django.contrib.auth import get_user_model

    from labelling.services.demo import demo_seed

    seed = demo_seed()
    client = seed.client
    reviewer = get_user_model().objects.get(username="reviewer")
    arrivals = _Arrivals(client)
    arrivals.add(n)
    label = seed.taxonomy.labels.filter(is_active=True).first()
    return client, reviewer, label, arrivals


def _median_ms(call, repeats: int, *, before=None) -> float:
    times = []
    for _ in range(repeats):
        if before is not None:
            before()
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from bench.django_setup import setup_django

    data_dir = tempfile.mkdtemp(prefix="bench-cold-start-")
    setup_django(data_dir, embedded=True)

    from labelling.models import ReviewLease
    from labelling.selectors.queue import QueueFilters
    from labelling.services import review as rs
    from labelling.services.review.cache import review_windows_clear
    from training.services.cold_start import cold_start_groups, cold_start_plans_clear

    client, reviewer, label, arrivals = _world(args.images)
    size = 24
    figures = {"images": args.images, "repeats": args.repeats}

    def release():
        ReviewLease.objects.filter(reviewer=reviewer).delete()

    figures["groups_ms"] = _median_ms(
        lambda: cold_start_groups(client=client, size=size), args.repeats
    )
    figures["group_first_ms"] = _median_ms(
        lambda: rs.review_group_next(client=client, reviewer=reviewer, size=size),
        args.repeats,
        before=release,
    )
    held = rs.review_group_next(client=client, reviewer=reviewer, size=size)
    figures["group_heartbeat_ms"] = _median_ms(
        lambda: rs.review_group_next(client=client, reviewer=reviewer, size=size), args.repeats
    )
    labelled = []

    def label_held():
        items = rs.review_group_next(client=client, reviewer=reviewer, size=size)
        ids = [item.image.pk for item in items]
        rs.review_group_label(client=client, reviewer=reviewer, image_ids=ids, label=label.pk)
        labelled.extend(ids)

    figures["group_after_label_ms"] = _median_ms(
        lambda: rs.review_group_next(client=client, reviewer=reviewer, size=size),
        args.repeats,
        before=label_held,
    )
    # A page of new images arrives while the reviewer works: they are placed among the kept
    # plan's centres instead of the plan being formed again over everything waiting.
    figures["group_after_arrivals_ms"] = _median_ms(
        lambda: rs.review_group_next(client=client, reviewer=reviewer, size=size),
        args.repeats,
        before=lambda: arrivals.add(size),
    )
    # The baseline in the same run: the plan formed anew over everything waiting, as every
    # arrival did before newcomers were placed.
    figures["group_after_arrivals_formed_anew_ms"] = _median_ms(
        lambda: rs.review_group_next(client=client, reviewer=reviewer, size=size),
        args.repeats,
        before=lambda: (arrivals.add(size), cold_start_plans_clear()),
    )
    release()
    figures["single_next_ms"] = _median_ms(
        lambda: rs.review_next(client=client, reviewer=reviewer, filters=QueueFilters(), count=1),
        args.repeats,
        before=lambda: (release(), review_windows_clear()),
    )
    figures["held_group"] = len(held)
    print(f"cold start with {args.images} waiting images, medians of {args.repeats}:")
    for name in (
        "groups",
        "group_first",
        "group_heartbeat",
        "group_after_label",
        "group_after_arrivals",
        "group_after_arrivals_formed_anew",
        "single_next",
    ):
        print(f"  {name.replace('_', ' '):<34} {figures[name + '_ms']:9.1f} ms")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=2)
    return figures


if __name__ == "__main__":
    main()
